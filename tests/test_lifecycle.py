"""CL2xx: handle tracking through import styles, aliases, containers, classes and callees."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import lint_paths, lint_source


def found(tmp_path: Path, source: str, prefix: str = "CL2") -> list[tuple[int, str]]:
    return sorted((d.line, d.code) for d in lint_source(tmp_path, source)
                  if d.code.startswith(prefix))


@pytest.mark.parametrize("header, create", [
    ("import threading", "threading.Thread(target=print)"),
    ("import threading as th", "th.Thread(target=print)"),
    ("from threading import Thread", "Thread(target=print)"),
    ("from threading import Thread as T", "T(target=print)"),
    ("from threading import Timer", "Timer(1.0, print)"),
])
def test_thread_import_styles(tmp_path: Path, header: str, create: str) -> None:
    source = f"{header}\n\n\ndef f():\n    t = {create}\n    t.start()\n"
    assert found(tmp_path, source) == [(5, "CL201")]


@pytest.mark.parametrize("header, create", [
    ("import multiprocessing as mp", "mp.Process(target=print)"),
    ("from multiprocessing import get_context", 'get_context("spawn").Process(target=print)'),
    ("import torch.multiprocessing as tmp", "tmp.Process(target=print)"),
    ("from multiprocessing.context import SpawnProcess", "SpawnProcess(target=print)"),
])
def test_process_import_styles(tmp_path: Path, header: str, create: str) -> None:
    source = f"{header}\n\n\ndef f():\n    p = {create}\n    p.start()\n"
    assert found(tmp_path, source) == [(5, "CL202")]


@pytest.mark.parametrize("header, create", [
    ("import multiprocessing", "multiprocessing.Pool(2)"),
    ("import torch.multiprocessing as tmp", "tmp.Pool(2)"),
    ("from multiprocessing.dummy import Pool", "Pool(2)"),
    ("import concurrent.futures as cf", "cf.ProcessPoolExecutor()"),
    ("from concurrent.futures import ThreadPoolExecutor", "ThreadPoolExecutor()"),
    ("import multiprocessing", "multiprocessing.Manager()"),
])
def test_pool_import_styles(tmp_path: Path, header: str, create: str) -> None:
    source = f"{header}\n\n\ndef f(xs):\n    pool = {create}\n    return len(xs)\n"
    assert found(tmp_path, source) == [(5, "CL203")]


QUIET = {
    "chained assignment, joined through the attribute": """
import threading
class Loader:
    def start(self):
        self._thread = t = threading.Thread(target=print)
        t.start()
    def stop(self):
        self._thread.join()
""",
    "handed to code outside the tree": """
import threading
def f(registry):
    t = threading.Thread(target=print)
    t.start()
    registry.track(t)
""",
    "declared global": """
import threading
_worker = None
def start():
    global _worker
    _worker = threading.Thread(target=print)
    _worker.start()
""",
    "daemon flag not a literal": """
import threading
def f(background):
    t = threading.Thread(target=print, daemon=background)
    t.start()
""",
    "setDaemon(True)": """
import threading
def f():
    t = threading.Thread(target=print)
    t.setDaemon(True)
    t.start()
""",
    "never started": """
import threading
def f():
    return threading.Thread(target=print).name
""",
    "joined through a helper that pops": """
import threading
def _stop(threads):
    while threads:
        threads.pop().join()
def f(n):
    threads = []
    for _ in range(n):
        t = threading.Thread(target=print)
        t.start()
        threads.append(t)
    _stop(threads)
""",
    "pool as a with item after creation": """
import multiprocessing as mp
def f(xs):
    pool = mp.Pool(2)
    with pool:
        return pool.map(abs, xs)
""",
    "future kept by an attribute read elsewhere": """
from concurrent.futures import ThreadPoolExecutor
class Job:
    def __init__(self):
        self._ex = ThreadPoolExecutor()
        self._fut = self._ex.submit(print)
    def wait(self):
        try:
            return self._fut.result()
        finally:
            self._ex.shutdown()
""",
}


@pytest.mark.parametrize("name", sorted(QUIET))
def test_lookalikes_stay_quiet(tmp_path: Path, name: str) -> None:
    assert found(tmp_path, QUIET[name]) == []


def test_del_does_not_count_and_the_message_says_why(tmp_path: Path) -> None:
    source = """import threading


