"""The same input gives the same output, byte for byte: across runs and processes (another
hash seed), with one job or several, with the cache cold or warm, and whatever the order
of the paths on the command line."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, run_main

@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture family, copied (relative paths keep the reports comparable)."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(FIXTURES, root / "fixtures")
    return root


def report(corpus: Path, *args: str, fmt: str = "json") -> str:
    ran = run_main("--format", fmt, "--no-project", *args, cwd=corpus)
    assert ran.returncode == 1, ran.stderr
    return ran.stdout


def files_of(corpus: Path) -> list[str]:
    return sorted(str(p.relative_to(corpus)) for p in (corpus / "fixtures").rglob("*.py"))


def test_jobs_cache_and_path_order_do_not_change_a_byte(corpus: Path, tmp_path: Path) -> None:
    reference = report(corpus, "--no-cache", "-j", "1", "fixtures")
    assert reference.count('"code": "CL1') >= 20
    assert report(corpus, "--no-cache", "-j", "1", "fixtures") == reference
    assert report(corpus, "--no-cache", "-j", "2", "fixtures") == reference
    assert report(corpus, "--no-cache", "-j", "7", "fixtures") == reference
    cache = str(tmp_path / "cache")
    cold = report(corpus, "--cache-dir", cache, "fixtures")
    warm = report(corpus, "--cache-dir", cache, "fixtures")  # the whole-run cache
    (corpus / "fixtures" / "demo" / "metrics.py").touch()  # per-file facts, one re-checked
    partly = report(corpus, "--cache-dir", cache, "fixtures")
    assert cold == warm == partly == reference
    names = files_of(corpus)
    random.Random(0).shuffle(names)
    assert report(corpus, "--no-cache", *names) == reference
    families = sorted(str(p.relative_to(corpus)) for p in (corpus / "fixtures").iterdir()
                      if p.is_dir())
    assert report(corpus, "--no-cache", *reversed(families)) == reference


@pytest.mark.parametrize("fmt", ("text", "sarif"))
def test_the_rendered_formats_are_the_same_from_the_cache(corpus: Path, tmp_path: Path,
                                                          fmt: str) -> None:
    """Source excerpts and fingerprints are read again on every run: cold equals warm."""
    cache = str(tmp_path / "cache")
    cold = report(corpus, "--cache-dir", cache, "-j", "1", "fixtures", fmt=fmt)
    assert report(corpus, "--cache-dir", cache, "-j", "2", "fixtures", fmt=fmt) == cold


def test_other_processes_and_hash_seeds_give_the_same_bytes(corpus: Path) -> None:
    """String hashing differs per process: no set or dict order may leak into a report."""
    outputs = set()
    for seed in ("1", "2"):
        ran = subprocess.run(
            [sys.executable, "-m", "conclint", "--no-cache", "--no-project", "--format",
             "sarif", "fixtures"],
            cwd=corpus, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=300)
        assert ran.returncode == 1, ran.stderr
        outputs.add(ran.stdout)
    assert len(outputs) == 1
    assert outputs.pop() == report(corpus, "--no-cache", "fixtures", fmt="sarif").encode()
