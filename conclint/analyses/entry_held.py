"""Locks surely held whenever a function starts: held at every call site of it.

A helper that is only ever called with ``self._cond`` held may ``notify()`` without a
``with`` of its own. Functions that are also used as values (thread targets, callbacks)
or have no analysed caller start with nothing held. Computed once for every function as
the greatest fixpoint of "held at the call, or at the caller's entry, for every caller":
recursion does not constrain (a function's own recursive calls assume everything is held),
the other callers narrow it. A worklist over the call graph: the sets only shrink, so it
ends in time linear in the edges times the locks, whatever the shape of the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.held import HeldLocks
from conclint.program.index import Program


class EntryHeld:
    def __init__(
        self, program: Program, calls: CallGraph, held: HeldLocks,
        skip: Callable[[Edge], bool] | None = None,
    ) -> None:
        """``skip`` leaves call sites out of the meet: the race rules ignore calls made while
        the object is still being built (``__init__``), when no other thread can see it."""
        self._program = program
        self._calls = calls
        self._held = held
        self._skip = skip
        self._entry: dict[str, frozenset[str] | None] | None = None

    def at_entry(self, qualname: str) -> frozenset[str]:
        if self._entry is None:
            self._entry = self._solve()
        return self._entry.get(qualname) or frozenset()

    def _solve(self) -> dict[str, frozenset[str] | None]:
        """None stands for "everything" (reached only through calls not yet seen)."""
        calls = self._calls
        entry: dict[str, frozenset[str] | None] = {}
        for qualname in self._program.functions:
            root = not calls.callers(qualname) or qualname in calls.referenced
            entry[qualname] = frozenset() if root else None
        pending = deque(q for q, value in entry.items() if value is None)
        queued = set(pending)
        while pending:
            qualname = pending.popleft()
            queued.discard(qualname)
            meet: frozenset[str] | None = None
            for edge in calls.callers(qualname):
                if self._skip is not None and self._skip(edge):
                    continue
                above = entry.get(edge.caller, frozenset())
                if above is None:
                    continue
                caller = self._program.where(edge.caller)
                here = above.union(
                    h.lock.name for _, h in self._held.held_at(caller, edge.call.held))
                meet = here if meet is None else meet & here
                if not meet:
                    break
            if meet is None or meet == entry[qualname]:
                continue
            entry[qualname] = meet
            for edge in calls.out_edges.get(qualname, []):
                if entry.get(edge.callee, frozenset()) != frozenset() and \
                        edge.callee not in queued:
                    pending.append(edge.callee)
                    queued.add(edge.callee)
        return entry
