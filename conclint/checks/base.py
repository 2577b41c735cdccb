"""Small helpers every check uses to build diagnostics."""

from __future__ import annotations

from collections.abc import Iterable

from conclint.checks.registry import RULES
from conclint.diagnostics import Diagnostic, Finding, Related, Step
from conclint.extract.facts import Span


def diagnostic(code: str, path: str, span: Span, message: str,
               related: tuple[Related, ...] = (), severity: str | None = None) -> Diagnostic:
    """A located diagnostic, for what is known by position (file errors, suppressions);
    ``severity`` overrides the rule's (``--free-threaded`` raises the data races)."""
    rule = RULES[code]
    return Diagnostic(code, rule.name, severity or rule.severity, path, span.line,
                      span.column, span.end_line, span.end_column, message, related)


def finding(code: str, path: str, loc: int, message: str, related: Iterable[Step] = (),
            severity: str | None = None) -> Finding:
    return Finding(code, path, loc, message, tuple(related), severity)


def short(lock_name: str) -> str:
    """``pkg.mod.Cache._lock`` -> ``Cache._lock`` for messages (related lines carry the rest)."""
    parts = lock_name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else lock_name
