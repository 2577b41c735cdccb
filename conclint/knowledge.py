"""What conclint knows about the concurrency APIs, as data.

Names are fully qualified and canonical: ``torch.multiprocessing.Lock``,
``multiprocessing.get_context(...).Lock`` and ``Manager().Lock`` are all spelled
``multiprocessing.Lock`` after :func:`canonical`. Rules and analyses ask questions of
these tables; none of them lists API names of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from conclint.knowledge_async import (
    ASYNC_CLASSES, ASYNC_PREFIX_ALIASES, ASYNC_RETURNS, CALLABLE_SLOTS, LOOP_BLOCKERS,
    TASK_CREATORS, ml_family,
)

# Modules and types whose members are the same API under another name.
_PREFIX_ALIASES = {
    "torch.multiprocessing": "multiprocessing",
    "multiprocessing.context.BaseContext": "multiprocessing",
    "multiprocessing.managers.SyncManager": "multiprocessing",
    "multiprocessing.synchronize": "multiprocessing",
    "multiprocessing.queues": "multiprocessing",
    "multiprocessing.process": "multiprocessing",
    "multiprocessing.context": "multiprocessing",
    "concurrent.futures.thread": "concurrent.futures",
    "concurrent.futures.process": "concurrent.futures",
    "concurrent.futures._base": "concurrent.futures",
    "_thread": "threading",
    "threading._RLock": "threading.RLock",
    "multiprocessing.dummy": "multiprocessing.pool.ThreadPoolModule",
}
_RENAMES = {
    "threading.allocate_lock": "threading.Lock",
    "threading.LockType": "threading.Lock",
    "threading._CRLock": "threading.RLock",
    "multiprocessing.context.Process": "multiprocessing.Process",
    "multiprocessing.Pool": "multiprocessing.pool.Pool",
    "multiprocessing.ThreadPool": "multiprocessing.pool.ThreadPool",
    "multiprocessing.pool.ThreadPoolModule.Pool": "multiprocessing.pool.ThreadPool",
    "multiprocessing.pool.ThreadPoolModule.Process": "threading.Thread",
    "multiprocessing.pool.ThreadPoolModule.Lock": "threading.Lock",
    "multiprocessing.pool.ThreadPoolModule.RLock": "threading.RLock",
    "multiprocessing.pool.ThreadPoolModule.Queue": "queue.Queue",
    "asyncio.locks.Lock": "asyncio.Lock",
}


@lru_cache(maxsize=None)
def canonical(name: str) -> str:
    """Map an API name to the spelling the tables below use (memoised: names repeat)."""
    prefix = name  # the longest aliased prefix wins (``multiprocessing.context.BaseContext``)
    while True:
        target = _PREFIX_ALIASES.get(prefix)
        if target is not None:
            name = target + name[len(prefix):]
            break
        cut = prefix.rfind(".")
        if cut < 0:
            break
        prefix = prefix[:cut]
    return _RENAMES.get(name, ml_family(name))


@dataclass(frozen=True, slots=True)
class LockKind:
    """A lock factory: what it makes and how it behaves."""

    factory: str
    reentrant: bool
    family: str  # "thread" (threading and multiprocessing: block the OS thread) | "async"
    counting: bool = False  # a semaphore: a second acquire is fine unless its value is 1
    condition: bool = False


def _kinds() -> dict[str, LockKind]:
    table: dict[str, LockKind] = {}
    for module, family in (("threading", "thread"), ("multiprocessing", "thread"),
                           ("asyncio", "async")):
        table[f"{module}.Lock"] = LockKind(f"{module}.Lock", False, family)
        table[f"{module}.Semaphore"] = LockKind(f"{module}.Semaphore", False, family, counting=True)
        table[f"{module}.BoundedSemaphore"] = LockKind(
            f"{module}.BoundedSemaphore", False, family, counting=True)
        # Condition() wraps an RLock by default (threading, multiprocessing); asyncio's a Lock.
        table[f"{module}.Condition"] = LockKind(
            f"{module}.Condition", module != "asyncio", family, condition=True)
        if module != "asyncio":
            table[f"{module}.RLock"] = LockKind(f"{module}.RLock", True, family)
    return table


LOCK_FACTORIES: dict[str, LockKind] = _kinds()

# Calls whose result is an object of a known type (so its methods can be looked up).
RETURNS: dict[str, str] = {
    "multiprocessing.get_context": "multiprocessing",
    "multiprocessing.Manager": "multiprocessing",
    "concurrent.futures.ThreadPoolExecutor.submit": "concurrent.futures.Future",
    "concurrent.futures.ProcessPoolExecutor.submit": "concurrent.futures.Future",
    "multiprocessing.pool.Pool.apply_async": "multiprocessing.pool.AsyncResult",
    "multiprocessing.pool.ThreadPool.apply_async": "multiprocessing.pool.AsyncResult",
    "multiprocessing.pool.Pool.map_async": "multiprocessing.pool.AsyncResult",
    "socket.create_connection": "socket.socket",
    "socket.socket.accept": "tuple",
    "asyncio.get_event_loop": "asyncio.AbstractEventLoop",
    "asyncio.get_running_loop": "asyncio.AbstractEventLoop",
    "asyncio.new_event_loop": "asyncio.AbstractEventLoop",
    "requests.Session": "requests.Session",
}

# Classes whose instances matter; a call of one of these makes an instance of it.
KNOWN_CLASSES = frozenset({
    "threading.Thread", "threading.Timer", "threading.Event", "threading.Barrier",
    "threading.local",
    "multiprocessing.Process", "multiprocessing.Queue", "multiprocessing.JoinableQueue",
    "multiprocessing.SimpleQueue", "multiprocessing.Event", "multiprocessing.Barrier",
    "multiprocessing.Pipe", "multiprocessing.pool.Pool", "multiprocessing.pool.ThreadPool",
    "multiprocessing.Value", "multiprocessing.Array",
    "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue",
    "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.Future",
    "subprocess.Popen", "socket.socket", "requests.Session",
    "asyncio.Event", "asyncio.Queue",
})


@dataclass(frozen=True, slots=True)
class Blocking:
    """A call that can block the calling thread indefinitely."""

    what: str  # how the message names it
    timeout_position: int | None = None  # positional index of a timeout argument
    nonblocking_keywords: tuple[str, ...] = ("timeout",)  # any of these passed: bounded wait
    block_flag: str | None = None  # a keyword that, when False, makes the call non-blocking
    block_position: int = 0  # the positional index of that flag


_QUEUE_GET = Blocking("blocking `{recv}.get()`", 1, ("timeout",), "block")
_QUEUE_PUT = Blocking("blocking `{recv}.put()`", 2, ("timeout",), "block", 1)
_JOIN = Blocking("`{recv}.join()`", 0)
_WAIT = Blocking("`{recv}.wait()`", 0)
_RESULT = Blocking("`{recv}.result()`", 0)


def _blocking() -> dict[str, Blocking]:
    table: dict[str, Blocking] = {
        "time.sleep": Blocking("`time.sleep()`", None, ()),
        "builtins.input": Blocking("`input()`", None, ()),
        "os.system": Blocking("`os.system()`", None, ()),
        "os.wait": Blocking("`os.wait()`", None, ()),
        "os.waitpid": Blocking("`os.waitpid()`", None, ()),
        "socket.create_connection": Blocking("`socket.create_connection()`", 1),
        "urllib.request.urlopen": Blocking("`urllib.request.urlopen()`", 2),
        "concurrent.futures.wait": Blocking("`concurrent.futures.wait()`", 1),
        "torch.cuda.synchronize": Blocking("`torch.cuda.synchronize()`", None, ()),
        "threading.Thread.join": _JOIN,
        "threading.Timer.join": _JOIN,
        "multiprocessing.Process.join": _JOIN,
        "multiprocessing.pool.Pool.join": Blocking("`{recv}.join()`", None, ()),
        "multiprocessing.pool.ThreadPool.join": Blocking("`{recv}.join()`", None, ()),
        "threading.Event.wait": _WAIT,
        "multiprocessing.Event.wait": _WAIT,
        "threading.Barrier.wait": _WAIT,
        "multiprocessing.Barrier.wait": _WAIT,
        "subprocess.Popen.wait": _WAIT,
        "subprocess.Popen.communicate": Blocking("`{recv}.communicate()`", 1),
        "concurrent.futures.Future.result": _RESULT,
        "concurrent.futures.Future.exception": Blocking("`{recv}.exception()`", 0),
        "multiprocessing.pool.AsyncResult.get": Blocking("`{recv}.get()`", 0),
        "multiprocessing.pool.AsyncResult.wait": _WAIT,
        "queue.Queue.join": Blocking("`{recv}.join()`", None, ()),
        "multiprocessing.JoinableQueue.join": Blocking("`{recv}.join()`", None, ()),
    }
    for queue_type in ("queue.Queue", "queue.LifoQueue", "queue.PriorityQueue",
                       "multiprocessing.Queue", "multiprocessing.JoinableQueue"):
        table[f"{queue_type}.get"] = _QUEUE_GET
        table[f"{queue_type}.put"] = _QUEUE_PUT
    table["queue.SimpleQueue.get"] = _QUEUE_GET
    table["multiprocessing.SimpleQueue.get"] = Blocking("blocking `{recv}.get()`", None, ())
    for name in ("run", "call", "check_call", "check_output"):
        table[f"subprocess.{name}"] = Blocking(f"`subprocess.{name}()`", None, ("timeout",))
    for name in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
        table[f"requests.{name}"] = Blocking(f"`requests.{name}()` (network I/O)")
        table[f"requests.Session.{name}"] = Blocking(f"`{{recv}}.{name}()` (network I/O)")
    for name in ("recv", "recv_into", "recvfrom", "accept", "connect", "sendall", "send"):
        table[f"socket.socket.{name}"] = Blocking(f"`{{recv}}.{name}()` (socket I/O)", None, ())
    for name in COLLECTIVES:
        table[f"torch.distributed.{name}"] = Blocking(
            f"`torch.distributed.{name}()` (a collective: waits for every rank)", None, ())
    return table


COLLECTIVES = (
    "all_reduce", "reduce", "broadcast", "broadcast_object_list", "all_gather",
    "all_gather_into_tensor", "all_gather_object", "gather", "gather_object", "scatter",
    "scatter_object_list", "reduce_scatter", "reduce_scatter_tensor", "all_to_all",
    "all_to_all_single", "barrier", "monitored_barrier",
)

BLOCKING: dict[str, Blocking] = _blocking()

# Callables given to these run before the call returns (so under the caller's locks).
IMMEDIATE_CALLERS = frozenset({
    "builtins.map", "builtins.filter", "builtins.sorted", "builtins.min", "builtins.max",
    "functools.reduce", "itertools.starmap", "itertools.filterfalse", "itertools.takewhile",
    "itertools.dropwhile", "itertools.groupby", "itertools.accumulate", "list.sort",
})

# Methods looked up on objects of known types outside the tables' keys.
_EXTRA_METHODS = frozenset({"acquire", "release", "locked", "wait", "wait_for", "notify",
                            "notify_all", "sort"})


def api_names() -> frozenset[str]:
    """Last segments of every API name conclint knows: a call whose callee ends otherwise
    (and is not an analysed function) cannot matter to any rule, so it is not resolved.
    Every table of qualified names must be listed in ``API_TABLES``."""
    names = set(_EXTRA_METHODS)
    for table in API_TABLES:
        names.update(name.rpartition(".")[2] for name in table)
    return frozenset(names)


BUILTINS = frozenset({
    "map", "filter", "sorted", "min", "max", "input", "open", "print", "len", "iter",
    "next", "list", "dict", "set", "tuple", "super", "isinstance", "getattr", "setattr",
})

API_TABLES: tuple[object, ...] = (
    LOCK_FACTORIES, RETURNS, KNOWN_CLASSES, BLOCKING, IMMEDIATE_CALLERS, BUILTINS,
)


# ------------------------------------------------------------ asyncio and ML serving
# The tables of the asyncio rules live in ``conclint.knowledge_async`` (a leaf module);
# their types join the ones above so that name resolution sees them.
_PREFIX_ALIASES.update(ASYNC_PREFIX_ALIASES)
RETURNS = {**RETURNS, **ASYNC_RETURNS}
KNOWN_CLASSES = KNOWN_CLASSES | ASYNC_CLASSES
API_TABLES = (*API_TABLES, LOOP_BLOCKERS, ASYNC_RETURNS, ASYNC_CLASSES, TASK_CREATORS,
              CALLABLE_SLOTS)


def declared_owners(names: Iterable[str]) -> frozenset[str]:
    """Classes of the methods a user declared (``myco.Client`` for ``myco.Client.fetch``), so
    ``myco.Client()`` makes an instance whose ``fetch`` resolves to the declared name."""
    return frozenset(name.rpartition(".")[0] for name in names if name.count(".") >= 2)


def api_name(external: str | None, function: str | None) -> str | None:
    """The API a call target stands for: its external name, or the canonical name of the
    analysed function (when the analysed code *is* the library: the standard library's
    ``threading.Thread.join``, ``asyncio.base_events.BaseEventLoop.create_task``)."""
    return external if external is not None else (canonical(function) if function else None)
# ML frameworks (CL5xx): torch.distributed, DataLoader workers, CUDA and RNGs.
from conclint import knowledge_ml as _ml  # noqa: E402 - the ML tables extend the ones above

_PREFIX_ALIASES.update(_ml.PREFIX_ALIASES)
_RENAMES.update(_ml.RENAMES)
KNOWN_CLASSES = KNOWN_CLASSES | _ml.KNOWN_CLASSES
API_TABLES = API_TABLES + _ml.API_TABLES

# --- lifecycle rules (CL2xx): their tables live in knowledge_lifecycle.py ---------------
from conclint import knowledge_lifecycle as _lifecycle  # noqa: E402 - tables of the CL2xx rules

_RENAMES["torch.utils.data.dataloader.DataLoader"] = "torch.utils.data.DataLoader"
KNOWN_CLASSES = KNOWN_CLASSES | {
    "multiprocessing.SpawnProcess", "multiprocessing.ForkProcess",
    "multiprocessing.ForkServerProcess", "concurrent.futures.InterpreterPoolExecutor",
    "torch.utils.data.DataLoader", "pathlib.Path",
}
API_TABLES = (
    *API_TABLES, _lifecycle.HANDLE_KINDS, _lifecycle.FUTURE_MAKERS, _lifecycle.LAZY_MAPS,
    _lifecycle.PICKLED_CALLABLES, _lifecycle.SPAWNERS, _lifecycle.SET_START_METHOD,
    _lifecycle.DATALOADERS, _lifecycle.DURABLE_WRITES, _lifecycle.OPENERS,
    _lifecycle.HANDSHAKES, _lifecycle.FORKS, _lifecycle.FED_QUEUES, _lifecycle.PARTIALS,
)

# --- shared state and races (CL3xx): their tables live in knowledge_races.py -----------
from conclint import knowledge_races as _races  # noqa: E402 - tables of the CL3xx rules

API_TABLES = (*API_TABLES, *_races.TABLES)
