"""conclint.positions must agree with libcst's PositionProvider on every node."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from conclint.positions import _with_provider, positions

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Modules with every kind of syntax: decorators, f-strings, match, async, long expressions,
# odd whitespace and line continuations.
STDLIB_SAMPLE = ["threading.py", "asyncio/base_events.py", "dataclasses.py", "typing.py",
                 "inspect.py", "concurrent/futures/process.py", "tokenize.py", "argparse.py"]

SOURCES = {
    "crlf and lone cr": "x = 1\r\nif x:\r    y = (1,\r\n         2)\r\n",
    "continuations": "total = 1 + \\\n    2\nwith a as b, \\\n     c as d:\n    pass\n",
    "form feed and tabs": "\x0cdef f():\n\tif x:\n\t\treturn [\n\t\t\t1]\n",
    "strings": 'a = """one\ntwo"""\nb = f"{x!r:>{width}}" \'c\'\n',
    "no final newline": "def f():\n    return g(\n        1)",
}


def _provider(module: cst.Module) -> dict:
    found = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {node: ((r.start.line, r.start.column), (r.end.line, r.end.column))
            for node, r in found.items()}


def _files() -> list[Path]:
    fixtures = sorted((ROOT / "fixtures").rglob("*.py"))
    return fixtures + [STDLIB / name for name in STDLIB_SAMPLE if (STDLIB / name).exists()]


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_same_ranges_as_libcst_on_real_files(path: Path) -> None:
    module = cst.parse_module(path.read_bytes())
    expected = _provider(module)
    assert positions(module) == expected


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_same_ranges_as_libcst_on_odd_layouts(name: str) -> None:
    module = cst.parse_module(SOURCES[name])
    assert positions(module) == _provider(module)


def test_the_fallback_is_the_provider() -> None:
    module = cst.parse_module(SOURCES["continuations"])
    assert _with_provider(module) == _provider(module)
