"""Turn the ordinals (``Loc``) of reported nodes back into lines and columns.

Extraction numbers nodes instead of computing positions, because even a lean position
pass (``conclint.positions``) costs about as much as the parse. Only files that appear in
a report are parsed again here, with positions, and walked by the same walker so that the
numbering is identical.
"""

from __future__ import annotations

from collections.abc import Iterable

from conclint.extract.cache import FactsCache
from conclint.extract.decode import file_size
from conclint.extract.facts import FileError, Span
from conclint.extract.stack import on_big_stack

_START = Span(1, 1, 1, 1)


def _spans_of_file(path: str, module: str, is_package: bool) -> list[Span]:
    import libcst as cst  # only for files with findings

    from conclint.extract.decode import read_source
    from conclint.extract.source import parse_source
    from conclint.extract.walker import ModuleWalker
    from conclint.positions import positions

    text = read_source(path)
    if isinstance(text, FileError):
        return []
    tree = parse_source(path, text)
    if isinstance(tree, FileError):
        return []
    nodes: list[cst.CSTNode] = []
    ModuleWalker(path, module, is_package, on_number=nodes.append).walk(tree)
    ranges = positions(tree)
    spans = []
    for node in nodes:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            node = node.name
        (line, column), (end_line, end_column) = ranges[node]
        spans.append(Span(line, column + 1, end_line, end_column + 1))
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

    def prepare(self, paths: Iterable[str], jobs: int) -> None:
        """Locate these files now, in parallel when there are several to parse."""
        todo = []
        for path in sorted(set(paths) - set(self._spans)):
            cached = self._cached(path)
            if cached is not None:
                self._spans[path] = cached
            else:
                todo.append(path)
        if jobs <= 1 or len(todo) < 4:
            return  # located one by one, on demand
        from conclint.extract.pool import Pool

        todo.sort(key=file_size, reverse=True)  # the largest first: the workers finish together

        jobs_args = [(p, *self._modules.get(p, ("", False))) for p in todo]
        located: dict[int, list[Span]] = {}

        def done(slot: int, spans: object) -> None:
            located[slot] = spans if isinstance(spans, list) else []  # a FileError: line 1

        # Supervised workers: a crash while locating one file costs only its positions.
        # They are not forked from this process, which now holds the whole program.
        Pool(jobs_args, min(jobs, len(todo)), None, done, _spans_of_file, fresh=True).run(
            [[slot] for slot in range(len(todo))])
        for slot, path in enumerate(todo):
            self._store(path, located.get(slot, []))

    def _cached(self, path: str) -> list[Span] | None:
        if self._cache is None:
            return None
        key = self._cache.key(path, *self._modules.get(path, ("", False)))
        return self._cache.get_spans(key) if key is not None else None

    def _store(self, path: str, spans: list[Span]) -> list[Span]:
        self._spans[path] = spans
        if self._cache is not None and spans:
            key = self._cache.key(path, *self._modules.get(path, ("", False)))
            if key is not None:
                self._cache.put_spans(key, spans)
        return spans

    def _load(self, path: str) -> list[Span]:
        cached = self._cached(path)
        if cached is not None:
            return cached
        module, is_package = self._modules.get(path, ("", False))
        return self._store(path, _located((path, module, is_package)))


def _located(job: tuple[str, str, bool]) -> list[Span]:
    """The spans of one file, or none when it cannot be located (shown at line 1)."""
    try:
        return on_big_stack(_spans_of_file, *job)
    except Exception:  # noqa: BLE001 - an unlocatable step is shown at line 1
        return []
