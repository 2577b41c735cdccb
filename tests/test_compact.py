"""Compaction: read-only facts with equal parts shared, the same whichever path a field takes."""

from __future__ import annotations

import pickle
import sysconfig
from pathlib import Path

import libcst as cst
import pytest

from conclint.extract import compact as compact_module
from conclint.extract.compact import compact
from conclint.extract.facts import EMPTY_MAP, Call, Function
from conclint.extract.names import with_names
from conclint.extract.walker import ModuleWalker

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = sorted((ROOT / "fixtures").rglob("*.py"))[:40] + [
    p for p in (STDLIB / "threading.py", STDLIB / "asyncio" / "base_events.py",
                STDLIB / "concurrent" / "futures" / "process.py") if p.exists()]


def walked(path: Path):
    tree = cst.parse_module(path.read_bytes())
    return with_names(ModuleWalker(str(path), "m", False).walk(tree))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fields_compacted_by_annotation_equal_the_general_way(path: Path, monkeypatch) -> None:
    planned = pickle.dumps(compact(walked(path)), 5)
    general = {cls: tuple((name, compact_module._GENERAL) for name, _ in plan)
               for cls, plan in compact_module._PLANS.items()}
    monkeypatch.setattr(compact_module, "_PLANS", general)
    assert pickle.dumps(compact(walked(path)), 5) == planned  # same values, same sharing


def test_compacted_facts_are_read_only_and_share_equal_parts() -> None:
    facts = compact(walked(STDLIB / "threading.py"))
    functions = facts.functions
    assert isinstance(functions, tuple) and all(isinstance(f.calls, tuple) for f in functions)
    callees = [c.callee for f in functions for c in f.calls if c.callee == "self._tstate_lock.acquire"]
    assert len(callees) > 1 and all(c is callees[0] for c in callees)
    empty = next(f for f in functions if not f.locals)
    assert empty.locals is EMPTY_MAP
    with pytest.raises(TypeError):
        empty.locals["x"] = "y"  # type: ignore[index]


def test_a_field_of_another_shape_than_annotated_is_compacted_the_general_way() -> None:
    call = Call("f", 1, (), (), None)
    call.held = [3, [4]]  # type: ignore[assignment]  # annotated tuple[int, ...]
    fn = Function("f", "f", None, ["a", ("b",)], (), False, 1,  # type: ignore[arg-type]
                  calls=[call], locals={"x": ["y"]})  # type: ignore[dict-item]
    compact_module._Compactor().fields(fn)
    assert fn.params == ("a", ("b",)) and call.held == (3, (4,))
    assert fn.locals == {"x": ("y",)} and fn.calls == (call,)
