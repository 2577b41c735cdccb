"""CL1xx: deadlocks and lock misuse, as queries over the lock graph and held locks."""

from __future__ import annotations

from collections.abc import Iterator

from conclint.analyses.context import Analyses
from conclint.analyses.lockgraph import Evidence
from conclint.checks.base import finding, short
from conclint.diagnostics import Finding, Step
from conclint.program.values import BoundLock, LockId, NewLock

_LOCKISH = ("lock", "mutex", "sem", "cond", "cv")
_CONDITION_METHODS = frozenset({"wait", "wait_for", "notify", "notify_all"})


def _explain(evidence: Evidence) -> list[Step]:
    return [evidence.outer, *evidence.chain]


def lock_order_inversion(analyses: Analyses) -> Iterator[Finding]:
    graph = analyses.lock_graph
    for cycle in graph.cycles():
        pairs = list(zip(cycle, cycle[1:] + cycle[:1]))
        firsts = [(graph.evidence(a, b)[0], a, b) for a, b in pairs]
        start = min(range(len(firsts)), key=lambda i: firsts[i][0].sort_key())
        ordered = firsts[start:] + firsts[:start]
        evidence, a, b = ordered[0]
        order = " -> ".join(short(name) for _, name, _ in ordered) + f" -> {short(ordered[0][1])}"
        related: list[Step] = []
        for ev, _, _ in ordered:
            related.extend(_explain(ev))
        yield finding(
            "CL101", evidence.site.path, evidence.site.loc,
            f"lock-order inversion: `{short(b)}` is acquired while holding `{short(a)}` here, "
            f"and elsewhere the opposite order is taken ({order}); threads running both paths "
            "can deadlock",
            related,
        )


def self_deadlock(analyses: Analyses) -> Iterator[Finding]:
    graph = analyses.lock_graph
    for name in graph.self_loops():
        lock = analyses.held.locks[name]
        if lock.kind.reentrant or (lock.kind.counting and lock.count != 1):
            continue
        reported: set[tuple[str, int]] = set()
        for evidence in graph.evidence(name, name):
            if not evidence.same_object:
                continue
            site = evidence.site
            if (site.path, site.loc) in reported:
                continue
            reported.add((site.path, site.loc))
            how = "directly" if len(evidence.chain) == 1 else "through a call chain"
            yield finding(
                "CL102", site.path, site.loc,
                f"self-deadlock: `{short(name)}` ({_kind(lock)}, not reentrant) is acquired "
                f"again {how} while already held; the thread blocks on itself forever",
                _explain(evidence),
            )


def _kind(lock: LockId) -> str:
    return lock.kind.factory + ("()" if lock.count is None else f"({lock.count})")


def acquire_without_release(analyses: Analyses) -> Iterator[Finding]:
    program = analyses.program
    for where in program.iter_functions():
        for issue in where.function.release_issues:
            value = program.resolve(where, issue.lock)
            if not isinstance(value, BoundLock) and not (
                value is None and any(w in issue.lock.rpartition(".")[2].lower() for w in _LOCKISH)
            ):
                continue
            related = []
            if issue.related is not None:
                related.append(Step(where.module.path, issue.related, "the release at issue"))
            yield finding(
                "CL103", where.module.path, issue.loc,
                f"`{issue.lock}.acquire()` without a guaranteed release: {issue.reason}",
                related,
            )


