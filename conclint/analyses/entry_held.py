"""Locks surely held whenever a function starts: held at every call site of it.

A helper that is only ever called with ``self._cond`` held may ``notify()`` without a
``with`` of its own. Functions that are also used as values (thread targets, callbacks)
or have no analysed caller start with nothing held. Computed on demand, per function,
walking up the callers; a function met again on the way (recursion) is assumed to hold
everything, which the other callers then narrow (the greatest fixpoint, approximated).
"""

from __future__ import annotations

from conclint.analyses.calls import CallGraph
from conclint.analyses.held import HeldLocks
from conclint.program.index import Program

_MAX_DEPTH = 40


class EntryHeld:
    def __init__(self, program: Program, calls: CallGraph, held: HeldLocks) -> None:
        self._program = program
        self._calls = calls
        self._held = held
        self._memo: dict[str, frozenset[str]] = {}

    def at_entry(self, qualname: str) -> frozenset[str]:
        return self._compute(qualname, set(), 0) or frozenset()

    def _compute(self, qualname: str, visiting: set[str], depth: int) -> frozenset[str] | None:
        """None stands for "everything" (a recursive path that does not constrain)."""
        if qualname in self._memo:
            return self._memo[qualname]
        callers = self._calls.callers(qualname)
        if not callers or qualname in self._calls.referenced or depth > _MAX_DEPTH:
            self._memo[qualname] = frozenset()
            return frozenset()
        if qualname in visiting:
            return None
        visiting.add(qualname)
        meet: frozenset[str] | None = None
        for edge in callers:
            caller = self._program.where(edge.caller)
            here = frozenset(h.lock.name for _, h in self._held.held_at(caller, edge.call.held))
            above = self._compute(edge.caller, visiting, depth + 1)
            if above is None:
                continue
            here |= above
            meet = here if meet is None else meet & here
            if not meet:
                break
        visiting.discard(qualname)
        if meet is not None and not visiting:
            self._memo[qualname] = meet
        return meet
