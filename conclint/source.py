"""Source text of the analysed files, for the stages after the checks.

Suppression comments, fingerprints (SARIF, baseline) and the pre-commit filter need the
text of a few files again; the facts do not keep it. Each file is read at most once per
run, decoded exactly as extraction decodes it.
"""

from __future__ import annotations

import re

_SCOPE = re.compile(r"^([ \t]*)(?:async[ \t]+def|def|class)[ \t]+(\w+)")


class Sources:
    """Lazily read, decoded source files of one run (``None`` when unreadable)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes | None] = {}
        self._lines: dict[str, list[str]] = {}

    def data(self, path: str) -> bytes | None:
        if path not in self._data:
            try:
                with open(path, "rb") as handle:
                    self._data[path] = handle.read()
            except OSError:
                self._data[path] = None
        return self._data[path]

    def text(self, path: str) -> str | None:
        from conclint.extract.decode import decode_source

        data = self.data(path)
        if data is None:
            return None
        text = decode_source(path, data)
        return text if isinstance(text, str) else data.decode("utf-8", "replace")

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            text = self.text(path)
            self._lines[path] = text.splitlines() if text is not None else []
        return self._lines[path]


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def enclosing_scope(lines: list[str], line: int) -> str:
    """``Class.method`` around 1-based ``line``, found by scanning upwards for less-indented
    ``def``/``class`` lines ("" at module level). A heuristic, good enough for a fingerprint."""
    if not 1 <= line <= len(lines):
        return ""
    names: list[str] = []
    limit = _indent(lines[line - 1])
    for index in range(line - 2, -1, -1):
        text = lines[index]
        stripped = text.strip()
        if limit == 0:
            break
        if not stripped or stripped.startswith(("#", "@", ")", "]", "}")):
            continue
        indent = _indent(text)
        if indent >= limit:
            continue
        match = _SCOPE.match(text)
        if match is not None:
            names.append(match.group(2))
        limit = indent
    return ".".join(reversed(names))
