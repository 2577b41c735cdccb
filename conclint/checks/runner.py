"""Running the rules: one check after another, or the rule families shared among processes.

Every family needs the call graph; past it, the families build their own analyses and do
not depend on one another. So with more than one job, the call graph is built here, then
forked children each run a share of the families on a copy-on-write view of the program
and send back only their findings, while this process runs its own share. The findings are
put back in the order of the checks, so the result is the same as one process's.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

from conclint.analyses.context import Analyses
from conclint.diagnostics import Finding
from conclint.forked import Forked, can_fork
from conclint.timings import Timings

Check = Callable[[Analyses], Iterable[Finding]]
Checks = Sequence[tuple[tuple[str, ...], Check]]  # (the rule codes, the check), in order
Failure = tuple[str, str]  # the codes of a check that raised, and its traceback
Outcome = list[Finding] | Failure

# What each family costs, relative to the others (``--profile`` of a cold run on the standard
# library with its tests): enough to give the processes shares of about the same length.
_FAMILY_COST = {"1": 7, "2": 6, "3": 8, "4": 1, "5": 2}


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
    shares = _shares(selected, checks, processes if can_fork() else 1)
    outcomes: dict[int, Outcome] = {}
    if len(shares) > 1:
        analyses.build_shared()
        children = [Forked(partial(_run_apart, analyses, checks, share)) for share in shares[1:]]
        try:
            outcomes.update(_run_share(analyses, checks, shares[0]))
            with timings.phase("rules: waiting for the other processes"):
                for child, share in zip(children, shares[1:]):
                    outcomes.update(_collect(child, analyses, checks, share))
        finally:
            for child in children:
                child.stop()
    else:
        outcomes.update(_run_share(analyses, checks, selected))
    for index in selected:
        outcome = outcomes[index]
        if isinstance(outcome, list):
            yield from (f for f in outcome if f.code in enabled)
        else:
            yield outcome


def _shares(selected: list[int], checks: Checks,
            processes: int) -> list[list[int]]:
    """The selected checks in at most ``processes`` shares, a family never split (its
    checks share analyses): the costliest family first, each to the lightest share."""
    families: dict[str, list[int]] = {}
    for index in selected:
        families.setdefault(checks[index][0][0][2], []).append(index)
    count = max(1, min(processes, len(families)))
    shares: list[list[int]] = [[] for _ in range(count)]
    load = [0] * count
    for family in sorted(families, key=lambda f: (-_FAMILY_COST.get(f, 1), f)):
        lightest = load.index(min(load))
        shares[lightest].extend(families[family])
        load[lightest] += _FAMILY_COST.get(family, 1)
    return [sorted(share) for share in shares if share]


def _run_share(analyses: Analyses, checks: Checks,
               share: list[int]) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    for index in share:
        codes, check = checks[index]
        try:
            with analyses.timings.phase(f"check {'/'.join(codes)}"):
                outcomes[index] = list(check(analyses))
        except Exception:  # noqa: BLE001 - one broken rule must not sink the run
            outcomes[index] = (", ".join(codes), traceback.format_exc())
    return outcomes


def _run_apart(analyses: Analyses, checks: Checks,
               share: list[int]) -> tuple[dict[int, Outcome], list[tuple[str, float]]]:
    """In a forked child: the outcomes of ``share``, and the child's phases."""
    analyses.timings = Timings()
    return _run_share(analyses, checks, share), analyses.timings.phases


def _collect(child: Forked[tuple[dict[int, Outcome], list[tuple[str, float]]]],
             analyses: Analyses, checks: Checks,
             share: list[int]) -> dict[int, Outcome]:
    """The outcomes of a child's share; if the child died or failed, computed here."""
    message = child.result()
    if message is None:
        analyses.timings.notes["rules"] = "a rule process failed: its rules ran in this one"
        return _run_share(analyses, checks, share)
    outcomes, phases = message
    analyses.timings.elsewhere.extend(phases)
    return outcomes
