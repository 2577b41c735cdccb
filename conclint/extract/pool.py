"""A small supervised process pool for extraction: a time limit per file, crash isolation.

``concurrent.futures`` cannot stop a task that runs too long, and a worker that dies
breaks the whole pool. Here every worker gets a chunk of files and tells the parent when
it starts each file and what it found; so the parent always knows which file each worker
is on, and since when. A worker that overruns the limit is killed and its file reported
(``timeout``: CL001); a worker that dies — a crash in native code, the out-of-memory
killer — costs only the file it was on (``crash``: CL002). Either way a fresh worker
takes over the rest of the chunk, and every other file is analysed as usual.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from conclint.extract.facts import FileError
from conclint.extract.stack import on_big_stack
from conclint.forked import can_fork

Job = tuple[Any, ...]  # the file's path first; extraction's: (path, module, is_package)
Extractor = Callable[..., Any]  # a job in, an ExtractResult (or spans, when locating) out
_STARTS_BEFORE_GIVING_UP = 3  # workers in a row that die before starting any file


def timeout_error(path: str, limit: float) -> FileError:
    return FileError(path, "timeout",
                     f"analysis took longer than {limit:g} s (the --timeout limit); "
                     "exclude the file or raise the limit")


def start_method(fresh: bool) -> str:
    """Fork (cheap) unless ``fresh``; a fresh worker is spawned, so that a process holding
    a whole program's facts is not forked (a forked child counts every page of them as its
    own memory, and copies those it touches). Never the fork server (the default from
    Python 3.14): it leaves a socket in the temporary folder while it runs."""
    return "fork" if not fresh and can_fork() else "spawn"


def _serve(conn: Connection, extractor: Extractor | None) -> None:
    """A worker: for each batch it is sent (a task, or None for ``extractor``, and a chunk
    of jobs), one message per start and per result, until it is sent ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    if extractor is None:
        from conclint.extract.source import extract_file as extractor  # imports libcst
    gc.disable()  # facts hold no cycles; the collector only costs time

    def loop() -> None:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            task, chunk = message
            work = task or extractor
            for slot, job in chunk:
                conn.send((slot, None))
                try:
                    result = work(*job)
                except Exception as err:  # noqa: BLE001 - extract_file should not raise
                    result = FileError(job[0], "internal", f"{type(err).__name__}: {err}",
                                       detail=traceback.format_exc())
                conn.send((slot, result))

    on_big_stack(loop)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the context in use
    conn: Connection
    queue: deque[int] = field(default_factory=deque)  # slots sent, not yet finished
    started: float | None = None  # when it started the file at the head of the queue

    @property
    def busy(self) -> bool:
        return bool(self.queue)


