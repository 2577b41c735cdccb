"""CL3xx: the access facts, thread contexts, ordering, precedence and the free-threaded mode."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conclint.config import enabled_codes
from conclint.discover import discover
from conclint.engine import analyse
from conclint.extract.source import extract_source
from tests.helpers import lint_source
from tests.test_cli import run

ALL = enabled_codes(("ALL",), (), ())


def findings(tmp_path: Path, source: str) -> set[tuple[int, str]]:
    """The CL3xx findings (other families may well have something to say about a snippet)."""
    found = lint_source(tmp_path, textwrap.dedent(source))
    return {(d.line, d.code) for d in found if d.code.startswith("CL3")}


def accesses(source: str, function: str) -> list[tuple[str, str, str, str, bool]]:
    facts = extract_source("m.py", textwrap.dedent(source), "m", False)
    fn = next(f for f in facts.functions if f.qualname == function)
    return [(a.space, a.var, a.kind, a.method, bool(a.checked)) for a in fn.accesses]


# ------------------------------------------------------------------ facts
def test_access_kinds_of_globals_attributes_and_closures() -> None:
    source = """
        import threading
        CACHE = {}
        COUNT = 0
        LIMIT = 3

        def work(key):
            global COUNT
            COUNT += 1
            if key not in CACHE:
                CACHE[key] = LIMIT
            for k in CACHE.items():
                pass
            CACHE.pop(key, None)

        class Box:
            def __init__(self):
                self.items = []

            def put(self, x):
                self.items.append(x)
                self.items = self.items + [x]

        def outer():
            seen = []
            def inner(x):
                seen.append(x)
            return inner
    """
    assert accesses(source, "work") == [
        ("global", "COUNT", "update", "", False),
        ("global", "CACHE", "read", "", False),
        ("global", "CACHE", "mutate", "[]", True),
        ("global", "CACHE", "iter", "", False),
        ("global", "CACHE", "mutate", "pop-default", False),
    ]
    assert accesses(source, "Box.put") == [
        ("attr", "Box.items", "mutate", "append", False),
        ("attr", "Box.items", "update", "", False),
        ("attr", "Box.items", "read", "", False),
    ]
    assert accesses(source, "Box.__init__") == []  # owned: dropped at extraction
    assert accesses(source, "outer.<locals>.inner") == [
        ("closure", "outer:seen", "mutate", "append", False)]


def test_locals_constants_and_rebound_names_are_not_recorded() -> None:
    source = """
        LIMIT = 3
        NAME = "x"

        def f(items):
            total = 0
            for NAME in items:
                total += LIMIT
            return total
    """
    assert accesses(source, "f") == []


def test_guard_comments_trailing_and_above() -> None:
    source = """
        import threading
        LOCK = threading.Lock()
        REG = {}  # conclint: guarded-by=LOCK

        class C:
            # conclint: guarded-by=_lock
            items: list = []

            def __init__(self):
                self._lock = threading.Lock()
                self.n = 0  # conclint:guarded-by = self._lock
    """
    facts = extract_source("m.py", textwrap.dedent(source), "m", False)
    assert [(g.space, g.var, g.lock, g.scope) for g in facts.guards] == [
        ("global", "REG", "LOCK", "<module>"),
        ("attr", "C.items", "_lock", "<module>"),
        ("attr", "C.n", "self._lock", "C.__init__"),
    ]


# ------------------------------------------------------------------ thread entry points
ENTRY_POINTS = {
    "thread": "threading.Thread(target=work, args=(1,)).start()",
    "timer": "threading.Timer(1.0, work, args=(1,)).start()",
    "start_new_thread": "_thread.start_new_thread(work, (1,))",
    "submit": "ThreadPoolExecutor().submit(work, 1)",
    "thread pool": "multiprocessing.dummy.Pool(4).apply_async(work, (1,))",
    "run_in_executor": "asyncio.get_event_loop().run_in_executor(None, work, 1)",
    "to_thread": "asyncio.to_thread(work, 1)",
    "done callback": "ThreadPoolExecutor().submit(print).add_done_callback(work)",
}


@pytest.mark.parametrize("start", ENTRY_POINTS.values(), ids=list(ENTRY_POINTS))
def test_every_thread_entry_point_races_with_the_main_thread(tmp_path: Path, start: str) -> None:
    source = f"""
        import _thread
        import asyncio
        import multiprocessing.dummy
        import threading
        from concurrent.futures import ThreadPoolExecutor

        SEEN = {{}}

        def work(item):
            SEEN[item] = SEEN.get(item, 0) + 1

        def main():
            {start}
            SEEN[0] = 0
    """
    assert findings(tmp_path, source) == {(11, "CL304")}


def test_thread_subclass_run_and_main_thread_handlers(tmp_path: Path) -> None:
    source = """
        import atexit
        import signal
        import threading

        TOTAL = {"n": 0}

        class Worker(threading.Thread):
            def run(self):
                TOTAL["n"] += 1

        def on_exit():
            TOTAL["n"] += 1

        def on_signal(signum, frame):
            TOTAL["n"] += 1

        def main():
            atexit.register(on_exit)
            signal.signal(signal.SIGTERM, on_signal)
            for _ in range(4):
                Worker().start()
    """
    # the worker, started in a loop, races with itself; the handlers run on the main thread
    # and are not started by main() while the workers run
    assert findings(tmp_path, source) == {(10, "CL304")}


def test_one_thread_started_once_does_not_race_with_itself(tmp_path: Path) -> None:
    source = """
        import threading

        COUNT = {"n": 0}

        def work():
            COUNT["n"] += 1

        def main():
            threading.Thread(target=work).start()
    """
    assert findings(tmp_path, source) == set()


# ------------------------------------------------------------------ order
def test_before_start_and_after_join_do_not_race_but_between_does(tmp_path: Path) -> None:
    source = """
        import threading

        STATS = {"n": 0}

        def work():
            STATS["n"] += 1

        def main():
            STATS["n"] = 0
            t = threading.Thread(target=work)
            t.start()
            t.join()
            STATS["n"] = 1

        def sloppy():
            t = threading.Thread(target=work)
            t.start()
            STATS["n"] = 0
            t.join()
    """
    assert findings(tmp_path, source) == {(7, "CL304")}


def test_caller_after_an_unjoined_start_runs_concurrently(tmp_path: Path) -> None:
    source = """
        import threading

        class Prefetcher:
            def __init__(self):
                self.buffer = {}
                self._thread = threading.Thread(target=self._fill, daemon=True)

            def start(self):
                self._thread.start()

            def _fill(self):
                for i in range(10):
                    self.buffer[i] = i

            def drain(self):
                for key in self.buffer:
                    print(key)

        def main():
            prefetcher = Prefetcher()
            prefetcher.drain()
            prefetcher.start()
            prefetcher.drain()
    """
    assert findings(tmp_path, source) == {(17, "CL301")}


# ------------------------------------------------------------------ precedence
def test_one_finding_per_access_the_most_specific(tmp_path: Path) -> None:
    source = """
        import threading
        from concurrent.futures import ThreadPoolExecutor

        LOCK = threading.Lock()
        CACHE = {}  # conclint: guarded-by=LOCK
        HITS = {"n": 0}

        def get(key):
            if key not in CACHE:
                CACHE[key] = key
            with LOCK:
                HITS["n"] += 1
            HITS["n"] += 1
            with LOCK:
                HITS["n"] += 1

        def serve(keys):
            with ThreadPoolExecutor() as pool:
                list(pool.map(get, keys))
    """
    # CL306 wins on the guarded cache (not CL303); the unlocked update is CL304 (not CL302)
    assert findings(tmp_path, source) == {(10, "CL306"), (11, "CL306"), (14, "CL304")}


# ------------------------------------------------------------------ free-threaded mode
RMW = """\
from concurrent.futures import ThreadPoolExecutor

