"""A non-editable install ships the rule pages (``conclint explain`` reads them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import ROOT, RULES_DIR


def test_wheel_contains_every_rule_page(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "conclint", source / "conclint", symlinks=True, ignore=ignore)
    shutil.copytree(RULES_DIR, source / "rules")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("conclint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = {f"conclint/rules/{page.name}" for page in RULES_DIR.glob("CL*.md")}
    assert pages and pages <= names
