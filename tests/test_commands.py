"""``conclint explain``, ``conclint rules`` and ``conclint graph``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from conclint.catalog import load_pages
from conclint.checks.registry import RULES
from conclint.commands.explain import find_page, render_page
from tests.helpers import FIXTURES, ROOT, run_main
from tests.test_cli import DEADLOCK, run

PAGES = load_pages()


def test_explain_piped_prints_the_page_as_is(tmp_path: Path) -> None:
    result = run_main("explain", "CL101", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == (ROOT / "rules" / "CL101.md").read_text(encoding="utf-8")
    assert run_main("explain", "self-deadlock", cwd=tmp_path).stdout == PAGES["CL102"].text
    assert run_main("explain", "cl104", cwd=tmp_path).stdout == PAGES["CL104"].text


def test_explain_renders_markdown_on_a_terminal() -> None:
    out = io.StringIO()
    render_page(Console(file=out, force_terminal=True, width=100), find_page("CL101"))
    text = out.getvalue()
    assert "\x1b[" in text  # styled
    assert "CL101: lock-order-inversion" in text and "Why is this bad?" in text
    assert "```" not in text and "## " not in text


def test_explain_unknown_rule(tmp_path: Path) -> None:
    result = run_main("explain", "lock-order", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("conclint: error: unknown rule `lock-order` (did you "
                                     "mean `lock-order-inversion`?); `conclint rules` lists "
                                     "them all")


def test_rules_table_and_json(tmp_path: Path) -> None:
    result = run_main("rules", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["code", "name", "family", "default", "severity"]
    assert len(lines) == len(RULES) + 1
    cl004 = next(line for line in lines if line.startswith("CL004"))
    assert cl004.split()[:2] == ["CL004", "unused-suppression"]
    assert "the tool itself" in cl004 and " off " in cl004 and "warning" in cl004
    rows = json.loads(run_main("rules", "--format", "json", cwd=tmp_path).stdout)
    assert [r["code"] for r in rows] == list(RULES)
    assert rows[list(RULES).index("CL101")] == {
        "code": "CL101", "name": "lock-order-inversion", "family": "deadlocks and lock misuse",
        "default": True, "severity": "error", "summary": RULES["CL101"].summary,
        "url": "https://github.com/conclint/conclint/blob/main/rules/CL101.md"}


def test_subcommands_go_through_the_installed_command(tmp_path: Path) -> None:
    result = run("rules", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0 and json.loads(result.stdout)[0]["code"] == "CL001"


@pytest.fixture()
def cycle(tmp_path: Path) -> Path:
    (tmp_path / "locks.py").write_text(DEADLOCK + "\n\nC = threading.Lock()\n\n\ndef third():\n"
                                       "    with A:\n        with C:\n            pass\n")
    return tmp_path


def test_graph_json(cycle: Path) -> None:
    result = run_main("graph", "--format", "json", "locks.py", cwd=cycle)
    assert result.returncode == 0
    graph = json.loads(result.stdout)
    assert [(n["name"], n["path"], n["line"], n["in_cycle"]) for n in graph["nodes"]] == [
        ("locks.A", "locks.py", 3, True), ("locks.B", "locks.py", 4, True),
        ("locks.C", "locks.py", 19, False)]
    assert [(e["source"], e["target"], e["line"], e["in_cycle"]) for e in graph["edges"]] == [
        ("locks.A", "locks.B", 9, True), ("locks.A", "locks.C", 24, False),
        ("locks.B", "locks.A", 15, True)]


def test_graph_dot_highlights_cycles_in_red(cycle: Path) -> None:
    dot = run_main("graph", "locks.py", cwd=cycle).stdout
    assert dot.startswith("digraph locks {")
    assert '"locks.A" [label="locks.A\\nthreading.Lock at locks.py:3", color="#d00000"' in dot
    assert '"locks.C" [label="locks.C\\nthreading.Lock at locks.py:19"];' in dot
    assert '"locks.A" -> "locks.B" [label="locks.py:9", color="#d00000"' in dot
    assert '"locks.A" -> "locks.C" [label="locks.py:24"];' in dot
    if shutil.which("dot"):
        rendered = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        assert rendered.returncode == 0 and "<svg" in rendered.stdout


def test_graph_mermaid_has_a_cycle_class(cycle: Path) -> None:
    mermaid = run_main("graph", "--format", "mermaid", "locks.py", cwd=cycle).stdout
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  n0["locks.A<br/>threading.Lock at locks.py:3"]' in lines
    assert '  n0 -->|"locks.py:9"| n1' in lines
    assert "  class n0,n1 cycle" in lines
    assert "  linkStyle 0,2 stroke:#d00000,stroke-width:2px,color:#d00000" in lines


def test_graph_usage_error(tmp_path: Path) -> None:
    result = run_main("graph", "missing", cwd=tmp_path)
    assert result.returncode == 2 and "missing: no such file or directory" in result.stderr


def test_readme_picture_shows_the_demo_graph() -> None:
    svg = (ROOT / "docs" / "demo-lock-graph.svg").read_text(encoding="utf-8")
    graph = json.loads(run_main("graph", "--format", "json", "fixtures/demo", cwd=ROOT).stdout)
    for node in graph["nodes"]:
        assert node["name"] in svg and f"{node['path']}:{node['line']}" in svg
    for edge in graph["edges"]:
        assert f"{edge['path']}:{edge['line']}" in svg
    assert "docs/demo-lock-graph.svg" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert FIXTURES.joinpath("demo").is_dir()
