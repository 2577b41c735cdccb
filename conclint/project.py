"""Which files to analyse, and which to report on.

Lock orders cross files: a cycle between ``a.py`` and ``b.py`` is only visible when both
are analysed. So when files are named explicitly (as pre-commit does with the changed
files) and they belong to a project (the directory of the ``pyproject.toml`` the
configuration came from), the whole project is analysed — its ``src`` directories, or
the project root — but only findings located in the named files are reported.
Directories given on the command line are taken as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from conclint.config import Config
from conclint.discover import SourceFile, discover, path_matches


@dataclass(frozen=True)
class Scope:
    files: list[SourceFile]  # analysed
    reported: list[SourceFile]  # findings located elsewhere are dropped

    @property
    def restricted(self) -> bool:
        return len(self.reported) != len(self.files)


def _display(path: str) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative == ".." or relative.startswith(".." + os.sep) else relative


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), root]) == root


def resolve_scope(paths: list[str], config: Config, *, widen: bool = True,
                  force_exclude: bool = False) -> Scope:
    """The files to analyse and to report on for the command-line ``paths``."""
    if force_exclude:
        paths = [p for p in paths if os.path.isdir(p) or not path_matches(p, config.exclude)]
    given = discover(paths, config.exclude) if paths else []
    root = config.root
    named_in_project = root is not None and any(
        os.path.isfile(p) and _inside(p, root) for p in paths)
    if not widen or not named_in_project:
        return Scope(given, given)
    assert root is not None
    roots = [_display(os.path.join(root, s)) for s in config.src] or [_display(root)]
    merged = {os.path.abspath(f.path): f for f in discover(roots, config.exclude)}
    merged.update((os.path.abspath(f.path), f) for f in given)
    return Scope(sorted(merged.values(), key=lambda f: f.path), given)
