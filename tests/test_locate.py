"""Locating reported nodes: only the wanted ones, equal to a full pass, reusing workers."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import libcst as cst
import pytest

import conclint.locate as locate
from conclint.extract.cache import FactsCache
from conclint.extract.pool import Pool
from conclint.positions import positions
from tests.crashers import worker_pid

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = [ROOT / "fixtures" / "demo" / "train.py", STDLIB / "threading.py",
         STDLIB / "asyncio" / "base_events.py"]
# Long modules of many top-level statements (one that is mostly a single class, such as
# asyncio/base_events.py, is parsed whole: runs are cut between top-level statements only).
LONG = [STDLIB / name for name in ("threading.py", "typing.py", "subprocess.py",
                                   "argparse.py", "inspect.py", "test/test_ssl.py")]
# Top-level statements of every shape, repeated past several runs' worth of text.
SHAPES = '''
import threading; LOCK = threading.Lock()  # two statements on one line


@decorator(1)
class Cache:  # a comment
    def get(self, key):
        with LOCK:
            return self.data[key]
        # a comment at the end of the block, deeper than the next statement


if __name__ == "__main__": run(lambda: go(1), [f(x) for x in y])
async def fetch(x):
    await sleep(1)
x = (1,
     2); y = call(x)
'''


@pytest.mark.parametrize("path", [p for p in FILES if p.exists()], ids=lambda p: p.name)
def test_wanted_nodes_get_the_spans_of_a_full_pass(path: Path) -> None:
    full = locate._spans_of_file(str(path), "m", False)
    assert len(full) > 50
    chooser = random.Random(path.name)
    for size in (1, 3, 20):
        wanted = frozenset(chooser.sample(sorted(full), size))
        assert locate._spans_of_file(str(path), "m", False, wanted) == {
            loc: full[loc] for loc in wanted}
    last = max(full)
    assert locate._spans_of_file(str(path), "m", False, {last, last + 5}) == {last: full[last]}


def test_positions_of_wanted_nodes_equal_those_of_every_node() -> None:
    module = cst.parse_module((STDLIB / "threading.py").read_bytes())
    every = positions(module)
    first_half = sorted((n for n, r in every.items() if r[1][0] < 600), key=every.get)
    chosen = random.Random(3).sample(first_half, 40)
    some = positions(module, chosen)
    assert {n: some[n] for n in chosen} == {n: every[n] for n in chosen}
    assert len(some) < len(every) * 0.7  # it stopped early


def test_located_sites_are_cached_and_others_located_when_asked(tmp_path: Path,
                                                                monkeypatch) -> None:
    source = tmp_path / "mod.py"
    source.write_text("import threading\n\n\ndef f():\n    lock = threading.Lock()\n"
                      "    with lock:\n        g()\n")
    modules = {str(source): ("mod", False)}
    full = locate._spans_of_file(str(source), "mod", False)
    first, *rest = sorted(full)
    cache = FactsCache(str(tmp_path / "cache"))
    locate.Locator(modules, cache).prepare([(str(source), first)], jobs=1)

    def refuse(*job: object) -> dict:
        raise AssertionError("parsed again")

    monkeypatch.setattr(locate, "_spans_of_file", refuse)
    assert locate.Locator(modules, cache).span(str(source), first) == full[first]
    monkeypatch.undo()
    again = locate.Locator(modules, cache)
    assert [again.span(str(source), loc) for loc in rest] == [full[loc] for loc in rest]


def test_a_batch_reuses_the_workers_of_the_last(tmp_path: Path) -> None:
    jobs = [(str(tmp_path / f"{n}.py"),) for n in range(6)]
    pids: dict[int, int] = {}
    with Pool(2) as pool:
        pool.run(jobs, [[0, 1, 2], [3, 4, 5]], pids.__setitem__, task=worker_pid)
        first = set(pids.values())
        assert pool.live_workers == 2
        pids.clear()
        pool.fresh = True  # as when locating: only new workers would be spawned
        pool.run(jobs, [[n] for n in range(6)], pids.__setitem__, task=worker_pid)
        assert len(first) == 2 and set(pids.values()) == first
    assert pool.live_workers == 0


def _every_ordinal(path: Path) -> tuple[dict, dict]:
    full = locate._spans_of_file(str(path), "m", False)
    by_runs = locate._spans_of_file(str(path), "m", False, frozenset(full))
    return full, by_runs


@pytest.mark.parametrize("path", [p for p in LONG if p.exists()], ids=lambda p: p.name)
def test_runs_of_statements_locate_every_node_as_the_whole_file_does(path: Path) -> None:
    runs = locate._statement_runs(path.read_text(encoding="utf-8"))
    assert runs is not None and len(runs) > 1
    assert "".join(text for _, text in runs) == path.read_text(encoding="utf-8")
    full, by_runs = _every_ordinal(path)
    assert by_runs == full


def test_runs_cut_between_statements_of_every_shape(tmp_path: Path) -> None:
    source = tmp_path / "shapes.py"
    source.write_text(SHAPES * 120 + "z = 1")  # no final newline
    runs = locate._statement_runs(source.read_text())
    assert runs is not None and len(runs) >= 3
    for first, text in runs:
        cst.parse_module(text)  # each run stands alone
        assert source.read_text().splitlines()[first - 1] == text.splitlines()[0]
    full, by_runs = _every_ordinal(source)
    assert len(full) > 2000 and by_runs == full


def test_short_files_and_carriage_returns_are_parsed_whole(tmp_path: Path) -> None:
    assert locate._statement_runs(SHAPES) is None  # too short to gain anything
    assert locate._statement_runs((SHAPES * 120).replace("\n", "\r\n")) is None
    assert locate._statement_runs("def f(:\n" * 10000) is None  # not Python
