"""What the race rules know about the APIs that start threads and processes, as data.

Names are canonical (see ``knowledge.canonical``). Every table of qualified names here is
listed in ``TABLES``, which ``knowledge.API_TABLES`` includes, so the call graph resolves
the calls they name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Starter:
    """A call that runs a callable elsewhere: where the callable is among its arguments."""

    position: int | None  # positional index of the callable
    keyword: str | None  # its keyword name
    many: bool = False  # runs the callable on many items at once (``map``)
    waits: bool = False  # returns only once every run finished (``Pool.map``, ``apply``)
    args_position: int | None = None  # where the tuple of the callable's arguments is
    args_keyword: str | None = "args"
    rest: bool = False  # the callable's arguments follow it (``submit(fn, *args)``)


_POOL_METHODS = {
    "apply": Starter(0, "func", waits=True, args_position=1),
    "apply_async": Starter(0, "func", args_position=1),
    "map": Starter(0, "func", many=True, waits=True),
    "map_async": Starter(0, "func", many=True),
    "imap": Starter(0, "func", many=True),
    "imap_unordered": Starter(0, "func", many=True),
    "starmap": Starter(0, "func", many=True, waits=True),
    "starmap_async": Starter(0, "func", many=True),
}

# Calls that run a callable on another thread of this process.
THREAD_STARTERS: dict[str, Starter] = {
    "threading.Thread": Starter(1, "target", args_position=3),
    "threading.Timer": Starter(1, "function", args_position=2),
    "threading.start_new_thread": Starter(0, "function", args_position=1),
    "threading.start_new": Starter(0, "function", args_position=1),
    "concurrent.futures.ThreadPoolExecutor.submit": Starter(0, "fn", rest=True),
    "concurrent.futures.ThreadPoolExecutor.map": Starter(0, "fn", many=True),
    "asyncio.AbstractEventLoop.run_in_executor": Starter(1, "func", rest=True),
    "asyncio.to_thread": Starter(0, "func", rest=True),
    "concurrent.futures.Future.add_done_callback": Starter(0, "fn"),
    **{f"multiprocessing.pool.ThreadPool.{m}": s for m, s in _POOL_METHODS.items()},
}

# Calls that run a callable in a child process (which gets a copy of the parent's state).
PROCESS_STARTERS: dict[str, Starter] = {
    "multiprocessing.Process": Starter(1, "target", args_position=3),
    "concurrent.futures.ProcessPoolExecutor.submit": Starter(0, "fn", rest=True),
    "concurrent.futures.ProcessPoolExecutor.map": Starter(0, "fn", many=True),
    "multiprocessing.spawn": Starter(0, "fn", many=True),  # torch.multiprocessing.spawn
    **{f"multiprocessing.pool.Pool.{m}": s for m, s in _POOL_METHODS.items()},
}

# Base classes whose ``run`` runs on the new thread / in the child process.
THREAD_CLASSES = frozenset({"threading.Thread", "threading.Timer"})
PROCESS_CLASSES = frozenset({"multiprocessing.Process"})

# DataLoader worker processes: the dataset's item methods and ``collate_fn`` run there.
DATA_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
DATASET_CLASSES = frozenset({
    "torch.utils.data.Dataset", "torch.utils.data.IterableDataset",
    "torch.utils.data.dataset.Dataset", "torch.utils.data.dataset.IterableDataset",
})
DATASET_WORKER_METHODS = ("__getitem__", "__getitems__", "__iter__")
LOADER_WORKER_CALLBACKS = ("collate_fn",)

# Calls after which the work started earlier in the same function has finished.
JOINS = frozenset({
    "threading.Thread.join", "threading.Timer.join", "multiprocessing.Process.join",
    "multiprocessing.pool.Pool.join", "multiprocessing.pool.ThreadPool.join",
    "concurrent.futures.ThreadPoolExecutor.shutdown",
    "concurrent.futures.ProcessPoolExecutor.shutdown",
    "concurrent.futures.wait", "concurrent.futures.Future.result",
    "multiprocessing.pool.AsyncResult.get", "multiprocessing.pool.AsyncResult.wait",
})
# The same, recognised by method name when the receiver's type is unknown (``t.join()``
# on a loop variable); ``join``/``result`` only with no argument but a timeout.
JOIN_METHODS = frozenset({"join", "shutdown", "result"})

# Types whose objects may be used from many threads without a lock.
THREAD_SAFE_TYPES = frozenset({
    "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue",
    "multiprocessing.Queue", "multiprocessing.JoinableQueue", "multiprocessing.SimpleQueue",
    "threading.Event", "threading.Barrier", "threading.Condition", "threading.Semaphore",
    "threading.BoundedSemaphore", "threading.Lock", "threading.RLock", "threading.local",
    "multiprocessing.Event", "multiprocessing.Barrier", "multiprocessing.Condition",
    "multiprocessing.Semaphore", "multiprocessing.BoundedSemaphore", "multiprocessing.Lock",
    "multiprocessing.RLock", "asyncio.Queue", "asyncio.Event",
    "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.ProcessPoolExecutor",
})
# Types whose listed methods are atomic (documented thread-safe).
_DEQUE = frozenset({"append", "appendleft", "pop", "popleft", "extend", "extendleft"})
ATOMIC_METHODS: dict[str, frozenset[str]] = {
    "collections.deque": _DEQUE,
    "_collections.deque": _DEQUE,  # how ``collections`` itself imports it
}
# Objects in shared memory or behind a manager: a child's change does reach the parent.
PROCESS_SHARED_PREFIXES = ("multiprocessing.", "torch.Tensor.share_memory_")
# ``multiprocessing.Value``/``Array``: their own lock is taken with ``get_lock()``.
SYNCHRONIZED_TYPES = frozenset({"multiprocessing.Value", "multiprocessing.Array"})

# Calls registering a function to run in the child right after ``fork()`` (single-threaded):
# the keyword, and the position, of that function.
AT_FORK: dict[str, tuple[str | None, int | None]] = {
    "os.register_at_fork": ("after_in_child", None),
    "multiprocessing.util.register_after_fork": ("func", 1),
}
# Single operations on a builtin container that the interpreter performs atomically (a
# lone ``d[k] = v`` or ``lst.append(x)`` needs no lock; iterating while it happens does).
# "[]" stands for an item store or ``del d[k]``.
ATOMIC_CONTAINER_OPS = frozenset({
    "[]", "append", "appendleft", "pop", "pop-default", "popleft", "popitem", "add", "discard",
    "remove", "setdefault", "clear",
})

TABLES: tuple[object, ...] = (
    THREAD_STARTERS, PROCESS_STARTERS, THREAD_CLASSES, PROCESS_CLASSES, DATA_LOADERS,
    DATASET_CLASSES, JOINS, JOIN_METHODS, THREAD_SAFE_TYPES, ATOMIC_METHODS,
    SYNCHRONIZED_TYPES, AT_FORK,
)
