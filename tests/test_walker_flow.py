"""The value-flow facts the walker records for handle tracking."""

from __future__ import annotations

import libcst as cst

from conclint.extract.walker import ModuleWalker

SOURCE = '''
import threading


class Pool:
    def __init__(self, n):
        self._workers = [threading.Thread(target=self._run) for _ in range(n)]
        self._main = t = threading.Thread(target=self._run)
        t.daemon = True
        register(self._main)

    def _run(self):
        pass


def go(items):
    threads = []
    for i, item in enumerate(items):
        worker = threading.Thread(target=print, args=(item,))
        threads.append(worker)
    for worker in list(threads):
        worker.join()
    return threads


if __name__ == "__main__":
    go([1])
'''


def facts():
    return ModuleWalker("m.py", "m", False).walk(cst.parse_module(SOURCE))


def function(name):
    return next(f for f in facts().functions if f.qualname == name)


def test_call_sinks_and_chained_targets() -> None:
    init = function("Pool.__init__")
    threads = [c for c in init.calls if c.callee == "threading.Thread"]
    assert threads[0].sink == "[self._workers" and threads[0].target is None
    assert (threads[1].target, threads[1].sink) == ("self._main", "=t")
    assert init.attr_sets == {"t.daemon": "True"}
    register = next(c for c in init.calls if c.callee == "register")
    assert init.uses["self._main"] == {f"({register.loc}"}


def test_name_uses_loop_bindings_and_spans() -> None:
    go = function("go")
    append = next(c for c in go.calls if c.callee == "threads.append")
    copy = next(c for c in go.calls if c.callee == "list")
    assert go.uses["worker"] == {f"({append.loc}"}
    assert go.uses["threads"] == {f"({copy.loc}", "return"}
    assert [(var, container) for var, container, _ in go.loop_vars] == [
        ("item", "items"), ("worker", "threads")]
    assert len(go.loop_spans) == 2
    assert all(first < last for first, last in go.loop_spans)


def test_main_guard_range_covers_its_body() -> None:
    module = facts()
    ((first, last),) = module.main_guards
    top = next(f for f in module.functions if f.qualname == "<module>")
    call = next(c for c in top.calls if c.callee == "go")
    assert first < call.loc <= last


def test_branches_that_exclude_each_other() -> None:
    source = (
        "def f(a):\n"
        "    if a:\n        x()\n        return 1\n"
        "    if a > 1:\n        y()\n    else:\n        z()\n"
        "    w()\n"
    )
    fn = next(f for f in ModuleWalker("m.py", "m", False).walk(cst.parse_module(source)).functions
              if f.qualname == "f")
    loc = {c.callee: c.loc for c in fn.calls}
    returning, either = fn.exclusive_ifs
    assert returning[0] < loc["x"] <= returning[1] and returning[2] > loc["w"]
    assert either[0] < loc["y"] <= either[1] < loc["z"] <= either[2] < loc["w"]
