"""Small helpers every check uses to build diagnostics."""

from __future__ import annotations

from collections.abc import Iterable

from conclint.analyses.reach import Step
from conclint.checks.registry import RULES
from conclint.diagnostics import Diagnostic, Related
from conclint.extract.facts import Span


def diagnostic(
    code: str, path: str, span: Span, message: str, related: Iterable[Step] = ()
) -> Diagnostic:
    rule = RULES[code]
    return Diagnostic(
        code=code,
        name=rule.name,
        severity=rule.severity,
        path=path,
        line=span.line,
        column=span.column,
        end_line=span.end_line,
        end_column=span.end_column,
        message=message,
        related=tuple(
            Related(s.path, s.span.line, s.span.column, s.message) for s in related
        ),
    )


def short(lock_name: str) -> str:
    """``pkg.mod.Cache._lock`` -> ``Cache._lock`` for messages (related lines carry the rest)."""
    parts = lock_name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else lock_name