class Pool:
    """Supervised workers that outlive one batch: extraction, then locating the findings,
    without starting (and importing libcst in) new processes.

    ``run`` hands out a batch of jobs; ``done(slot, result)`` hears every one, in completion
    order (a ``FileError`` when it took too long or its worker died). Workers are forked
    while this process is small; once it holds the whole program, set ``fresh``: a worker
    started from then on (a replacement, or one more) is spawned (see ``start_method``).
    Use it as a context manager: leaving it stops the workers."""

    def __init__(self, processes: int, extractor: Extractor | None = None) -> None:
        """``extractor`` replaces the workers' per-file extraction (tests crash one)."""
        self._processes = processes
        self._extractor = extractor
        self.fresh = False
        self._workers: list[_Worker] = []
        self._failed_starts = 0
        self._pending: deque[list[int]] = deque()
        self._jobs: Sequence[Job] = ()
        self._limit: float | None = None
        self._done: Callable[[int, Any], None] = lambda slot, result: None
        self._task: Extractor | None = None

    @property
    def live_workers(self) -> int:
        """Workers started and still alive: between batches, ready for the next one."""
        return sum(1 for w in self._workers if w.process.is_alive())

    def run(self, jobs: Sequence[Job], chunks: list[list[int]],
            done: Callable[[int, Any], None], limit: float | None = None,
            task: Extractor | None = None,
            meanwhile: Callable[[], bool] | None = None, processes: int | None = None,
            ) -> None:
        """Run ``task`` (default: extraction) on ``jobs`` (indexed by slot), handed out in
        ``chunks`` of slots to at most ``processes`` workers, each job within ``limit``
        seconds. ``meanwhile`` is this process's own work, done in small steps while the
        workers run (it returns False when there is none left); what is left of it when
        they are done is the caller's to finish."""
        self._jobs, self._limit, self._done, self._task = jobs, limit, done, task
        self._pending.extend(chunks)
        finished = False
        try:
            wanted = min(processes or self._processes, len(chunks))
            while len(self._workers) < wanted:
                self._workers.append(self._start())
            for worker in self._workers:
                self._assign(worker)
            while any(w.busy for w in self._workers):
                if meanwhile is not None and meanwhile():
                    self._step(patient=False)
                else:
                    meanwhile = None
                    self._step()
            finished = True
        finally:
            if not finished:
                self._stop_all(graceful=False)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_all(graceful=exc[0] is None)

    # ------------------------------------------------------------------ workers
    def _start(self) -> _Worker:
        context = multiprocessing.get_context(start_method(self.fresh))
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child, self._extractor),
                                  name="conclint-extract", daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _assign(self, worker: _Worker) -> None:
        if not self._pending:
            return
        chunk = self._pending.popleft()
        worker.queue.extend(chunk)
        worker.started = None
        try:
            worker.conn.send((self._task, [(slot, self._jobs[slot]) for slot in chunk]))
        except OSError:
            pass  # it died while idle: seen as a failed start by the next wait

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker``; its unfinished files go back to the front of the queue."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        if worker.queue:
            self._pending.appendleft(list(worker.queue))
        fresh = self._start()
        self._workers[self._workers.index(worker)] = fresh
        self._assign(fresh)

    def _stop_all(self, graceful: bool) -> None:
        """Idle workers are told to stop; after an interruption, all are killed."""
        for worker in self._workers:
            try:
                if graceful:
                    worker.conn.send(None)
                else:
                    worker.process.kill()
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 5
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []

    # ------------------------------------------------------------------ events
    def _step(self, patient: bool = True) -> None:
        """Handle what the workers sent; wait for it unless not ``patient``."""
        busy = [w for w in self._workers if w.busy]
        waits: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waits, self._time_left(busy) if patient else 0))
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                self._receive(worker)
        if self._limit:
            now = time.monotonic()
            for worker in [w for w in self._workers if w.busy and w.started is not None]:
                if now - worker.started > self._limit:
                    slot = worker.queue.popleft()
                    self._done(slot, timeout_error(self._jobs[slot][0], self._limit))
                    self._replace(worker)

    def _time_left(self, busy: list[_Worker]) -> float | None:
        started = [w.started for w in busy if w.started is not None]
        if not self._limit or not started:
            return None if not self._limit else 1.0
        return max(0.0, min(started) + self._limit - time.monotonic()) + 0.01

    def _receive(self, worker: _Worker) -> None:
        """Read everything the worker sent; then, if it died, blame the file it was on."""
        try:
            while worker.queue and worker.conn.poll():
                slot, result = worker.conn.recv()
                if result is None:
                    worker.started = time.monotonic()
                    continue
                worker.queue.popleft()
                worker.started = None
                self._done(slot, result)
                self._failed_starts = 0
        except (EOFError, OSError):
            pass
        if not worker.queue:
            self._assign(worker)
            return
        if worker.process.is_alive():
            return
        worker.process.join()
        if worker.started is not None:
            slot = worker.queue.popleft()
            self._done(slot, crash_error(self._jobs[slot][0], worker.process.exitcode))
        else:
            self._failed_starts += 1
            if self._failed_starts >= _STARTS_BEFORE_GIVING_UP:
                for slot in list(worker.queue):
                    self._done(slot, crash_error(self._jobs[slot][0],
                                                 worker.process.exitcode, starting=True))
                worker.queue.clear()
        self._replace(worker)


def crash_error(path: str, exitcode: int | None, starting: bool = False) -> FileError:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    when = "before it could start" if starting else "while analysing this file"
    return FileError(path, "crash",
                     f"the extraction worker {how} {when} (a crash in native code, or the "
                     "system ran out of memory); the other files were analysed")
