"""The rule families shared among processes give what one process gives: the same findings
in the same order, a rule that raises reported the same way, and a rule process that dies
costing only time (its rules run again in the main process)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from conclint.analyses.context import Analyses
from conclint.checks import ALL_CHECKS
from conclint.checks.runner import _families, run_checks
from conclint.diagnostics import Finding
from conclint.discover import discover
from conclint.engine import build_analyses
from conclint.timings import Timings
from tests.helpers import FIXTURES

ALL = frozenset(code for codes, _ in ALL_CHECKS for code in codes)
PARENT = os.getpid()


@pytest.fixture(scope="module")
def fixtures_analyses() -> Iterator[Analyses]:
    analyses, errors, _ = build_analyses(discover([str(FIXTURES)]))
    assert not errors
    yield analyses


def fresh(analyses: Analyses) -> Analyses:
    """The same program with no analysis built yet (each run builds its own)."""
    return Analyses(analyses.program, Timings())


def described(items: list[object]) -> list[tuple[str, str, int, str]]:
    return [(f.code, f.path, f.loc, f.message) if isinstance(f, Finding) else ("fail", *f, 0)
            for f in items]  # type: ignore[misc]


@pytest.mark.parametrize("processes", (2, 3, 9))
def test_any_number_of_processes_finds_the_same_in_the_same_order(
        fixtures_analyses: Analyses, processes: int) -> None:
    one = list(run_checks(fresh(fixtures_analyses), ALL, ALL_CHECKS, Timings(), 1))
    assert len(one) > 60 and all(isinstance(f, Finding) for f in one)
    timings = Timings()
    analyses = fresh(fixtures_analyses)
    analyses.timings = timings
    several = list(run_checks(analyses, ALL, ALL_CHECKS, timings, processes))
    assert described(several) == described(one)
    # the other processes' phases are shown apart, and the wait for them is a phase
    assert any(name.startswith("check CL") for name, _ in timings.elsewhere)
    assert "rules: waiting for the other processes" in dict(timings.phases)


def broken(_: Analyses) -> list[Finding]:
    raise RuntimeError("this rule is broken")


def dies_in_a_child(analyses: Analyses) -> list[Finding]:
    if os.getpid() != PARENT:
        os._exit(3)
    return list(ALL_CHECKS[0][1](analyses))


def test_a_rule_that_raises_in_another_process_is_reported_as_in_one(
        fixtures_analyses: Analyses) -> None:
    checks = (ALL_CHECKS[0], (("CL301",), broken))
    expected = described(list(run_checks(fresh(fixtures_analyses), ALL, checks, Timings(), 1)))
    assert expected[-1][:2] == ("fail", "CL301") and "this rule is broken" in expected[-1][2]
    got = described(list(run_checks(fresh(fixtures_analyses), ALL, checks, Timings(), 2)))
    assert [item[:2] for item in got] == [item[:2] for item in expected]


def test_a_rule_process_that_dies_costs_only_time(fixtures_analyses: Analyses) -> None:
    codes = ALL_CHECKS[0][0]
    checks = ((("CL301",), ALL_CHECKS[-1][1]), (codes, dies_in_a_child))
    expected = described(list(run_checks(fresh(fixtures_analyses), ALL, checks, Timings(), 1)))
    assert any(item[0] == codes[0] for item in expected)
    timings = Timings()
    analyses = fresh(fixtures_analyses)
    analyses.timings = timings
    assert described(list(run_checks(analyses, ALL, checks, timings, 2))) == expected
    assert timings.notes["rules"] == "a rule process failed: its rules ran in this one"


def test_families_are_never_split_and_handed_out_costliest_first() -> None:
    selected = list(range(len(ALL_CHECKS)))
    families = _families(selected, ALL_CHECKS)
    assert sorted(i for family in families for i in family) == selected
    assert [{ALL_CHECKS[i][0][0][2] for i in family} for family in families] == [
        {"3"}, {"1"}, {"2"}, {"5"}, {"4"}]


def slow(analyses: Analyses) -> list[Finding]:
    time.sleep(1.5)
    return []


def test_a_process_done_with_its_family_takes_the_next_one(
        fixtures_analyses: Analyses) -> None:
    # family 3 (handed out first) is slow: while this process runs it, the other one runs
    # family 1 and then takes family 2 as well
    checks = ((("CL101",), ALL_CHECKS[0][1]), (("CL201",), lambda a: []),
              (("CL301",), slow))
    timings = Timings()
    analyses = fresh(fixtures_analyses)
    analyses.timings = timings
    assert described(list(run_checks(analyses, ALL, checks, timings, 2))) == described(
        list(run_checks(fresh(fixtures_analyses), ALL, checks, Timings(), 1)))
    here = {name for name, _ in timings.phases if name.startswith("check")}
    elsewhere = {name for name, _ in timings.elsewhere if name.startswith("check")}
    assert here == {"check CL301"}
    assert elsewhere == {"check CL101", "check CL201"}


class _HeldCounter:
    """A family counter whose lock a dead process left held."""

    def __init__(self, value: int) -> None:
        self.value = value
        self._lock = threading.Lock()
        self._lock.acquire()

    def get_lock(self) -> threading.Lock:
        return self._lock


def test_a_counter_left_locked_costs_only_time(fixtures_analyses: Analyses,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import conclint.checks.runner as runner

    monkeypatch.setattr(runner, "_LOCK_WAIT", 0.05)
    monkeypatch.setattr(runner, "_counter", _HeldCounter)
    one = list(run_checks(fresh(fixtures_analyses), ALL, ALL_CHECKS, Timings(), 1))
    # two processes run their first family each, cannot take more, and this one runs the
    # other three at the end
    assert described(list(run_checks(fresh(fixtures_analyses), ALL, ALL_CHECKS, Timings(),
                                     2))) == described(one)
