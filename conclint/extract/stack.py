"""Run deeply recursive work (libcst on deeply nested code) on a big private stack."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_RECURSION_LIMIT = 60_000
_STACK_BYTES = 512 * 1024 * 1024


def on_big_stack(func: Callable[..., T], *args: object) -> T:
    """Run ``func`` on a thread with a large stack and a high recursion limit."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(func(*args))
        except BaseException as err:  # noqa: BLE001 - re-raised on the calling thread
            failure.append(err)

    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    threading.stack_size(_STACK_BYTES)
    try:
        worker = threading.Thread(target=target, name="conclint-extract")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if failure:
        raise failure[0]
    return result[0]
