"""Locks surely held whenever a function starts: held at every call site of it.

A helper that is only ever called with ``self._cond`` held may ``notify()`` without a
``with`` of its own. Functions that are also used as values (thread targets, callbacks)
or have no analysed caller start with nothing held. Greatest fixpoint over the call graph.
"""

from __future__ import annotations

from collections.abc import Callable

from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.held import HeldLocks
from conclint.program.index import Program

_MAX_ROUNDS = 50


class EntryHeld:
    """``skip`` leaves some call sites out of the meet: the race rules ignore calls made
    while the object is still being built (``__init__``), when no other thread can see it."""

    def __init__(
        self, program: Program, calls: CallGraph, held: HeldLocks,
        skip: Callable[[Edge], bool] | None = None,
    ) -> None:
        self._held: dict[str, frozenset[str]] = {}
        candidates = [
            q for q in program.functions
            if calls.callers(q) and q not in calls.referenced
        ]
        everything = frozenset(held.locks) | frozenset(
            h.lock.name for w in program.iter_functions() for a in held.acquired(w) for h in a)
        # per candidate: (caller, locks held at the call site), computed once
        sites: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for q in candidates:
            found = []
            for edge in calls.callers(q):
                if skip is not None and skip(edge):
                    continue
                caller = program.where(edge.caller)
                found.append((edge.caller, frozenset(
                    h.lock.name for _, h in held.held_at(caller, edge.call.held))))
            sites[q] = found
        state = {q: everything if sites[q] else frozenset() for q in candidates}
        for _ in range(_MAX_ROUNDS):
            changed = False
            for q in candidates:
                meet: frozenset[str] | None = None
                for caller, here in sites[q]:
                    here = here | state.get(caller, frozenset())
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
