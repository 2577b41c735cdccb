"""The call graph taken from an earlier run equals the one resolved afresh: after every kind
of edit that changes what names mean in *other* modules (a base class, a re-export, a new
submodule, a renamed function), only the modules that read the edited one are resolved
again, and all of them are."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import pytest

from conclint.analyses.call_memory import CallMemory
from conclint.analyses import calls as calls_module
from conclint.analyses.calls import CallGraph
from conclint.discover import discover
from conclint.extract import cache as cache_module
from conclint.extract.cache import FactsCache
from conclint.extract.facts import ModuleFacts
from conclint.extract.parallel import extract_files
from conclint.program.index import Program
from tests.helpers import FIXTURES, run_main

PROJECT = {
    "pkg/__init__.py": "from pkg.base import Base as Exported\n",
    "pkg/base.py": (
        "import threading\n"
        "class Base:\n"
        "    def __init__(self):\n        self.lock = threading.Lock()\n"
        "    def work(self):\n        with self.lock:\n            helper()\n"
        "def helper():\n    pass\n"
    ),
    "app.py": (
        "import pkg\nfrom pkg import Exported\nfrom pkg.base import helper\n"
        "class Job(Exported):\n"
        "    def run(self):\n        self.work()\n        helper()\n        pkg.extra.go()\n"
        "def main():\n    Job().run()\n    sorted([], key=helper)\n"
    ),
    "other.py": "def unrelated():\n    return 1\n",
}

EDITS = {
    "a new function in a leaf module": {"other.py": "def unrelated():\n    return 2\n"
                                        "def added():\n    unrelated()\n"},
    "a method moved to the base class": {"pkg/base.py": PROJECT["pkg/base.py"]
                                         + "    def run(self):\n        helper()\n"},
    "the re-export points elsewhere": {"pkg/__init__.py": "from other import unrelated "
                                       "as Exported\n"},
    "a submodule appears": {"pkg/extra.py": "def go():\n    pass\n"},
    "the imported function renamed": {"pkg/base.py": PROJECT["pkg/base.py"].replace(
        "def helper", "def helper2")},
    "cyclic base classes": {"other.py": "from app import Job\nclass Loop(Job):\n    pass\n",
                            "pkg/base.py": "from other import Loop\nclass Base(Loop):\n"
                                           "    def work(self):\n        pass\n"},
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def build(root: Path, memory_records: dict | None,
          processes: int = 1) -> tuple[CallGraph, CallMemory]:
    facts = [f for f in extract_files(discover([str(root)]), 1, None)
             if isinstance(f, ModuleFacts)]
    digests = {f.path: hashlib.sha256(pickle.dumps(f)).hexdigest() for f in facts}
    memory = CallMemory(digests, memory_records or {}, "settings")
    return CallGraph(Program(facts), memory=memory, processes=processes), memory


def shape(graph: CallGraph) -> tuple:
    """Everything the analyses read from a call graph, in comparable form."""
    def edges(table: dict) -> dict:
        return {q: [(e.caller, e.callee, e.call.loc, e.via_self) for e in found]
                for q, found in table.items() if found}
    return ({q: list(graph.resolved(q)) for q in graph._targets},
            edges(graph.out_edges), edges(graph.in_edges), sorted(graph.referenced))


@pytest.mark.parametrize("edit", EDITS)
def test_a_reused_call_graph_equals_a_fresh_one(tmp_path: Path, edit: str) -> None:
    write(tmp_path, PROJECT)
    _, first = build(tmp_path, None)
    assert first.reused == 0 and len(first.now) == 4
    unchanged, again = build(tmp_path, first.now)
    assert again.reused == 4 and not again.changed
    write(tmp_path, EDITS[edit])
    reused, memory = build(tmp_path, again.now)
    fresh, _ = build(tmp_path, None)
    assert shape(reused) == shape(fresh)
    assert shape(reused) != shape(unchanged) or edit == "a new function in a leaf module"
    # only the modules that read an edited one were resolved again
    assert 0 < memory.reused < len(memory.now)
    if edit == "a new function in a leaf module":
        assert memory.reused == 3  # nothing reads other.py
    if edit == "cyclic base classes":  # resolved by where the cycle was entered: never reused
        _, after = build(tmp_path, memory.now)
        assert after.reused < len(after.now)


def test_the_fixtures_reuse_everything_and_equal_a_fresh_graph(tmp_path: Path) -> None:
    _, first = build(FIXTURES, None)
    reused, memory = build(FIXTURES, first.now)
    fresh, _ = build(FIXTURES, None)
    assert memory.reused == len(memory.now) > 30
    assert shape(reused) == shape(fresh)


def test_a_call_graph_shared_with_a_child_process_equals_one_resolved_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Same targets, edges and order; same records, down to the modules each one read."""
    monkeypatch.setattr(calls_module, "_CALLS_WORTH_A_PROCESS", 0)
    here, alone = build(FIXTURES, None)
    shared, split = build(FIXTURES, None, processes=2)
    assert shape(shared) == shape(here)
    assert split.now == alone.now