TOTAL = {"n": 0}


def work(x):
    TOTAL["n"] += x


def main(xs):
    with ThreadPoolExecutor() as pool:
        list(pool.map(work, xs))
"""


def test_free_threaded_raises_races_to_errors(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(RMW)
    files = discover([str(tmp_path / "m.py")])
    races = enabled_codes(("CL3",), (), ())
    [normal] = analyse(files, races).diagnostics
    [free] = analyse(files, races, free_threaded=True).diagnostics
    assert (normal.code, normal.severity) == ("CL304", "warning")
    assert (free.code, free.severity) == ("CL304", "error")
    assert "without the GIL" in free.message and "without the GIL" not in normal.message


def test_free_threaded_flag_and_config_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "m.py").write_text(RMW)
    severity = lambda *args: json.loads(  # noqa: E731
        run("--format", "json", "--select", "CL3", *args, "m.py", cwd=tmp_path).stdout
    )["diagnostics"][0]["severity"]
    assert severity() == "warning"
    assert severity("--free-threaded") == "error"
    (tmp_path / "pyproject.toml").write_text("[tool.conclint]\nfree-threaded = true\n")
    assert severity() == "error"
    (tmp_path / "pyproject.toml").write_text("[tool.conclint]\nfree-threaded = 'yes'\n")
    result = run("m.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "`tool.conclint.free-threaded` must be true or false" in result.stderr


# ------------------------------------------------------------------ ownership and sharing
def test_closure_cells_are_shared_only_with_threads_of_the_same_call(tmp_path: Path) -> None:
    source = """
        from concurrent.futures import ThreadPoolExecutor

        def tokenize(text):
            count = 0
            def bump():
                nonlocal count
                count += 1
            for _ in text.split():
                bump()
            return count

        def histogram(texts):
            counts = {}
            def add(text):
                counts[len(text)] = counts.get(len(text), 0) + 1
            with ThreadPoolExecutor() as pool:
                list(pool.map(add, texts))
            return counts

        def main(texts):
            with ThreadPoolExecutor() as pool:
                return list(pool.map(tokenize, texts))
    """
    # every call of tokenize() has its own ``count``; the pool threads of one call of
    # histogram() share ``counts``
    assert findings(tmp_path, source) == {(16, "CL304")}


def test_a_lock_handed_to_the_thread_protects(tmp_path: Path) -> None:
    source = """
        import threading

        TOTAL = {"n": 0}

        def work(lock):
            with lock:
                TOTAL["n"] += 1

        def main():
            lock = threading.Lock()
            threads = [threading.Thread(target=work, args=(lock,)) for _ in range(4)]
            for t in threads:
                t.start()
    """
    assert findings(tmp_path, source) == set()


def test_a_run_waited_for_on_the_spot_does_not_race_with_the_next(tmp_path: Path) -> None:
    source = """
        from concurrent.futures import ThreadPoolExecutor

        COUNT = {"n": 0}

        def step():
            COUNT["n"] += 1

        def loop(pool: ThreadPoolExecutor, n):
            for _ in range(n):
                pool.submit(step).result()

        def main():
            with ThreadPoolExecutor(1) as pool:
                loop(pool, 10)
    """
    assert findings(tmp_path, source) == set()


def test_check_then_act_that_expects_to_lose_the_race(tmp_path: Path) -> None:
    source = """
        from concurrent.futures import ThreadPoolExecutor

        PENDING = {}

        def finish(key):
            if key in PENDING:
                try:
                    del PENDING[key]
                except KeyError:
                    pass
            if key not in PENDING:
                PENDING[key] = 1
                PENDING[key] += 0

        def main(keys):
            with ThreadPoolExecutor() as pool:
                list(pool.map(finish, keys))
    """
    # one finding per test (line 13), none for the tolerant delete
    assert findings(tmp_path, source) == {(13, "CL303")}


def test_after_fork_handlers_run_single_threaded(tmp_path: Path) -> None:
    source = """
        import os
        import threading

        _LOCK = threading.Lock()
        _OPEN = {}

        def register(key, value):
            with _LOCK:
                _OPEN[key] = value

        def close(key):
            with _LOCK:
                _OPEN.pop(key).close()

        def _reset_after_fork():
            global _OPEN
            _OPEN = {}

        os.register_at_fork(after_in_child=_reset_after_fork)
    """
    assert findings(tmp_path, source) == set()


def test_overridden_step_of_a_process_subclass_runs_in_the_child(tmp_path: Path) -> None:
    source = """
        import multiprocessing

        class Worker(multiprocessing.Process):
            def run(self):
                self.step()

            def step(self):
                pass

        class Counter(Worker):
            def __init__(self):
                super().__init__()
                self.done = 0

            def step(self):
                self.done += 1

            def report(self):
                return self.done

        def main():
            counter = Counter()
            counter.start()
            counter.join()
            print(counter.report())
    """
    assert findings(tmp_path, source) == {(17, "CL305")}


def test_after_joining_the_thread_in_another_method(tmp_path: Path) -> None:
    source = """
        import threading

        class Collector:
            def __init__(self):
                self._lock = threading.Lock()
                self._stats = {}
                self._thread = threading.Thread(target=self._run, daemon=True)

            def start(self):
                self._thread.start()

            def _run(self):
                for i in range(100):
                    self._stats[i] = self._stats.get(i, 0) + 1

            def close(self):
                self._thread.join()
                self._stats.clear()

            def reset(self):
                self._stats.clear()

            def summary(self):
                with self._lock:
                    return len(self._stats)
    """
    # close() clears after the join; reset() may run while the thread counts (the class
    # owns a lock: it is meant to be used from several threads)
    assert findings(tmp_path, source) == {(15, "CL304")}
