"""Events the lifecycle rules ask about, per function and through call chains.

``process_starts``: what starts child processes (a started Process, a process Pool or
executor, a Manager, ``torch.multiprocessing.spawn``, a DataLoader with workers being
iterated, ``set_start_method``) -- for the missing ``__main__`` guard.
``threads_left``: threads (or thread pools) a function starts and leaves running when it
returns -- for fork-with-threads.
``writes`` / ``handshakes``: durable writes (files, checkpoints) and completion signals
(``Event.set``, ``task_done``) -- for daemon threads whose work may be cut short.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from conclint.analyses.calls import CallGraph
from conclint.analyses.flows import RELEASED, api_name, is_name
from conclint.analyses.handles import Handle, Handles
from conclint.analyses.lockgraph import call_step
from conclint.analyses.reach import Reach
from conclint.diagnostics import Step
from conclint.extract.facts import Arg, Call
from conclint.knowledge_lifecycle import (
    DATALOADER_WORKERS, DATALOADERS, DURABLE_WRITES, FED_QUEUES, FORKS, FUTURE_MAKERS,
    GET_CONTEXT, HANDSHAKES, LAZY_MAPS, OPENERS, PARTIALS, PICKLED_CALLABLES, PROCESS_POOLS,
    RELEASES, SET_START_METHOD, SPAWNERS, THREAD_POOLS, TIMER_RELEASES,
)
from conclint.program.index import CallTarget, Program, Where

# Every API a lifecycle rule asks about: calls of these are indexed once, per function.
_APIS = frozenset({
    *DATALOADERS, *DURABLE_WRITES, *FED_QUEUES, *FORKS, *FUTURE_MAKERS, GET_CONTEXT,
    *HANDSHAKES, *LAZY_MAPS, *OPENERS, *PARTIALS, *PICKLED_CALLABLES, *SET_START_METHOD,
    *SPAWNERS,
})
ApiCall = tuple[Call, CallTarget, str]

_ITERATORS = frozenset({"iter", "next", "enumerate", "list", "zip", "tqdm", "tqdm.tqdm",
                        "tqdm.auto.tqdm"})


@dataclass(frozen=True, slots=True)
class Event:
    """Something a function does, where, and how a message names it."""

    loc: int
    what: str


def argument(call: Call, position: int | None, keyword: str) -> Arg | None:
    """The argument passed as ``keyword=`` or at ``position``."""
    for arg in call.args:
        if arg.keyword == keyword:
            return arg
    positional = [a for a in call.args if a.keyword is None]
    if position is not None and len(positional) > position \
            and all(a.kind != "starred" for a in positional[:position + 1]):
        return positional[position]
    return None


def has_workers(call: Call) -> bool:
    """A DataLoader call whose ``num_workers`` is not provably 0."""
    workers = argument(call, *DATALOADER_WORKERS)
    if workers is None:
        return any(a.kind == "starred" for a in call.args)
    return not (workers.kind == "const" and workers.const in (0, None))


def releases_of(handle: Handle, handles: Handles) -> frozenset[str]:
    base = TIMER_RELEASES if handle.api == "threading.Timer" else RELEASES[handle.kind]
    return handles.own_methods(handle, base)


def start_loc(handle: Handle) -> int:
    """Where a thread or process is started: ``t.start()`` after ``t = Thread()`` in the same
    function, else its creation."""
    call = handle.call
    if call.target is not None:
        for other in handle.where.function.calls:
            if other.callee == f"{call.target}.start" and other.loc > call.loc:
                return other.loc
    return call.loc


def writes_mode(call: Call) -> bool:
    """``open(path, "w")`` and other writing modes."""
    mode = argument(call, 1, "mode")
    return mode is not None and isinstance(mode.const, str) and any(c in mode.const
                                                                    for c in "wax+")


class Lifecycle:
    """Per-function events and their ``Reach`` summaries, built on first use."""

    def __init__(self, program: Program, calls: CallGraph, handles: Handles) -> None:
        self.program = program
        self.calls = calls
        self.handles = handles
        self._by_function: dict[str, list[Handle]] = {}
        for handle in handles.handles:
            self._by_function.setdefault(handle.where.qualname, []).append(handle)
        self._api_calls: dict[str, list[ApiCall]] = {}
        for where in calls.functions_calling(_APIS):
            found = [(call, target, api) for call, target in calls.resolved(where.qualname)
                     if (api := api_name(target)) in _APIS]
            if found:
                self._api_calls[where.qualname] = found

    def handles_in(self, where: Where) -> list[Handle]:
        return self._by_function.get(where.qualname, [])

    def api_calls(self, where: Where) -> list[ApiCall]:
        """The calls of ``where`` that reach an API some lifecycle rule asks about."""
        return self._api_calls.get(where.qualname, [])

    def with_api_calls(self) -> Iterator[Where]:
        """The functions that make any such call."""
        return (self.program.where(q) for q in self._api_calls)

    def _reach(self, direct: dict[str, dict[str, Step]]) -> Reach[str]:
        return Reach(self.calls, direct, lambda edge, key: key,
                     lambda edge: call_step(self.program, edge))

    # ------------------------------------------------------------ process starts
    def process_events(self, where: Where) -> list[Event]:
        """What in ``where`` starts child processes."""
        events: list[Event] = []
        for handle in self.handles_in(where):
            if handle.kind == "process" and self.handles.is_started(handle):
                events.append(Event(start_loc(handle), "starts a process"))
            elif handle.api in PROCESS_POOLS:
                name = handle.api.rpartition(".")[2]
                events.append(Event(handle.call.loc, f"creates a `{name}` (worker processes)"))
        for call, _, api in self.api_calls(where):
            if api in SPAWNERS:
                events.append(Event(call.loc, f"calls `{call.callee}()` (spawns processes)"))
            elif api in SET_START_METHOD and not any(
                a.keyword == "force" and a.const is True for a in call.args
            ) and not (call.args and call.args[0].const == "fork"):  # fork re-imports nothing
                events.append(Event(call.loc, f"calls `{call.callee}()`"))
            elif api in DATALOADERS and has_workers(call):
                loc = self._iterated(where, call)
                if loc is not None:
                    events.append(Event(loc, "iterates a `DataLoader` with worker processes"))
        return events

    def _iterated(self, where: Where, loader: Call) -> int | None:
        """Where a DataLoader created by ``loader`` is iterated in the same function."""
        sinks = [loader.sink] if loader.sink else []
        if loader.target is not None and is_name(loader.target):
            sinks.extend(sorted(where.function.uses.get(loader.target, ())))
        for sink in sinks:
            if sink.startswith("for:"):
                return int(sink[4:]) or loader.loc
            if sink[0] == "(":
                found = self.handles.call_at(where, int(sink[1:]))
                if found is not None and found[0].callee in _ITERATORS:
                    return found[0].loc
        return None

    @cached_property
    def process_starts(self) -> Reach[str]:
        direct: dict[str, dict[str, Step]] = {}
        for where in self.program.iter_functions():
            events = self.process_events(where)
            if events:
                direct[where.qualname] = {
                    e.what: Step(where.module.path, e.loc, e.what) for e in events}
        return self._reach(direct)

    # -------------------------------------------------------------- threads left
    def thread_events(self, where: Where) -> list[tuple[Event, int | None]]:
        """Threads and thread pools started in ``where``, each with the ordinal of its
        release in ``where`` (None: still running when ``where`` returns)."""
        events: list[tuple[Event, int | None]] = []
        here = {call.loc for call in where.function.calls}
        for handle in self.handles_in(where):
            if handle.kind == "thread" and self.handles.is_started(handle):
                what = "starts a thread"
            elif handle.api in THREAD_POOLS:
                what = f"creates a `{handle.api.rpartition('.')[2]}`"
            else:
                continue
            fate = self.handles.creation_fate(handle, releases_of(handle, self.handles))
            released: int | None = None
            if fate.status == RELEASED:
                locs = [s.loc for s in fate.steps if s.loc in here]
                if locs or not fate.steps:  # released in this function (or by ``with``)
                    released = max(locs) if locs else handle.call.loc
            events.append((Event(start_loc(handle), what), released))
        return events

    @cached_property
    def threads_left(self) -> Reach[str]:
        direct: dict[str, dict[str, Step]] = {}
        for where in self.program.iter_functions():
            events = [e for e, released in self.thread_events(where) if released is None]
            if events:
                direct[where.qualname] = {
                    e.what: Step(where.module.path, e.loc, e.what) for e in events}
        return self._reach(direct)

    # ------------------------------------------------------- writes, handshakes
    @cached_property
    def writes(self) -> Reach[str]:
        direct: dict[str, dict[str, Step]] = {}
        for where in self.with_api_calls():
            found: dict[str, Step] = {}
            for call, _, api in self.api_calls(where):
                if api in DURABLE_WRITES or api in OPENERS and writes_mode(call):
                    what = f"writes with `{call.callee}()`"
                    found.setdefault(what, Step(where.module.path, call.loc, what))
            if found:
                direct[where.qualname] = found
        return self._reach(direct)

    @cached_property
    def handshakes(self) -> Reach[str]:
        direct: dict[str, dict[str, Step]] = {}
        for where in self.with_api_calls():
            found = {
                api: Step(where.module.path, call.loc, f"signals with `{call.callee}()`")
                for call, _, api in self.api_calls(where) if api in HANDSHAKES
            }
            if found:
                direct[where.qualname] = found
        return self._reach(direct)