class Writer:
    def __init__(self):
        self._t = threading.Thread(target=print)
        self._t.start()

    def __del__(self):
        self._t.join()
"""
    (diagnostic,) = [d for d in lint_source(tmp_path, source) if d.code == "CL201"]
    assert diagnostic.line == 6
    assert "`self._t`" in diagnostic.message and "`__del__` does not count" in diagnostic.message


def test_helper_that_does_not_join_is_followed(tmp_path: Path) -> None:
    source = """import threading


def _start(thread):
    thread.start()


def f():
    t = threading.Thread(target=print)
    _start(t)
"""
    (diagnostic,) = [d for d in lint_source(tmp_path, source) if d.code == "CL201"]
    assert diagnostic.line == 9
    assert [(r.line, r.message) for r in diagnostic.related] == [
        (10, "passed to `_start()` as `thread`")]


def test_handle_joined_in_another_module(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(
        "def join_all(threads):\n    for t in threads:\n        t.join()\n")
    (tmp_path / "pkg" / "main.py").write_text(
        "import threading\nfrom .util import join_all\n\n\ndef f(n):\n"
        "    ts = [threading.Thread(target=print) for _ in range(n)]\n"
        "    for t in ts:\n        t.start()\n    join_all(ts)\n")
    assert [d for d in lint_paths(tmp_path / "pkg") if d.code.startswith("CL2")] == []


def test_unguarded_main_is_reported_with_the_path(tmp_path: Path) -> None:
    source = """import multiprocessing as mp


def work():
    with mp.Pool(2) as pool:
        return pool.map(abs, [1, -2])


def main():
    return work()


main()
if __name__ == "__main__":
    main()
"""
    (diagnostic,) = lint_source(tmp_path, source)
    assert (diagnostic.code, diagnostic.line) == ("CL206", 13)
    assert [r.line for r in diagnostic.related] == [10, 5]


def test_future_results_and_maps(tmp_path: Path) -> None:
    source = """from concurrent.futures import ThreadPoolExecutor


def f(xs):
    with ThreadPoolExecutor() as ex:
        ex.submit(print)
        results = ex.map(abs, xs)
        kept = ex.map(abs, xs)
        fut = ex.submit(print)
        fut.add_done_callback(print)
        return list(kept)
"""
    assert found(tmp_path, source) == [(6, "CL204"), (7, "CL204")]


def test_fork_after_joined_and_running_threads(tmp_path: Path) -> None:
    source = """import os
import threading


def f():
    a = threading.Thread(target=print)
    a.start()
    a.join()
    os.fork()
    b = threading.Thread(target=print)
    b.start()
    os.fork()
    b.join()
"""
    assert found(tmp_path, source) == [(12, "CL208")]


def test_attribute_collection_released_by_popping(tmp_path: Path) -> None:
    source = """import threading


class Workers:
    def __init__(self, n):
        self._threads = [threading.Thread(target=print) for _ in range(n)]
        for t in self._threads:
            t.start()

    def close(self):
        while self._threads:
            self._threads.pop().join()
"""
    assert found(tmp_path, source) == []


def test_threads_joined_by_another_object_or_registered(tmp_path: Path) -> None:
    source = """import threading

_registry = []


class Handler:
    def __init__(self):
        self.threads = []

    def handle(self):
        thread = threading.Thread(target=print)
        self.threads.append(thread)
        thread.start()


class Worker(threading.Thread):
    def __init__(self):
        super().__init__()
        _registry.append(self)


def run():
    handler = Handler()
    handler.handle()
    for thread in handler.threads:
        thread.join()
    Worker().start()
"""
    assert found(tmp_path, source) == []


def test_discarded_constructor_is_not_a_leak(tmp_path: Path) -> None:
    source = "import multiprocessing\n\n\ndef f():\n    multiprocessing.Pool(0)\n"
    assert found(tmp_path, source) == []


def test_mixin_sibling_shuts_down_what_the_other_opened(tmp_path: Path) -> None:
    source = """from concurrent.futures import ThreadPoolExecutor


class Opens:
    def start(self):
        self._executor = ThreadPoolExecutor()


class Closes:
    def close(self):
        self._executor.shutdown()


class Service(Opens, Closes):
    pass
"""
    assert found(tmp_path, source) == []
