"""Stable identities of findings, for SARIF ``partialFingerprints`` and the baseline.

A fingerprint must survive unrelated edits that shift line numbers, so it hashes what
the finding is about, never where it is: the rule, the normalised text of the flagged
line(s) and the name of the enclosing function or class.
"""

from __future__ import annotations

import hashlib

from conclint.diagnostics import Diagnostic
from conclint.source import Sources, enclosing_scope

MAX_LINES = 5  # a finding spanning a whole block is identified by its first lines


def flagged_text(d: Diagnostic, lines: list[str]) -> str:
    """The flagged lines with all runs of whitespace collapsed (indentation changes too)."""
    last = min(d.end_line, d.line + MAX_LINES - 1, len(lines))
    return " ".join(" ".join(lines[i - 1].split()) for i in range(d.line, last + 1))


def fingerprint(d: Diagnostic, sources: Sources, where: str = "") -> str:
    """A hex digest of code, rule name, ``where`` (e.g. a normalised path), scope and text."""
    lines = sources.lines(d.path)
    parts = (d.code, d.name, where, enclosing_scope(lines, d.line), flagged_text(d, lines))
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]
