"""The pre-commit hook, for real: a temporary git repository, a commit blocked by a
deadlock, then the fix committed.

``test_commit_is_blocked_then_passes`` installs the hook defined in this checkout's
``.pre-commit-hooks.yaml`` as a ``repo: local`` hook that runs the conclint of this
environment (offline, seconds). ``test_try_repo_with_the_published_manifest`` lets
pre-commit build the hook's own ``language: python`` environment from this checkout,
which needs the package index (about 20 s; twice that with uncommitted changes, for
which try-repo makes a new revision).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.test_cli import conclint_command

yaml = pytest.importorskip("yaml", reason="pre-commit (and PyYAML) come with the test extra")

pytestmark = pytest.mark.precommit

METRICS = '''\
import threading

from app import registry

LOCK = threading.Lock()
VALUES = []


def log(step):
    with LOCK:
        VALUES.append(step)
        registry.mark_best(step)
'''

REGISTRY_BAD = '''\
import threading

from app import metrics

LOCK = threading.Lock()
BEST = {}


def mark_best(step):
    with LOCK:
        BEST["step"] = step


def save(step):
    with LOCK:
        metrics.log(step)
'''

REGISTRY_FIXED = REGISTRY_BAD.replace(
    "def save(step):\n    with LOCK:\n        metrics.log(step)\n",
    "def save(step):\n    metrics.log(step)\n")


def hook_manifest() -> dict:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return hook


def pre_commit() -> list[str]:
    return [sys.executable, "-m", "pre_commit"]


def git_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PRE_COMMIT_HOME": str(home / "pre-commit-home"), "NO_COLOR": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def make_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    env = git_env(tmp_path)
    assert sh(["git", "init", "-q"], repo, env).returncode == 0
    (repo / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (repo / "app" / "__init__.py").write_text("")
    (repo / "app" / "metrics.py").write_text(METRICS)
    return repo, env


def test_the_manifest_defines_the_documented_hook() -> None:
    hook = hook_manifest()
    assert hook["id"] == "conclint"
    assert hook["language"] == "python"
    assert hook["types"] == ["python"]
    assert hook["require_serial"] is True
    assert shlex.split(hook["entry"])[0] == "conclint"


def test_commit_is_blocked_then_passes(tmp_path: Path) -> None:
    repo, env = make_repo(tmp_path)
    hook = hook_manifest()
    entry = shlex.split(hook["entry"])
    local = {**hook, "language": "system",
             "entry": shlex.join([*conclint_command(), *entry[1:]])}
    config = {"repos": [{"repo": "local", "hooks": [local]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    installed = sh([*pre_commit(), "install"], repo, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    sh(["git", "add", "-A"], repo, env)
    first = sh(["git", "commit", "-q", "-m", "metrics"], repo, env)
    assert first.returncode == 0, first.stdout + first.stderr

    # only registry.py is committed, but the cycle runs through metrics.py too
    (repo / "app" / "registry.py").write_text(REGISTRY_BAD)
    sh(["git", "add", "app/registry.py"], repo, env)
    blocked = sh(["git", "commit", "-q", "-m", "registry"], repo, env)
    assert blocked.returncode == 1
    output = blocked.stdout + blocked.stderr
    assert "conclint" in output and "Failed" in output
    assert "CL101 lock-order inversion" in output
    assert "app/metrics.py:10:10: holds `app.metrics.LOCK`" in output
    assert sh(["git", "log", "--oneline"], repo, env).stdout.count("\n") == 1

    (repo / "app" / "registry.py").write_text(REGISTRY_FIXED)
    sh(["git", "add", "app/registry.py"], repo, env)
    passed = sh(["git", "commit", "-q", "-m", "registry, fixed"], repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert sh(["git", "log", "--oneline"], repo, env).stdout.count("\n") == 2


def test_try_repo_with_the_published_manifest(tmp_path: Path) -> None:
    """One run (building the environment is the slow part); the passing case is above."""
    repo, env = make_repo(tmp_path)
    (repo / "app" / "registry.py").write_text(REGISTRY_BAD)
    sh(["git", "add", "-A"], repo, env)
    tried = sh([*pre_commit(), "try-repo", str(ROOT), "conclint", "--files",
                "app/registry.py"], repo, env)
    output = tried.stdout + tried.stderr
    assert tried.returncode == 1, output
    assert "CL101 lock-order inversion" in output
    assert "app/metrics.py:10:10: holds `app.metrics.LOCK`" in output
