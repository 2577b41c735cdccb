"""Named files in a project: the whole project is analysed, findings are filtered to them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_main

REGISTRY = '''\
import threading

from pkg import metrics

REGISTRY_LOCK = threading.Lock()
BEST = {}


def save(step):
    with REGISTRY_LOCK:
        metrics.record(step)


def mark_best(step):
    with REGISTRY_LOCK:
        BEST["step"] = step
'''

METRICS = '''\
import threading

from pkg import registry

LOCK = threading.Lock()
VALUES = []


def record(step):
    with LOCK:
        VALUES.append(step)


def log(step):
    with LOCK:
        registry.mark_best(step)
'''

SLOW = '''\
import threading
import time

L = threading.Lock()


def poll():
    with L:
        time.sleep(1)
'''


def make_project(root: Path, config: str = "") -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n" + config)
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "registry.py").write_text(REGISTRY)
    (pkg / "metrics.py").write_text(METRICS)
    (pkg / "slow.py").write_text(SLOW)
    return root


def findings(result) -> list[tuple[str, int, str]]:
    return [(d["path"], d["line"], d["code"]) for d in json.loads(result.stdout)["diagnostics"]]


def test_named_file_sees_a_cross_file_cycle_and_only_its_findings(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    for named in ("pkg/registry.py", "pkg/metrics.py"):
        result = run_main("--format", "json", named, cwd=project)
        assert result.returncode == 1
        # one cycle, reported at its first site; either file's change can cause it
        assert findings(result) == [("pkg/metrics.py", 16, "CL101")]
        payload = json.loads(result.stdout)
        assert payload["summary"]["files"] == 1
        related = {r["path"] for r in payload["diagnostics"][0]["related"]}
        assert related == {"pkg/metrics.py", "pkg/registry.py"}
    # the CL104 in pkg/slow.py is not in the named files
    assert findings(run_main("--format", "json", "pkg/slow.py", cwd=project)) == [
        ("pkg/slow.py", 9, "CL104")]


def test_no_project_analyses_only_the_named_files(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = run_main("--no-project", "--format", "json", "pkg/registry.py", cwd=project)
    assert (result.returncode, findings(result)) == (0, [])


def test_directories_are_taken_as_given(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "pkg" / "sub").mkdir()
    (project / "pkg" / "sub" / "clean.py").write_text("X = 1\n")
    result = run_main("--format", "json", "pkg/sub", cwd=project)
    assert json.loads(result.stdout)["summary"] == {"files": 1, "diagnostics": 0}


def test_src_limits_the_project(tmp_path: Path) -> None:
    project = make_project(tmp_path, "[tool.conclint]\nsrc = ['other']\n")
    (project / "other").mkdir()
    (project / "other" / "x.py").write_text("X = 1\n")
    # pkg/metrics.py is outside `src`: the cycle cannot be seen from registry.py alone
    result = run_main("--format", "json", "pkg/registry.py", cwd=project)
    assert findings(result) == []
    (project / "pyproject.toml").write_text("[tool.conclint]\nsrc = ['pkg']\n")
    result = run_main("--format", "json", "pkg/registry.py", cwd=project)
    assert findings(result) == [("pkg/metrics.py", 16, "CL101")]


def test_force_exclude_applies_exclude_to_named_files(tmp_path: Path) -> None:
    project = make_project(tmp_path, "[tool.conclint]\nexclude = ['pkg/slow.py']\n")
    named = run_main("--format", "json", "pkg/slow.py", cwd=project)
    assert findings(named) == [("pkg/slow.py", 9, "CL104")]
    forced = run_main("--force-exclude", "--format", "json", "pkg/slow.py", cwd=project)
    assert forced.returncode == 0
    assert json.loads(forced.stdout)["summary"] == {"files": 0, "diagnostics": 0}


def test_per_file_ignores_are_relative_to_the_project_root(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, "[tool.conclint.per-file-ignores]\n'pkg/slow.py' = ['blocking-call-under-lock']\n")
    result = run_main("--format", "json", ".", cwd=project)
    assert findings(result) == [("pkg/metrics.py", 16, "CL101")]
    from_elsewhere = run_main("--format", "json", str(project / "pkg"), cwd=tmp_path.parent)
    assert [code for _, _, code in findings(from_elsewhere)] == ["CL101"]
