"""The whole-program analyses, each computed on first use and shared by every check."""

from __future__ import annotations

from functools import cached_property

from conclint.analyses.blocking import BlockingCalls
from conclint.analyses.calls import CallGraph
from conclint.analyses.entry_held import EntryHeld
from conclint.analyses.held import HeldLocks
from conclint.analyses.lockgraph import LockGraph
from conclint.program.index import Program


class Analyses:
    """Lazily built analyses over one ``Program``."""

    def __init__(self, program: Program) -> None:
        self.program = program

    @cached_property
    def calls(self) -> CallGraph:
        return CallGraph(self.program)

    @cached_property
    def held(self) -> HeldLocks:
        return HeldLocks(self.program, self.calls)

    @cached_property
    def lock_graph(self) -> LockGraph:
        return LockGraph(self.program, self.calls, self.held)

    @cached_property
    def blocking(self) -> BlockingCalls:
        return BlockingCalls(self.program, self.calls, self.held)

    @cached_property
    def entry_held(self) -> EntryHeld:
        return EntryHeld(self.program, self.calls, self.held)