def test_a_call_graph_child_that_dies_costs_only_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls_module, "_CALLS_WORTH_A_PROCESS", 0)
    parent = os.getpid()
    records = CallGraph._records

    def dies(self, *args):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            os._exit(3)
        return records(self, *args)

    monkeypatch.setattr(CallGraph, "_records", dies)
    here, alone = build(FIXTURES, None)
    shared, split = build(FIXTURES, None, processes=2)
    assert shape(shared) == shape(here) and split.now == alone.now


def test_a_record_that_does_not_fit_is_resolved_again(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    _, first = build(tmp_path, None)
    fresh, _ = build(tmp_path, None)
    for name, (key, reads, (table, functions)) in first.now.items():
        first.now[name] = (key, reads, (table, functions[:-1]) if name == "app" else
                           ((("x",),), functions) if name == "pkg" else
                           (table, [((99,) * len(f[0]), (), ()) for f in functions]))
    graph, memory = build(tmp_path, first.now)
    # other.py has no call site: its (emptied) record is still right; the others are redone
    assert memory.reused == 1 and shape(graph) == shape(fresh)


def test_the_cached_records_are_signed_and_loaded_safely(tmp_path: Path) -> None:
    write(tmp_path / "src", PROJECT)
    folder = tmp_path / "cache"
    command = ("--format", "json", "--cache-dir", str(folder), "src")
    first = run_main(*command, cwd=tmp_path)
    (records,) = folder.glob("calls-*")
    assert set(FactsCache(str(folder)).get_call_graph()) == {"pkg", "pkg.base", "app", "other"}
    for damage in (b"", records.read_bytes()[:-3], b"conclint-calls\n" + b"0" * 40,
                   cache_module.seal(b"conclint-calls\n", pickle.dumps(FactsCache),
                                     cache_module.secret_key())):
        records.write_bytes(damage)
        assert FactsCache(str(folder)).get_call_graph() == {}
        (tmp_path / "src" / "other.py").write_text(f"X = {len(damage)}\n")
        assert run_main(*command, cwd=tmp_path).stdout.replace("2 files", "") \
            .count('"code"') == first.stdout.count('"code"')
    with pytest.raises(pickle.UnpicklingError):
        cache_module._FactsUnpickler(io.BytesIO(pickle.dumps(FactsCache))).load()


def test_warm_after_a_cross_module_edit_reports_what_cold_reports(tmp_path: Path) -> None:
    """A lock-order inversion that exists only through a call into another module: the
    edit that creates it, and the one that removes it, are seen by the warm run."""
    write(tmp_path, {
        "locks.py": "import threading\nA = threading.Lock()\nB = threading.Lock()\n",
        "one.py": "from locks import A, B\nfrom two import inner\n"
                  "def outer():\n    with A:\n        inner()\n",
        "two.py": "from locks import A, B\ndef inner():\n    pass\n",
        "three.py": "from locks import A, B\ndef other():\n    with B:\n        with A:\n"
                    "            pass\n",
    })
    cache = str(tmp_path / "cache")
    runs = []
    for body in ("    pass\n", "    with B:\n        pass\n", "    pass\n"):
        (tmp_path / "two.py").write_text(f"from locks import A, B\ndef inner():\n{body}")
        warm = run_main("--format", "json", "--cache-dir", cache, ".", cwd=tmp_path)
        cold = run_main("--format", "json", "--no-cache", ".", cwd=tmp_path)
        assert warm.stdout == cold.stdout
        runs.append('"CL101"' in warm.stdout)
    assert runs == [False, True, False]
