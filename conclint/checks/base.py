"""Small helpers every check uses to build diagnostics."""

from __future__ import annotations

from collections.abc import Iterable

from conclint.diagnostics import Finding, Step


def finding(code: str, path: str, loc: int, message: str, related: Iterable[Step] = (),
            severity: str | None = None) -> Finding:
    return Finding(code, path, loc, message, tuple(related), severity)


def short(lock_name: str) -> str:
    """``pkg.mod.Cache._lock`` -> ``Cache._lock`` for messages (related lines carry the rest)."""
    parts = lock_name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else lock_name
