"""Output formats against their specs: SARIF 2.1.0 (schema), GitHub workflow commands,
``--output``, ``--statistics``, ``--quiet`` and the progress bar."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from conclint.catalog import load_pages
from conclint.checks.registry import RULES
from conclint.diagnostics import Diagnostic, Related
from conclint.report.github import command, escape_data, escape_property
from tests.helpers import ROOT, run_main
from tests.test_cli import conclint_command, project  # noqa: F401
from tests.test_cli import run as run_installed


def run(*args: str, cwd: Path):
    return run_main(*args, cwd=cwd)

SCHEMA = ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def sarif_schema() -> dict:
    if not SCHEMA.parent.is_dir():
        pytest.skip(f"{SCHEMA.parent} is absent")
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def validate_sarif(text: str) -> dict:
    jsonschema = pytest.importorskip("jsonschema")
    log = json.loads(text)
    schema = sarif_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(log)
    return log


def test_sarif_with_findings_is_valid_and_complete(project: Path) -> None:
    result = run_installed("--format", "sarif", "bad.py", cwd=project)
    assert result.returncode == 1
    log = validate_sarif(result.stdout)
    assert log["version"] == "2.1.0"
    [run_] = log["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "conclint"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    pages = load_pages()
    cl101 = rules[list(RULES).index("CL101")]
    assert cl101["name"] == "lock-order-inversion"
    assert cl101["shortDescription"]["text"] == RULES["CL101"].summary
    assert cl101["fullDescription"]["text"] == pages["CL101"].sections["What it does"].strip()
    assert cl101["helpUri"] == "https://github.com/conclint/conclint/blob/main/rules/CL101.md"
    assert cl101["defaultConfiguration"]["level"] == "error"
    assert rules[list(RULES).index("CL104")]["defaultConfiguration"]["level"] == "warning"

    [res] = run_["results"]
    assert (res["ruleId"], res["level"]) == ("CL101", "error")
    assert rules[res["ruleIndex"]]["id"] == "CL101"
    assert res["message"]["text"].startswith("lock-order inversion")
    [location] = res["locations"]
    assert location["physicalLocation"]["artifactLocation"] == {
        "uri": "bad.py", "uriBaseId": "%SRCROOT%"}
    assert location["physicalLocation"]["region"] == {
        "startLine": 9, "startColumn": 14, "endLine": 9, "endColumn": 15}
    related = res["relatedLocations"]
    assert [(r["id"], r["physicalLocation"]["region"]["startLine"]) for r in related] == [
        (1, 8), (2, 9), (3, 14), (4, 15)]
    assert related[0]["message"]["text"] == "holds `bad.A`"
    [flow] = res["codeFlows"]
    [thread] = flow["threadFlows"]
    assert [step["location"]["physicalLocation"]["region"]["startLine"]
            for step in thread["locations"]] == [8, 9, 14, 15]
    assert set(res["partialFingerprints"]) == {"conclint/v1"}


def test_sarif_without_findings_is_valid(project: Path) -> None:
    result = run("--format", "sarif", "good.py", cwd=project)
    assert result.returncode == 0
    log = validate_sarif(result.stdout)
    assert log["runs"][0]["results"] == []
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(RULES)


def test_sarif_fingerprints_ignore_line_shifts_but_not_the_code(project: Path) -> None:
    def fingerprint() -> str:
        log = json.loads(run("--format", "sarif", "bad.py", cwd=project).stdout)
        [res] = log["runs"][0]["results"]
        return res["partialFingerprints"]["conclint/v1"]

    before = fingerprint()
    source = (project / "bad.py").read_text()
    (project / "bad.py").write_text('"""Moved down."""\n\nimport os\n' + source)
    assert fingerprint() == before
    (project / "bad.py").write_text(source.replace("def forward", "def forward_pass"))
    assert fingerprint() != before


def test_sarif_validates_with_parse_errors_and_warnings(project: Path) -> None:
    (project / "broken.py").write_text("def f(:\n    pass\n")
    (project / "slow.py").write_text(
        "import threading, time\nL = threading.Lock()\n\n\ndef f():\n    with L:\n"
        "        time.sleep(1)\n")
    result = run("--format", "sarif", ".", cwd=project)
    log = validate_sarif(result.stdout)
    levels = {(r["ruleId"], r["level"]) for r in log["runs"][0]["results"]}
    assert levels == {("CL101", "error"), ("CL001", "error"), ("CL104", "warning")}


def test_github_annotations(project: Path) -> None:
    (project / "slow.py").write_text(
        "import threading, time\nL = threading.Lock()\n\n\ndef f():\n    with L:\n"
        "        time.sleep(1)\n")
    result = run("--format", "github", ".", cwd=project)
    assert result.returncode == 1
    first, second = result.stdout.splitlines()
    assert first.startswith("::error file=bad.py,line=9,col=14,endLine=9,endColumn=14,"
                            "title=CL101 lock-order-inversion::lock-order inversion: ")
    assert "%0A  bad.py:8:10: holds `bad.A`%0A  bad.py:9:14: acquires `bad.B`" in first
    assert second.startswith("::warning file=slow.py,line=7,col=9,endLine=7,endColumn=21,"
                             "title=CL104 blocking-call-under-lock::`time.sleep()` ")


def test_github_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert escape_property("dir:a,b%\n") == "dir%3Aa%2Cb%25%0A"
    d = Diagnostic("CL104", "blocking-call-under-lock", "warning", "odd:dir,x/a%.py", 3, 5,
                   3, 9, "50% of\nthe time", (Related("b.py", 1, 2, "held: here"),))
    assert command(d) == (
        "::warning file=odd%3Adir%2Cx/a%25.py,line=3,col=5,endLine=3,endColumn=8,"
        "title=CL104 blocking-call-under-lock::50%25 of%0Athe time%0A  b.py:1:2: held: here")


def test_output_file_gets_the_report_and_the_terminal_the_summary(project: Path) -> None:
    result = run("--format", "json", "--output", "report.json", "bad.py", cwd=project)
    assert result.returncode == 1
    payload = json.loads((project / "report.json").read_text())
    assert payload["summary"] == {"files": 1, "diagnostics": 1}
    assert result.stdout.splitlines() == [
        "", "      1  CL101 lock-order-inversion", "Found 1 issue in 1 file.",
        "Report written to report.json."]
    text = run("--output", "report.txt", "bad.py", cwd=project)
    assert text.returncode == 1
    written = (project / "report.txt").read_text()
    assert written.startswith("bad.py:9:14: CL101 lock-order inversion")
    assert "\x1b[" not in written
    assert "bad.py:9:14" not in text.stdout


def test_output_to_an_unwritable_place_is_a_usage_error(project: Path) -> None:
    result = run("--output", "missing/dir/report.txt", "bad.py", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("conclint: error: missing/dir/report.txt: cannot write")


def test_statistics_and_quiet(project: Path) -> None:
    (project / "slow.py").write_text(
        "import threading, time\nL = threading.Lock()\n\n\ndef f():\n    with L:\n"
        "        time.sleep(1)\n        time.sleep(2)\n")
    stats = run("--statistics", ".", cwd=project)
    assert stats.returncode == 1
    assert stats.stdout.splitlines() == [
        "    2  CL104  blocking-call-under-lock",
        "    1  CL101  lock-order-inversion",
        "Found 3 issues in 3 files."]
    as_json = json.loads(run("--statistics", "--format", "json", ".", cwd=project).stdout)
    assert as_json == [{"code": "CL104", "name": "blocking-call-under-lock", "count": 2},
                       {"code": "CL101", "name": "lock-order-inversion", "count": 1}]
    assert run("--statistics", "--format", "sarif", ".", cwd=project).returncode == 2
    quiet = run("--quiet", "bad.py", cwd=project)
    assert quiet.returncode == 1
    assert quiet.stdout.splitlines()[0].startswith("bad.py:9:14: CL101")
    assert "Found" not in quiet.stdout and quiet.stderr == ""
    clean = run("--quiet", "good.py", cwd=project)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")


def run_with_tty_stderr(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run conclint with stderr on a pseudo-terminal; returns (exit, stdout, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*conclint_command(), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "NO_COLOR": "1"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    stdout = proc.stdout.read().decode()
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, stdout, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    for index in range(30):
        (tmp_path / f"m{index}.py").write_text(f"X = {index}\n")
    code, stdout, stderr = run_with_tty_stderr(["--no-project", "."], tmp_path)
    assert code == 0 and "No concurrency issues found in 30 files." in stdout
    assert "conclint: analysing" in stderr and "30/30" in stderr
    code, _, stderr = run_with_tty_stderr(["--quiet", "."], tmp_path)
    assert code == 0 and "analysing" not in stderr
    piped = run_installed(".", cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""
