"""What the lifecycle rules (CL2xx) know about threads, processes, pools and futures, as data.

Names are canonical (see :func:`conclint.knowledge.canonical`): ``torch.multiprocessing.Pool``
and ``get_context("spawn").Pool`` are both ``multiprocessing.pool.Pool`` here.
"""

from __future__ import annotations

# Classes whose instances own threads or processes -> their kind.
HANDLE_KINDS: dict[str, str] = {
    "threading.Thread": "thread",
    "threading.Timer": "thread",
    "multiprocessing.Process": "process",
    "multiprocessing.SpawnProcess": "process",
    "multiprocessing.ForkProcess": "process",
    "multiprocessing.ForkServerProcess": "process",
    "multiprocessing.pool.Pool": "pool",
    "multiprocessing.pool.ThreadPool": "pool",
    "concurrent.futures.ThreadPoolExecutor": "executor",
    "concurrent.futures.ProcessPoolExecutor": "executor",
    "concurrent.futures.InterpreterPoolExecutor": "executor",
    "multiprocessing.Manager": "manager",
}

# The calls that release each kind (``with`` releases pools, executors and managers too).
RELEASES: dict[str, frozenset[str]] = {
    "thread": frozenset({"join"}),
    "process": frozenset({"join"}),
    "pool": frozenset({"close", "terminate", "join"}),
    "executor": frozenset({"shutdown"}),
    "manager": frozenset({"shutdown"}),
}
TIMER_RELEASES = frozenset({"join", "cancel"})

# Handles whose creation alone starts worker processes.
PROCESS_POOLS = frozenset({
    "multiprocessing.pool.Pool", "concurrent.futures.ProcessPoolExecutor",
    "multiprocessing.Manager",
})
THREAD_POOLS = frozenset({
    "multiprocessing.pool.ThreadPool", "concurrent.futures.ThreadPoolExecutor",
})

# torch.multiprocessing.spawn / start_processes (canonical: the torch prefix is folded).
SPAWNERS = frozenset({"multiprocessing.spawn", "multiprocessing.start_processes"})
SET_START_METHOD = frozenset({"multiprocessing.set_start_method"})
GET_CONTEXT = "multiprocessing.get_context"

DATALOADERS = frozenset({"torch.utils.data.DataLoader"})

# Calls that return a future (or async result) whose exception surfaces only when retrieved
# -> the calls that retrieve it (or hand it to someone who does).
FUTURE_MAKERS: dict[str, frozenset[str]] = {
    **{f"concurrent.futures.{executor}.submit": frozenset(
        {"result", "exception", "add_done_callback", "cancel"})
       for executor in ("ThreadPoolExecutor", "ProcessPoolExecutor", "InterpreterPoolExecutor")},
    **{f"multiprocessing.pool.{pool}.{method}": frozenset({"get", "wait", "ready", "successful"})
       for pool in ("Pool", "ThreadPool")
       for method in ("apply_async", "map_async", "starmap_async")},
}
# Executor.map and Pool.imap: the calls are submitted at once; their exceptions surface only
# while iterating the results.
LAZY_MAPS = frozenset({
    *(f"concurrent.futures.{executor}.map"
      for executor in ("ThreadPoolExecutor", "ProcessPoolExecutor", "InterpreterPoolExecutor")),
    *(f"multiprocessing.pool.{pool}.{method}"
      for pool in ("Pool", "ThreadPool") for method in ("imap", "imap_unordered")),
})

# Where a callable is pickled to reach a child process: API -> (positional index, keyword).
PICKLED_CALLABLES: dict[str, tuple[int | None, str]] = {
    "multiprocessing.Process": (1, "target"),
    "multiprocessing.SpawnProcess": (1, "target"),
    "multiprocessing.ForkServerProcess": (1, "target"),
    "multiprocessing.pool.Pool": (1, "initializer"),
    "concurrent.futures.ProcessPoolExecutor": (2, "initializer"),
    "concurrent.futures.ProcessPoolExecutor.submit": (0, "fn"),
    "concurrent.futures.ProcessPoolExecutor.map": (0, "fn"),
    "multiprocessing.spawn": (0, "fn"),
    "multiprocessing.start_processes": (0, "fn"),
    **{f"multiprocessing.pool.Pool.{method}": (0, "func")
       for method in ("apply", "apply_async", "map", "map_async", "imap", "imap_unordered",
                      "starmap", "starmap_async")},
}
# DataLoader keywords pickled to its workers when num_workers > 0 (positional index, keyword).
DATALOADER_CALLABLES = ((6, "collate_fn"), (10, "worker_init_fn"))
DATALOADER_WORKERS = (5, "num_workers")

# A thread target doing one of these writes durable data that a daemon thread may cut short.
DURABLE_WRITES = frozenset({
    "torch.save", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
    "pickle.dump", "json.dump", "shutil.copy", "shutil.copy2", "shutil.copyfile",
    "shutil.copytree", "shutil.move", "os.replace", "os.rename",
    "torch.distributed.checkpoint.save", "safetensors.torch.save_file",
    "pathlib.Path.write_text", "pathlib.Path.write_bytes",
})
OPENERS = frozenset({"builtins.open", "io.open"})  # a write when the mode writes
# A target doing one of these signals completion to someone who waits for it.
HANDSHAKES = frozenset({
    "threading.Event.set", "queue.Queue.task_done", "multiprocessing.JoinableQueue.task_done",
    "multiprocessing.Event.set",
})

FORKS = frozenset({"os.fork", "os.forkpty", "pty.fork"})

# Queues whose put() in a child blocks its exit until the parent reads (a feeder thread).
FED_QUEUES = frozenset({"multiprocessing.Queue", "multiprocessing.JoinableQueue"})

# Methods that add to / take from a list, set, deque or dict.
CONTAINER_ADDS = frozenset({"append", "appendleft", "add", "insert", "extend", "setdefault"})
CONTAINER_TAKES = frozenset({"pop", "popleft", "popitem", "get"})

# Objects pickle refuses (locks inside, OS handles): a bound method of an object holding one
# cannot be sent to a spawned child. Thread locks come from ``knowledge.LOCK_FACTORIES``.
UNPICKLABLE_TYPES = frozenset({
    "threading.Thread", "threading.Timer", "threading.Event", "threading.Barrier",
    "threading.local", "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue",
    "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.ProcessPoolExecutor",
    "multiprocessing.pool.Pool", "multiprocessing.pool.ThreadPool", "socket.socket",
})
PICKLE_HOOKS = ("__getstate__", "__reduce__", "__reduce_ex__")
PARTIALS = frozenset({"functools.partial"})
