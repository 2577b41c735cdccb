"""A piece of the whole-program phase run in a forked child, its result sent back.

Forking shares the program already built (copy-on-write), so the child starts at once and
only its result — plain data, pickled — crosses the pipe. A child that dies, or whose
work raises, yields None, and the caller does that work itself: parallelism only ever
costs time, never findings. Where the platform cannot fork, callers do everything here.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class Forked(Generic[T]):
    """``work()`` running in a forked child."""

    def __init__(self, work: Callable[[], T]) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, sender = context.Pipe(duplex=False)
        self._process: Any = context.Process(target=_child, args=(work, sender), daemon=True)
        self._process.start()
        sender.close()

    def result(self) -> T | None:
        """What ``work()`` returned, or None when the child failed."""
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            message = None
        finally:
            self.stop()
        return message[0] if message is not None else None

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()


def _child(work: Callable[[], Any], conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    try:
        conn.send((work(),))
    except Exception:  # noqa: BLE001 - e.g. an unpicklable result: the parent redoes it
        conn.send(None)
