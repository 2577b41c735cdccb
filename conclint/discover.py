"""Stage 1: expand the command-line paths into the Python files to analyse."""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".eggs",
    "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".conclint_cache", "site-packages",
})


class UsageError(Exception):
    """A problem with how conclint was invoked (exit code 2)."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # as the user would write it: relative paths stay relative
    module: str  # dotted module name, from the enclosing packages (``__init__.py`` chain)
    is_package: bool


def module_name(path: str) -> tuple[str, bool]:
    """``pkg/sub/mod.py`` -> ``("pkg.sub.mod", False)`` when pkg and sub are packages."""
    absolute = os.path.abspath(path)
    directory, filename = os.path.split(absolute)
    stem = filename[:-3] if filename.endswith(".py") else filename
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, name = os.path.split(directory)
        parts.append(name)
        if not name:
            break
    parts.reverse()
    return ".".join(p for p in parts if p) or stem, is_package


def _excluded(path: str, patterns: tuple[str, ...]) -> bool:
    normalised = path.replace(os.sep, "/").removeprefix("./")
    name = os.path.basename(normalised)
    return any(
        fnmatch.fnmatch(normalised, p) or fnmatch.fnmatch(name, p)
        or fnmatch.fnmatch(normalised, p.rstrip("/") + "/*")
        for p in patterns
    )


def _is_virtualenv(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "pyvenv.cfg"))


def discover(paths: list[str], exclude: tuple[str, ...] = ()) -> list[SourceFile]:
    """Every ``.py`` file under ``paths``, sorted; named files are always included."""
    found: dict[str, SourceFile] = {}
    for given in paths:
        if not os.path.lexists(given):
            raise UsageError(f"{given}: no such file or directory")
        if os.path.isdir(given):
            for path in _walk(given, exclude):
                found.setdefault(os.path.normpath(path), _source(path))
        else:
            found.setdefault(os.path.normpath(given), _source(given))
    return sorted(found.values(), key=lambda f: f.path)


def _source(path: str) -> SourceFile:
    module, is_package = module_name(path)
    return SourceFile(os.path.normpath(path), module, is_package)


def _walk(root: str, exclude: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for directory, dirnames, filenames in os.walk(root, onerror=None):
        kept = []
        for name in sorted(dirnames):
            full = os.path.join(directory, name)
            if name in SKIPPED_DIRS or name.endswith(".egg-info") or _is_virtualenv(full):
                continue
            if os.path.islink(full) or _excluded(full, exclude):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            full = os.path.join(directory, name)
            if not name.endswith(".py") or _excluded(full, exclude):
                continue
            try:
                mode = os.stat(full).st_mode
            except OSError:
                out.append(full)  # reported as unreadable by extraction
                continue
            if stat.S_ISREG(mode):
                out.append(full)
    return out


def path_matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``path`` matches a glob as ``exclude`` does: the whole path, the file name,
    or a directory prefix (``tests/`` and ``tests`` match ``tests/a.py``)."""
    return _excluded(path, patterns)
