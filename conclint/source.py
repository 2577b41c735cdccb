"""Source text of the analysed files, for the stages after the checks.

Suppression comments, fingerprints (SARIF, baseline) and the pre-commit filter need the
text of a few files again; the facts do not keep it. Each file is read at most once per
run, decoded exactly as extraction decodes it.
"""

from __future__ import annotations

import re

_NEWLINE = re.compile(r"\r\n|\r|\n")
_SCOPE = re.compile(r"^([ \t]*)(?:async[ \t]+def|def|class)[ \t]+(\w+)")


class Sources:
    """Lazily read, decoded source files of one run (``None`` when unreadable)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes | None] = {}
        self._lines: dict[str, list[str]] = {}

    def data(self, path: str) -> bytes | None:
        if path not in self._data:
            self._data[path] = self.peek(path)
        return self._data[path]

    def peek(self, path: str) -> bytes | None:
        """The file's bytes, kept only if they were already: a look at every file of a
        run (for suppression comments) must not hold them all at once."""
        if path in self._data:
            return self._data[path]
        from conclint.extract.decode import read_bytes

        data = read_bytes(path)  # refuses FIFOs and devices: never blocks
        return data if isinstance(data, bytes) else None

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
            self._lines[path] = split_lines(text) if text is not None else []
        return self._lines[path]


def split_lines(text: str) -> list[str]:
    """Lines as Python numbers them: ended by ``\n``, ``\r\n`` or ``\r`` only.

    ``str.splitlines`` also splits at form feeds, ``\x1c``-``\x1e``, ``\x85`` and
    ``\u2028``/``\u2029``, which may appear in source (a form feed between sections, a
    separator inside a string) and would shift every line after them."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


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
