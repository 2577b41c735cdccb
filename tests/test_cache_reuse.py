"""What a warm run may reuse: results when no byte changed, findings when no fact changed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_main

INVERSION = '''import threading

a = threading.Lock()
b = threading.Lock()


def one():
    with a:
        with b:
            pass


def two():
    with b:
        with a:
            pass
'''
SELF_DEADLOCK = '''

def three():
    with a:
        with a:
            pass
'''


def _run(project: Path) -> tuple[list[tuple[str, int, tuple[int, ...]]], str]:
    ran = run_main("--format", "json", "--profile", "--cache-dir", str(project / "cache"),
                   "-j", "1", "--no-project", "mod.py", cwd=project)
    assert ran.returncode == 1, ran.stderr
    found = [(d["code"], d["line"], tuple(r["line"] for r in d["related"]))
             for d in json.loads(ran.stdout)["diagnostics"]]
    return found, ran.stderr


def test_a_comment_edit_reuses_the_findings_at_their_new_lines(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(INVERSION)
    first, profile = _run(tmp_path)
    assert [(code, line) for code, line, _ in first] == [("CL101", 9)]
    assert "earlier findings reused" not in profile
    # Comments and blank lines change every line number but no fact.
    source.write_text("# a comment\n\n" + INVERSION.replace("with a:\n", "with a:  # outer\n", 1))
    second, profile = _run(tmp_path)
    assert second == [(code, line + 2, tuple(r + 2 for r in related))
                      for code, line, related in first]
    assert "the facts are unchanged: earlier findings reused" in profile
    assert "analysis: call graph" not in profile


def test_a_change_to_the_code_runs_the_rules_again(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(INVERSION)
    first, _ = _run(tmp_path)
    source.write_text(INVERSION + SELF_DEADLOCK)
    found, profile = _run(tmp_path)
    assert [code for code, _, _ in found] == ["CL101", "CL102"]
    assert "earlier findings reused" not in profile and "analysis: call graph" in profile
    source.write_text(INVERSION)  # back to the first version: its findings are still known
    found, profile = _run(tmp_path)
    assert found == first and "results reused" in profile