def blocking_call_under_lock(analyses: Analyses) -> Iterator[Finding]:
    program, held, blocking = analyses.program, analyses.held, analyses.blocking
    for where in program.iter_functions():
        if not where.function.acquires:
            continue  # no call here is made while holding anything
        seen: set[int] = set()
        direct = {id(call): key for call, key in blocking.sites.get(where.qualname, [])}
        callees: dict[int, list[str]] = {}
        for edge in analyses.calls.out_edges.get(where.qualname, []):
            callees.setdefault(id(edge.call), []).append(edge.callee)
        for edge_call, _ in analyses.calls.resolved(where.qualname):
            if not edge_call.held:
                continue
            holding = [
                (i, h) for i, h in held.held_at(where, edge_call.held)
                if h.lock.kind.family == "thread"
            ]
            if not holding:
                continue
            candidates: list[tuple[object, list[Step]]] = []
            key = direct.get(id(edge_call))
            if key is not None:
                candidates.append((key, []))
            for callee in callees.get(id(edge_call), []):
                for reached in blocking.reach.reached(callee):
                    candidates.append((reached, blocking.reach.witness(callee, reached)))
            for key, chain in candidates:
                locks = [h for _, h in holding if h.lock.name != key.releases]
                if not locks or edge_call.loc in seen:
                    continue
                seen.add(edge_call.loc)
                index = next(i for i, h in holding if h is locks[0])
                outer = Step(where.module.path, where.function.acquires[index].loc,
                             f"`{short(locks[0].lock.name)}` acquired here")
                via = "" if not chain else f" (reached through `{edge_call.callee}()`)"
                steps = [outer]
                if chain:
                    steps.append(Step(where.module.path, edge_call.loc,
                                      f"calls `{edge_call.callee}()`"))
                    steps.extend(chain)
                names = ", ".join(dict.fromkeys(f"`{short(h.lock.name)}`" for h in locks))
                yield finding(
                    "CL104", where.module.path, edge_call.loc,
                    f"{key.what} can block indefinitely while holding {names}{via}; "
                    "every thread that needs the lock waits too",
                    steps,
                )
                break


def condition_misuse(analyses: Analyses) -> Iterator[Finding]:
    program, held, calls = analyses.program, analyses.held, analyses.calls
    apis = [name for name in calls.index.apis() if _condition_method(name)]
    for where in calls.functions_calling(apis):
        entry = analyses.entry_held.at_entry(where.qualname)
        for call, target in calls.resolved(where.qualname):
            name = target.external or ""
            method = name.rpartition(".")[2]
            if not _condition_method(name):
                continue
            value = program.resolve(where, target.receiver)
            if not isinstance(value, BoundLock) or value.lock.kind.family != "thread":
                continue
            cond = value.lock.name
            holding = {h.lock.name for _, h in held.held_at(where, call.held)} | entry
            if cond not in holding:
                yield finding(
                    "CL105", where.module.path, call.loc,
                    f"`{target.receiver}.{method}()` is called without holding "
                    f"`{target.receiver}`; it raises RuntimeError (take it with "
                    f"`with {target.receiver}:` first)",
                )
            elif method == "wait" and call.loop != "while":
                yield finding(
                    "CL105", where.module.path, call.loc,
                    f"`{target.receiver}.wait()` is not inside a `while` loop that re-checks "
                    "its predicate; a spurious or stolen wake-up proceeds with the condition "
                    f"false (use `{target.receiver}.wait_for(predicate)`)",
                )


def _condition_method(name: str) -> bool:
    """``threading.Condition.wait`` and the other methods that need the condition held."""
    return ".Condition." in name and name.rpartition(".")[2] in _CONDITION_METHODS


def useless_lock(analyses: Analyses) -> Iterator[Finding]:
    program = analyses.program
    for where in program.iter_functions():
        fn = where.function
        for acquire in fn.acquires:
            if acquire.kind in ("with", "async-with") and acquire.lock.endswith("()"):
                if isinstance(program.resolve(where, acquire.lock), NewLock):
                    yield finding(
                        "CL106", where.module.path, acquire.loc,
                        f"`{acquire.lock}` creates a new lock on every execution of this "
                        "`with`; no other thread can ever hold it, so it protects nothing",
                    )
        if fn.qualname == "<module>":
            continue
        used_as_lock = {a.lock for a in fn.acquires}
        for name in sorted((used_as_lock & set(fn.locals)).difference(fn.escaping)):
            value = program.resolve(where, name)
            if isinstance(value, BoundLock) and value.lock.name == f"{where.qualname}.{name}":
                yield finding(
                    "CL106", where.module.path, fn.local_locs[name],
                    f"local lock `{name}` is created on every call of `{fn.name}()` and never "
                    "shared with another thread; it protects nothing",
                )


CHECKS = (
    (("CL101",), lock_order_inversion),
    (("CL102",), self_deadlock),
    (("CL103",), acquire_without_release),
    (("CL104",), blocking_call_under_lock),
    (("CL105",), condition_misuse),
    (("CL106",), useless_lock),
)
