"""Shared test helpers: run the pipeline in-process on files or snippets."""

from __future__ import annotations

import io
import linecache
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from conclint.cli import main
from conclint.config import enabled_codes
from conclint.diagnostics import Diagnostic
from conclint.discover import discover
from conclint.engine import analyse
from conclint.filters import Filter
from conclint.source import Sources

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULES_DIR = ROOT / "rules"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9,\s]+)")
ALL = enabled_codes(("ALL",), (), ())


def lint_paths(*paths: str | Path, enabled: frozenset[str] = ALL) -> list[Diagnostic]:
    """The checks, then the filter stage (suppression comments), like the command."""
    files = discover([str(p) for p in paths])
    found = analyse(files, enabled).diagnostics
    return Filter(enabled).apply(found, [f.path for f in files], Sources())


def lint_source(tmp_path: Path, source: str, name: str = "snippet.py") -> list[Diagnostic]:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return lint_paths(path)


def expected_markers(root: Path) -> set[tuple[str, int, str]]:
    """Every ``# expect: CODE[, CODE]`` comment under ``root`` as (path, line, code)."""
    found: set[tuple[str, int, str]] = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = EXPECT.search(line)
            if match:
                for code in re.findall(r"CL\d{3}", match.group(1)):
                    found.add((str(path), number, code))
    return found


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str, cwd: Path) -> Ran:
    """``conclint ARGS`` in this process (no start-up cost), in ``cwd``, output captured."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    linecache.clearcache()  # the text report reads source lines through linecache
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = int(exit_.code or 0)
    finally:
        os.chdir(previous)
    return Ran(code, out.getvalue(), err.getvalue())
