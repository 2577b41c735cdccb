"""The whole-program analyses, each computed on first use and shared by every check."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from conclint.analyses.blocking import BlockingCalls
from conclint.analyses.calls import CallGraph
from conclint.analyses.entry_held import EntryHeld
from conclint.analyses.handles import Handles
from conclint.analyses.lifecycle import Lifecycle
from conclint.analyses.held import HeldLocks
from conclint.analyses.lockgraph import LockGraph
from conclint.program.index import Program
from conclint.timings import Timings

T = TypeVar("T")


class Analyses:
    """Lazily built analyses over one ``Program``; each build is timed for ``--profile``."""

    def __init__(self, program: Program, timings: Timings | None = None) -> None:
        self.program = program
        self.timings = timings or Timings()

    def _timed(self, name: str, build: Callable[[], T]) -> T:
        with self.timings.phase(f"analysis: {name}"):
            return build()

    @cached_property
    def calls(self) -> CallGraph:
        return self._timed("call graph", lambda: CallGraph(self.program))

    @cached_property
    def held(self) -> HeldLocks:
        calls = self.calls
        return self._timed("held locks", lambda: HeldLocks(self.program, calls))

    @cached_property
    def lock_graph(self) -> LockGraph:
        calls, held = self.calls, self.held
        return self._timed("lock graph", lambda: LockGraph(self.program, calls, held))

    @cached_property
    def blocking(self) -> BlockingCalls:
        calls, held = self.calls, self.held
        return self._timed("blocking calls", lambda: BlockingCalls(self.program, calls, held))

    @cached_property
    def entry_held(self) -> EntryHeld:
        calls, held = self.calls, self.held
        return self._timed("entry-held locks", lambda: EntryHeld(self.program, calls, held))

    # --- lifecycle (CL2xx) ------------------------------------------------------------
    @cached_property
    def handles(self) -> Handles:
        calls = self.calls
        return self._timed("handles", lambda: Handles(self.program, calls))

    @cached_property
    def lifecycle(self) -> Lifecycle:
        calls, handles = self.calls, self.handles
        return self._timed("lifecycle events", lambda: Lifecycle(self.program, calls, handles))
