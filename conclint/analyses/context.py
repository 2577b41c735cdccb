"""The whole-program analyses, each computed on first use and shared by every check."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from conclint.analyses.blocking import BlockingCalls
from conclint.analyses.call_memory import CallMemory
from conclint.analyses.calls import CallGraph
from conclint.analyses.entry_held import EntryHeld
from conclint.analyses.handles import Handles
from conclint.analyses.lifecycle import Lifecycle
from conclint.analyses.held import HeldLocks
from conclint.analyses.lockgraph import LockGraph
from conclint.analyses.shared_state import SharedState
from conclint.analyses.threads import ThreadContexts
from conclint.analyses.ml_calls import MLCalls
from conclint.analyses.process_groups import ProcessGroups
from conclint.analyses.rank_flow import RankFlow
from conclint.analyses.worker_rngs import WorkerRngs
from conclint.analyses.workers import Workers
from conclint.knowledge import canonical
from conclint.program.index import Program
from conclint.timings import Timings

if TYPE_CHECKING:
    from conclint.analyses.loop_blocking import LoopBlocking
    from conclint.config import KnowledgeExtensions

T = TypeVar("T")


class Analyses:
    """Lazily built analyses over one ``Program``; each build is timed for ``--profile``."""

    def __init__(self, program: Program, timings: Timings | None = None,
                 extensions: KnowledgeExtensions | None = None,
                 free_threaded: bool = False, memory: CallMemory | None = None,
                 processes: int = 1) -> None:
        """``memory``: an earlier run's call graph to reuse where it still holds;
        ``processes``: how many processes may share the work."""
        self.program = program
        self.memory = memory
        self.processes = processes
        self.timings = timings or Timings()
        # The user's ``[tool.conclint]`` additions to the API knowledge (None: no config).
        self.extensions = extensions
        self.declared_blocking = frozenset(
            canonical(name) for name in (extensions.blocking_calls if extensions else ()))
        self.collectives = extensions.collectives if extensions else ()  # extra collectives
        self.free_threaded = free_threaded  # races are real without the GIL: report as errors

    def _timed(self, name: str, build: Callable[[], T]) -> T:
        with self.timings.phase(f"analysis: {name}"):
            return build()

    def build_shared(self) -> None:
        """Build what every rule family uses, so that processes forked afterwards share it."""
        self.held  # noqa: B018 - built for its side effect (with the call graph it needs)
        self._timed("call index", lambda: self.calls.index)

    @cached_property
    def calls(self) -> CallGraph:
        extra = frozenset(name.rpartition(".")[2] for name in (
            *self.declared_blocking, *self.program.lock_factories))
        graph = self._timed("call graph", lambda: CallGraph(self.program, extra, self.memory,
                                                                  self.processes))
        self.program.forget_call_targets()  # the graph holds them; later lookups are few
        return graph

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
        return self._timed("blocking calls", lambda: BlockingCalls(
            self.program, calls, held, self.declared_blocking))

    @cached_property
    def entry_held(self) -> EntryHeld:
        calls, held = self.calls, self.held
        return self._timed("entry-held locks", lambda: EntryHeld(self.program, calls, held))

    @cached_property
    def loop_blocking(self) -> LoopBlocking:
        from conclint.analyses.loop_blocking import LoopBlocking

        calls = self.calls
        return self._timed("event-loop blocking", lambda: LoopBlocking(
            self.program, calls, self.declared_blocking))

    @cached_property
    def ml_calls(self) -> MLCalls:
        calls = self.calls
        return self._timed("ML call sites", lambda: MLCalls(self.program, calls,
                                                           self.collectives))

    @cached_property
    def rank_flow(self) -> RankFlow:
        return RankFlow(self.ml_calls)

    @cached_property
    def workers(self) -> Workers:
        calls = self.calls
        return self._timed("worker processes", lambda: Workers(self.program, calls))

    @cached_property
    def process_groups(self) -> ProcessGroups:
        calls, ml_calls = self.calls, self.ml_calls
        return self._timed("process groups",
                           lambda: ProcessGroups(self.program, calls, ml_calls))

    @cached_property
    def worker_rngs(self) -> WorkerRngs:
        return WorkerRngs(self.program, self.calls, self.workers)

    # --- lifecycle (CL2xx) ------------------------------------------------------------
    @cached_property
    def handles(self) -> Handles:
        calls = self.calls
        return self._timed("handles", lambda: Handles(self.program, calls))

    @cached_property
    def lifecycle(self) -> Lifecycle:
        calls, handles = self.calls, self.handles
        return self._timed("lifecycle events", lambda: Lifecycle(self.program, calls, handles))

    # --- shared state and races (CL3xx) -----------------------------------------------
    @cached_property
    def threads(self) -> ThreadContexts:
        calls = self.calls
        return self._timed("thread contexts", lambda: ThreadContexts(self.program, calls))

    @cached_property
    def shared_state(self) -> SharedState:
        calls, held, threads = self.calls, self.held, self.threads
        return self._timed("shared state",
                           lambda: SharedState(self.program, calls, held, threads))
