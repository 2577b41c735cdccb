"""Extractors for the supervised-pool tests: they misbehave on chosen files, in the worker.

Module-level functions, so that workers started by any start method can import them.
"""

from __future__ import annotations

import faulthandler
import os
import time

from conclint.extract.facts import ExtractResult
from conclint.locate import _spans_of_file  # the real one: tests patch the module's name


def misbehave(path: str, module: str, is_package: bool) -> ExtractResult:
    """Crash the worker (SIGABRT) on ``*crash*`` files, hang on ``*hang*`` files, and extract
    every other file normally."""
    from conclint.extract.source import extract_file

    name = os.path.basename(path)
    if "crash" in name:
        faulthandler.disable()  # pytest's, inherited: the abort is expected, not news
        os.abort()
    if "hang" in name:
        time.sleep(3600)
    return extract_file(path, module, is_package)


def spans_but_crash_on_b(path: str, module: str, is_package: bool,
                         wanted: object = None) -> object:
    """Locate files as conclint does, but crash the worker on ``b.py``."""
    if os.path.basename(path) == "b.py":
        faulthandler.disable()
        os.abort()
    return _spans_of_file(path, module, is_package, wanted)  # type: ignore[arg-type]


def worker_pid(path: str, *job: object) -> int:
    """Which worker process ran this job."""
    return os.getpid()
