"""The baseline round trip: record, shift lines, report only what is new, count what is fixed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_main
from tests.test_cli import DEADLOCK

SLOW = '''\
import threading
import time

LOCK = threading.Lock()


def poll():
    with LOCK:
        time.sleep(1)
        time.sleep(1)
'''


def make_project(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "bad.py").write_text(DEADLOCK)
    (root / "slow.py").write_text(SLOW)
    return root


def test_round_trip_with_line_shifts_duplicates_and_fixes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    written = run_main("--write-baseline", "base.json", ".", cwd=project)
    assert written.returncode == 0
    assert written.stdout.strip() == "Recorded 3 findings in base.json."
    data = json.loads((project / "base.json").read_text())
    assert data["conclint-baseline"] == 1
    assert sorted((f["path"], f["code"], f["count"]) for f in data["findings"]) == [
        ("bad.py", "CL101", 1), ("slow.py", "CL104", 2)]

    # unrelated edits shift every line: nothing is new
    (project / "bad.py").write_text('"""Deadlock demo."""\n\n\n' + DEADLOCK)
    (project / "slow.py").write_text(SLOW.replace("import time\n", "import time\nimport os\n\n"))
    same = run_main("--baseline", "base.json", ".", cwd=project)
    assert same.returncode == 0
    assert same.stdout.splitlines() == [
        "No concurrency issues found in 2 files.", "3 findings in the baseline not shown."]

    # a third identical call is new (the baseline counts two), the moved lines are not
    (project / "slow.py").write_text(SLOW + "        time.sleep(1)\n")
    new = run_main("--format", "json", "--baseline", "base.json", ".", cwd=project)
    assert new.returncode == 1
    payload = json.loads(new.stdout)
    assert [(d["path"], d["line"], d["code"]) for d in payload["diagnostics"]] == [
        ("slow.py", 11, "CL104")]
    assert payload["summary"]["baseline"] == {"matched": 3, "fixed": 0}

    # fixing the deadlock leaves a baseline entry that can go
    (project / "bad.py").write_text(DEADLOCK.replace("    with B:\n        with A:",
                                                     "    with A:\n        with B:"))
    (project / "slow.py").write_text(SLOW)
    fixed = run_main("--baseline", "base.json", ".", cwd=project)
    assert fixed.returncode == 0
    assert fixed.stdout.splitlines()[-2:] == [
        "2 findings in the baseline not shown.",
        "1 fixed finding can be removed from the baseline (rerun with --write-baseline)."]


def test_baseline_paths_are_relative_to_the_baseline_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    assert run_main("--write-baseline", "base.json", ".", cwd=project).returncode == 0
    elsewhere = run_main("--baseline", "proj/base.json", "proj", cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stdout


def test_a_finding_in_another_function_is_new(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    assert run_main("--write-baseline", "base.json", ".", cwd=project).returncode == 0
    (project / "slow.py").write_text(SLOW.replace("def poll", "def poll_forever"))
    result = run_main("--baseline", "base.json", "--format", "json", ".", cwd=project)
    assert [d["line"] for d in json.loads(result.stdout)["diagnostics"]] == [9, 10]


def test_parse_errors_are_never_baselined(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    (project / "broken.py").write_text("def f(:\n")
    written = run_main("--write-baseline", "base.json", ".", cwd=project)
    assert written.returncode == 1
    assert written.stdout.startswith("broken.py:1:")
    assert "Recorded 3 findings in base.json." in written.stdout
    result = run_main("--baseline", "base.json", "--format", "json", ".", cwd=project)
    assert [d["code"] for d in json.loads(result.stdout)["diagnostics"]] == ["CL001"]


def test_a_bad_baseline_file_is_a_usage_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    (project / "base.json").write_text('{"findings": []}')
    result = run_main("--baseline", "base.json", ".", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == ("conclint: error: base.json: not a conclint baseline "
                                     "(format 1); write one with --write-baseline")
    missing = run_main("--baseline", "nope.json", ".", cwd=project)
    assert missing.returncode == 2 and "nope.json: cannot read the baseline" in missing.stderr
