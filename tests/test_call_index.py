"""The call index: which modules' functions an analysis looking for given APIs must visit."""

from __future__ import annotations

from pathlib import Path

from conclint.analyses.calls import CallGraph
from conclint.discover import discover
from conclint.extract.facts import ModuleFacts
from conclint.extract.parallel import extract_files
from conclint.program.index import Program

PROJECT = {
    "starts.py": (
        "import threading as th\n"
        "def quiet():\n    return 1\n"
        "def spawn(f):\n    th.Thread(target=f).start()\n"
    ),
    "plain.py": "import time\ndef nap():\n    time.sleep(1)\n",
    "workers.py": (
        "import threading\n"
        "class Worker(threading.Thread):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "def make():\n    return Worker()\n"
    ),
    "user.py": "from workers import Worker\nclass Job:\n    pass\ndef go():\n    Job()\n",
}


def _graph(tmp_path: Path) -> CallGraph:
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    files = discover([str(tmp_path / name) for name in sorted(PROJECT)])
    facts = [f for f in extract_files(files, 1, None) if isinstance(f, ModuleFacts)]
    return CallGraph(Program(facts))


def _names(wheres: list) -> list[str]:
    return [w.qualname for w in wheres]


def test_every_function_of_the_modules_calling_an_api_in_program_order(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    assert _names(graph.functions_calling({"threading.Thread"})) == [
        "starts.<module>", "starts.quiet", "starts.spawn"]
    assert _names(graph.functions_calling({"time.sleep", "threading.Thread"})) == [
        "plain.<module>", "plain.nap", "starts.<module>", "starts.quiet", "starts.spawn"]
    assert graph.functions_calling({"subprocess.run"}) == []
    assert graph.functions_calling() == []
    assert "threading.Thread" in graph.index.apis()


def test_an_analysed_constructor_counts_with_and_without_init(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    # ``Worker()`` calls the analysed ``workers.Worker.__init__``
    expected = ["workers.<module>", "workers.Worker.__init__", "workers.make"]
    assert _names(graph.functions_calling({"workers.Worker.__init__"})) == expected
    assert _names(graph.functions_calling({"workers.Worker"})) == expected


def test_modules_found_by_the_last_name_of_a_callee(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    # ``Job()`` in user.py and ``Worker()`` in workers.py; the import of Worker in user.py
    # names it too: a superset is what the index promises
    assert _names(graph.functions_calling(last_names={"Job"})) == ["user.<module>", "user.go"]
    assert _names(graph.functions_calling(last_names={"Worker"})) == [
        "user.<module>", "user.go", "workers.<module>", "workers.Worker.__init__",
        "workers.make"]
