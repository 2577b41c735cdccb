"""Turn the ordinals (``Loc``) of reported nodes back into lines and columns.

Extraction numbers nodes instead of computing positions, because libcst's position
metadata costs twice the parse. Only files that appear in a report are parsed again here,
with positions, and walked by the same walker so that the numbering is identical.
"""

from __future__ import annotations

from conclint.extract.cache import FactsCache
from conclint.extract.facts import FileError, Span
from conclint.extract.stack import on_big_stack

_START = Span(1, 1, 1, 1)


def _spans_of_file(path: str, module: str, is_package: bool) -> list[Span]:
    import libcst as cst  # only for files with findings
    from libcst.metadata import MetadataWrapper, PositionProvider

    from conclint.extract.decode import read_source
    from conclint.extract.source import parse_source
    from conclint.extract.walker import ModuleWalker

    text = read_source(path)
    if isinstance(text, FileError):
        return []
    tree = parse_source(path, text)
    if isinstance(tree, FileError):
        return []
    nodes: list[cst.CSTNode] = []
    ModuleWalker(path, module, is_package, on_number=nodes.append).walk(tree)
    positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    spans = []
    for node in nodes:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            node = node.name
        where = positions[node]
        spans.append(Span(where.start.line, where.start.column + 1, where.end.line,
                          where.end.column + 1))
    return spans


class Locator:
    """Spans by (path, ordinal); each file is located at most once."""

    def __init__(
        self, modules: dict[str, tuple[str, bool]], cache: FactsCache | None = None
    ) -> None:
        self._modules = modules  # path -> (module name, is package)
        self._cache = cache
        self._spans: dict[str, list[Span]] = {}

    def span(self, path: str, loc: int) -> Span:
        spans = self._spans.get(path)
        if spans is None:
            spans = self._spans[path] = self._load(path)
        if 1 <= loc <= len(spans):
            return spans[loc - 1]
        return _START

    def _load(self, path: str) -> list[Span]:
        module, is_package = self._modules.get(path, ("", False))
        key = self._cache.key(path, module, is_package) if self._cache is not None else None
        if key is not None and self._cache is not None:
            cached = self._cache.get_spans(key)
            if cached is not None:
                return cached
        try:
            spans = on_big_stack(_spans_of_file, path, module, is_package)
        except Exception:  # noqa: BLE001 - an unlocatable step is shown at line 1
            return []
        if key is not None and self._cache is not None and spans:
            self._cache.put_spans(key, spans)
        return spans
