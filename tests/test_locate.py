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
        assert pool.idle_workers == 2
        pids.clear()
        pool.fresh = True  # as when locating: only new workers would be spawned
        pool.run(jobs, [[n] for n in range(6)], pids.__setitem__, task=worker_pid)
        assert len(first) == 2 and set(pids.values()) == first
    assert pool.idle_workers == 0
