"""The installed ``conclint`` command: output formats, exit codes, usage errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, ROOT

DEADLOCK = """\
import threading

A = threading.Lock()
B = threading.Lock()


def forward():
    with A:
        with B:
            pass


def backward():
    with B:
        with A:
            pass
"""


def conclint_command() -> list[str]:
    script = Path(sys.executable).with_name("conclint")
    found = str(script) if script.exists() else shutil.which("conclint")
    assert found, "the conclint console script is installed"
    return [found]


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None):
    return subprocess.run(
        [*conclint_command(), *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=120,
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "bad.py").write_text(DEADLOCK)
    (tmp_path / "good.py").write_text("import threading\nL = threading.Lock()\n")
    return tmp_path


def test_text_output_and_exit_code(project: Path) -> None:
    result = run("bad.py", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bad.py:9:14: CL101 lock-order inversion")
    assert "        with B:" in lines[1] and lines[2].strip() == "^"
    assert "    bad.py:8:10: holds `bad.A`" in result.stdout
    assert "CL101 lock-order-inversion" in result.stdout
    assert result.stdout.rstrip().endswith("Found 1 issue in 1 file.")


def test_clean_run_exits_zero(project: Path) -> None:
    result = run("good.py", cwd=project)
    assert result.returncode == 0
    assert "No concurrency issues found in 1 file." in result.stdout


def test_json_output_shape(project: Path) -> None:
    result = run("--format", "json", ".", cwd=project)
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert set(payload) == {"version", "diagnostics", "summary"}
    assert payload["summary"] == {"files": 2, "diagnostics": 1}
    [diag] = payload["diagnostics"]
    assert set(diag) == {"code", "name", "severity", "path", "line", "column", "end_line",
                         "end_column", "message", "related"}
    assert (diag["code"], diag["name"], diag["severity"]) == (
        "CL101", "lock-order-inversion", "error")
    assert (diag["path"], diag["line"], diag["column"]) == ("bad.py", 9, 14)
    assert [(r["path"], r["line"]) for r in diag["related"]] == [
        ("bad.py", 8), ("bad.py", 9), ("bad.py", 14), ("bad.py", 15)]


def test_exit_zero_and_ignore(project: Path) -> None:
    assert run("--exit-zero", "bad.py", cwd=project).returncode == 0
    assert run("--ignore", "CL1", "bad.py", cwd=project).returncode == 0
    assert run("--ignore", "lock-order-inversion", "bad.py", cwd=project).returncode == 0
    assert run("--select", "CL102", "bad.py", cwd=project).returncode == 0
    assert run("--select", "CL101", "bad.py", cwd=project).returncode == 1


def test_config_select_and_command_line_wins(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.conclint]\nignore = ['CL101']\n")
    assert run("bad.py", cwd=project).returncode == 0
    assert run("--select", "CL101", "bad.py", cwd=project).returncode == 0  # still ignored
    (project / "pyproject.toml").write_text("[tool.conclint]\nselect = ['CL102']\n")
    assert run("bad.py", cwd=project).returncode == 0
    assert run("--select", "CL1", "bad.py", cwd=project).returncode == 1


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (("--select", "CL999"), None, "unknown rule code or name `CL999`"),
        (("--ignore", "lock-order"), None, "did you mean `lock-order-inversion`?"),
        (("missing_dir",), None, "missing_dir: no such file or directory"),
        ((), "[tool.conclint]\nselct = ['CL1']\n", "unknown key `tool.conclint.selct` (did you mean `select`?)"),
        ((), "[tool.conclint]\nselect = 'CL1'\n", "`tool.conclint.select` must be a list of strings"),
        ((), "[tool.conclint\n", "invalid TOML"),
    ],
)
def test_usage_errors_exit_2(project: Path, args, config, message) -> None:
    if config is not None:
        (project / "pyproject.toml").write_text(config)
    result = run(*args, "bad.py", cwd=project) if args != ("missing_dir",) else run(*args, cwd=project)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_parse_error_is_a_diagnostic_and_the_run_goes_on(project: Path) -> None:
    (project / "broken.py").write_text("def f(:\n    pass\n")
    result = run("--format", "json", ".", cwd=project)
    codes = [(d["path"], d["code"]) for d in json.loads(result.stdout)["diagnostics"]]
    assert codes == [("bad.py", "CL101"), ("broken.py", "CL001")]
    assert result.returncode == 1


def test_python_dash_m_and_demo() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conclint", "--format", "json", str(FIXTURES / "demo")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["summary"]["diagnostics"] >= 3
