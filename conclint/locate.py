"""Turn the ordinals (``Loc``) of reported nodes back into lines and columns.

Extraction numbers nodes instead of computing positions, because even a lean position
pass (``conclint.positions``) costs about as much as the parse. Only files that appear in
a report are parsed again here, walked by the same walker so that the numbering is
identical, and positioned; both passes stop once the reported nodes are done with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from conclint.extract.cache import FactsCache
from conclint.extract.decode import file_size
from conclint.extract.facts import FileError, Loc, Span
from conclint.extract.pool import Pool
from conclint.extract.stack import on_big_stack

_START = Span(1, 1, 1, 1)
_IN_PROCESS = 4  # fewer files than this are located here when no worker is running


class _Numbered(Exception):
    """Raised through the walker once the last wanted ordinal has been given out."""


def _spans_of_file(path: str, module: str, is_package: bool,
                   wanted: Collection[Loc] | None = None) -> dict[Loc, Span]:
    """The spans of the nodes numbered ``wanted`` (None: of every numbered node)."""
    import libcst as cst  # only for files with findings

    from conclint.extract.decode import read_source
    from conclint.extract.source import parse_source
    from conclint.extract.walker import ModuleWalker
    from conclint.positions import positions

    text = read_source(path)
    if isinstance(text, FileError):
        return {}
    tree = parse_source(path, text)
    if isinstance(tree, FileError):
        return {}
    last = max(wanted, default=0) if wanted is not None else None
    nodes: dict[Loc, cst.CSTNode] = {}

    def number(node: cst.CSTNode) -> None:
        loc = len(nodes) + 1
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            node = node.name
        nodes[loc] = node
        if loc == last:
            raise _Numbered

    try:
        ModuleWalker(path, module, is_package, on_number=number).walk(tree)
    except _Numbered:
        pass
    if wanted is not None:
        nodes = {loc: nodes[loc] for loc in wanted if loc in nodes}
    ranges = positions(tree, nodes.values() if wanted is not None else None)
    spans = {}
    for loc, node in nodes.items():
        if node in ranges:
            (line, column), (end_line, end_column) = ranges[node]
            spans[loc] = Span(line, column + 1, end_line, end_column + 1)
    return spans


class Locator:
    """Spans by (path, ordinal). ``prepare`` locates the reported nodes of many files at
    once; ``span`` locates a file it was not prepared for in full, on demand."""

    def __init__(
        self, modules: dict[str, tuple[str, bool]], cache: FactsCache | None = None
    ) -> None:
        self._modules = modules  # path -> (module name, is package)
        self._cache = cache
        self._spans: dict[str, dict[Loc, Span]] = {}
        self._complete: set[str] = set()  # files whose every numbered node is in _spans
        self._given_up: set[tuple[str, Loc]] = set()  # sought, not found: shown at line 1

    def span(self, path: str, loc: Loc) -> Span:
        spans = self._known(path)
        if loc not in spans and path not in self._complete and (path, loc) not in self._given_up:
            spans = self._located(path, None)
        return spans.get(loc, _START)

    def prepare(self, sites: Iterable[tuple[str, Loc]], jobs: int,
                pool: Pool | None = None) -> None:
        """Locate these (path, ordinal) sites now, in ``pool``'s workers (or new ones)
        when there are several files to parse."""
        wanted: dict[str, set[Loc]] = defaultdict(set)
        for path, loc in sites:
            wanted[path].add(loc)
        todo: list[tuple[str, set[Loc]]] = []
        for path in sorted(wanted):
            known = self._known(path)
            missing = wanted[path] - known.keys()
            if missing and path not in self._complete:
                todo.append((path, missing))
        running = pool.idle_workers if pool is not None else 0
        if not todo or jobs <= 1 or (len(todo) < _IN_PROCESS and not running):
            for path, missing in todo:
                self._located(path, missing)
            return
        todo.sort(key=lambda item: file_size(item[0]), reverse=True)  # the workers finish together
        jobs_args = [(path, *self._modules.get(path, ("", False)), frozenset(missing))
                     for path, missing in todo]
        located: dict[int, dict[Loc, Span]] = {}

        def done(slot: int, spans: object) -> None:
            located[slot] = spans if isinstance(spans, dict) else {}  # a FileError: line 1

        # Supervised workers: a crash while locating one file costs only its positions.
        # New ones are not forked from this process, which now holds the whole program.
        chunks = [[slot] for slot in range(len(todo))]
        processes = min(jobs, len(todo)) if len(todo) >= _IN_PROCESS else running
        if pool is None:
            with Pool(jobs) as own:
                own.fresh = True
                own.run(jobs_args, chunks, done, task=_spans_of_file, processes=processes)
        else:
            pool.fresh = True
            pool.run(jobs_args, chunks, done, task=_spans_of_file, processes=processes)
        for slot, (path, missing) in enumerate(todo):
            self._store(path, located.get(slot, {}), missing)

    def _known(self, path: str) -> dict[Loc, Span]:
        """What this run or the cache already knows of ``path``'s spans."""
        spans = self._spans.get(path)
        if spans is None:
            spans = self._spans[path] = {}
            cached = self._cached(path)
            if cached is not None:
                spans.update(cached[0])
                if cached[1]:
                    self._complete.add(path)
        return spans

    def _cached(self, path: str) -> tuple[dict[Loc, Span], bool] | None:
        if self._cache is None:
            return None
        key = self._cache.key(path, *self._modules.get(path, ("", False)))
        return self._cache.get_spans(key) if key is not None else None

    def _store(self, path: str, spans: dict[Loc, Span],
               wanted: Collection[Loc] | None) -> dict[Loc, Span]:
        """Keep (and cache) what was located of ``wanted`` (None: every node); a wanted
        node that could not be located is shown at line 1, and not sought again."""
        known = self._known(path)
        known.update(spans)
        if wanted is None:
            self._complete.add(path)
        if self._cache is not None and spans:
            key = self._cache.key(path, *self._modules.get(path, ("", False)))
            if key is not None:
                self._cache.put_spans(key, known, path in self._complete)
        self._given_up.update((path, loc) for loc in wanted or () if loc not in known)
        return known

    def _located(self, path: str, wanted: Collection[Loc] | None) -> dict[Loc, Span]:
        """Locate ``wanted`` (None: every node) of ``path`` here; unlocatable: line 1."""
        known = self._known(path)
        if wanted is None and path in self._complete:
            return known
        module, is_package = self._modules.get(path, ("", False))
        try:
            spans = on_big_stack(_spans_of_file, path, module, is_package, wanted)
        except Exception:  # noqa: BLE001 - an unlocatable step is shown at line 1
            spans = {}
        return self._store(path, spans, wanted)
