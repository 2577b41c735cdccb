"""Locks surely held whenever a function starts: held at every call site of it.

A helper that is only ever called with ``self._cond`` held may ``notify()`` without a
``with`` of its own. Functions that are also used as values (thread targets, callbacks)
or have no analysed caller start with nothing held. Greatest fixpoint over the call graph.
"""

from __future__ import annotations

from conclint.analyses.calls import CallGraph
from conclint.analyses.held import HeldLocks
from conclint.program.index import Program

_MAX_ROUNDS = 50


class EntryHeld:
    def __init__(self, program: Program, calls: CallGraph, held: HeldLocks) -> None:
        self._held: dict[str, frozenset[str]] = {}
        candidates = [
            q for q in program.functions
            if calls.callers(q) and q not in calls.referenced
        ]
        everything = frozenset(held.locks) | frozenset(
            h.lock.name for w in program.iter_functions() for a in held.acquired(w) for h in a)
        state = {q: everything for q in candidates}
        for _ in range(_MAX_ROUNDS):
            changed = False
            for q in candidates:
                meet: frozenset[str] | None = None
                for edge in calls.callers(q):
                    caller = program.where(edge.caller)
                    here = frozenset(h.lock.name for _, h in held.held_at(caller, edge.call.held))
                    here |= state.get(edge.caller, frozenset())
                    meet = here if meet is None else meet & here
                new = meet or frozenset()
                if new != state[q]:
                    state[q] = new
                    changed = True
            if not changed:
                break
        self._held = state

    def at_entry(self, qualname: str) -> frozenset[str]:
        return self._held.get(qualname, frozenset())
