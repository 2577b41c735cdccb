"""Running the rules: one check after another, or the rule families shared among processes.

Every family needs the call graph; past it, the families build their own analyses and do
not depend on one another. So with more than one job, the call graph is built here, then
forked children run families on a copy-on-write view of the program and send back only
their findings, while this process runs families too. Which process runs which family is
decided as they go: each starts with one (the costliest first) and, when done, takes the
next one nobody has taken, so a family that runs long on this code does not leave another
process idle. The findings are put back in the order of the checks, so the result is the
same as one process's.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from conclint.analyses.context import Analyses
from conclint.diagnostics import Finding
from conclint.forked import Forked, can_fork
from conclint.timings import Timings

Check = Callable[[Analyses], Iterable[Finding]]
Checks = Sequence[tuple[tuple[str, ...], Check]]  # (the rule codes, the check), in order
Failure = tuple[str, str]  # the codes of a check that raised, and its traceback
Outcome = list[Finding] | Failure
Family = list[int]  # indices of the checks of one rule family

# What each family costs, relative to the others (``--profile`` of a cold run on the standard
# library with its tests): the families are handed out costliest first, so that the last
# ones to start are short and the processes end close together.
_FAMILY_COST = {"1": 7, "2": 6, "3": 8, "4": 1, "5": 2}
_LOCK_WAIT = 10.0  # seconds; the lock is held for two statements


def run_checks(
    analyses: Analyses,
    enabled: frozenset[str],
    checks: Checks,
    timings: Timings,
    processes: int = 1,
) -> Iterator[Finding | Failure]:
    """Findings of the enabled rules, in the order of ``checks``; a check that raises
    yields (rule codes, traceback) instead and the others still run."""
    selected = [i for i, (codes, _) in enumerate(checks) if enabled.intersection(codes)]
    families = _families(selected, checks)
    processes = min(processes if can_fork() else 1, len(families))
    outcomes: dict[int, Outcome] = {}
    if processes > 1:
        analyses.build_shared()
        # the next family nobody has taken, once each process has run its first one
        taken = _counter(processes)
        children = [Forked(partial(_run_apart, analyses, checks, families, number, taken))
                    for number in range(1, processes)]
        try:
            outcomes.update(_run_taken(analyses, checks, families, 0, taken))
            with timings.phase("rules: waiting for the other processes"):
                for child in children:
                    outcomes.update(_collect(child, analyses))
        finally:
            for child in children:
                child.stop()
        # what a child took but could not finish (it died) is done here
        outcomes.update(_run(analyses, checks,
                                   [i for i in selected if i not in outcomes]))
    else:
        outcomes.update(_run(analyses, checks, selected))
    for index in selected:
        outcome = outcomes[index]
        if isinstance(outcome, list):
            yield from (f for f in outcome if f.code in enabled)
        else:
            yield outcome


def _families(selected: list[int], checks: Checks) -> list[Family]:
    """The selected checks by rule family (never split: its checks share analyses), the
    costliest family first."""
    families: dict[str, Family] = {}
    for index in selected:
        families.setdefault(checks[index][0][0][2], []).append(index)
    order = sorted(families, key=lambda f: (-_FAMILY_COST.get(f, 1), f))
    return [families[family] for family in order]


def _counter(start: int) -> Any:
    """An integer in shared memory, with its lock, seen by the processes forked after."""
    return multiprocessing.get_context("fork").Value("i", start)


def _run_taken(analyses: Analyses, checks: Checks, families: list[Family], first: int,
               taken: Any) -> dict[int, Outcome]:
    """Family ``first``, then the next untaken one until none is left."""
    outcomes: dict[int, Outcome] = {}
    number = first
    lock = taken.get_lock()
    while number < len(families):
        outcomes.update(_run(analyses, checks, families[number]))
        # A process killed while holding the lock never lets go of it: then stop taking
        # (whatever nobody ran is run by the main process at the end).
        if not lock.acquire(timeout=_LOCK_WAIT):
            break
        try:
            number = taken.value
            taken.value += 1
        finally:
            lock.release()
    return outcomes


def _run(analyses: Analyses, checks: Checks, indices: list[int]) -> dict[int, Outcome]:
    """The outcomes of the checks at ``indices``, one after the other in this process."""
    outcomes: dict[int, Outcome] = {}
    for index in indices:
        codes, check = checks[index]
        try:
            with analyses.timings.phase(f"check {'/'.join(codes)}"):
                outcomes[index] = list(check(analyses))
        except Exception:  # noqa: BLE001 - one broken rule must not sink the run
            outcomes[index] = (", ".join(codes), traceback.format_exc())
    return outcomes


def _run_apart(analyses: Analyses, checks: Checks, families: list[Family], first: int,
               taken: Any) -> tuple[dict[int, Outcome], list[tuple[str, float]]]:
    """In a forked child: the outcomes of the families it ran, and the child's phases."""
    analyses.timings = Timings()
    return _run_taken(analyses, checks, families, first, taken), analyses.timings.phases


def _collect(child: Forked[tuple[dict[int, Outcome], list[tuple[str, float]]]],
             analyses: Analyses) -> dict[int, Outcome]:
    """The outcomes a child sends; none if it died or failed (the caller then runs what
    is missing)."""
    message = child.result()
    if message is None:
        analyses.timings.notes["rules"] = "a rule process failed: its rules ran in this one"
        return {}
    outcomes, phases = message
    analyses.timings.elsewhere.extend(phases)
    return outcomes
