"""Turn the ordinals (``Loc``) of reported nodes back into lines and columns.

Extraction numbers nodes instead of computing positions, because even a lean position
pass (``conclint.positions``) costs about as much as the parse. Only files that appear in
a report are parsed again here, walked by the same walker so that the numbering is
identical, and positioned; both passes stop once the reported nodes are done with.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable

from conclint.extract.cache import FactsCache
from conclint.extract.compiler import REFUSALS, compiler_tree
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
    from conclint.extract.decode import read_source

    text = read_source(path)
    if isinstance(text, FileError):
        return {}
    runs = _statement_runs(text) if wanted else None
    found = _Numbering(path, module, is_package, wanted).by_runs(runs) if runs else None
    if found is None:
        found = _Numbering(path, module, is_package, wanted).by_runs([(1, text)])
    return found or {}


class _Numbering:
    """Walks source text as extraction did, to find the nodes behind ordinals."""

    def __init__(self, path: str, module: str, is_package: bool,
                 wanted: Collection[Loc] | None) -> None:
        import libcst as cst  # only for files with findings

        from conclint.extract.walker import ModuleWalker

        self._definitions = (cst.FunctionDef, cst.ClassDef)  # located by their names
        self.path = path
        self.wanted = wanted
        self.nodes: list[object] = []  # by ordinal - 1
        self.walker = ModuleWalker(path, module, is_package, on_number=self._number)
        self._last = max(wanted, default=0) if wanted is not None else None

    def _number(self, node: object) -> None:
        if type(node) in self._definitions:
            node = node.name  # type: ignore[attr-defined]
        self.nodes.append(node)
        if len(self.nodes) == self._last:
            raise _Numbered

    def by_runs(self, runs: list[tuple[int, str]]) -> dict[Loc, Span] | None:
        """Parse and walk ``runs`` of whole top-level statements (first line, text) in
        order, numbering on across them, until the last wanted node; None when a run does
        not parse (the cut was wrong: the caller parses the whole file instead)."""
        from conclint.extract.source import parse_source
        from conclint.positions import positions

        spans: dict[Loc, Span] = {}
        for index, (first_line, text) in enumerate(runs):
            tree = parse_source(self.path, text)
            if isinstance(tree, FileError):
                return None if len(runs) > 1 else {}
            if index == 0:
                self.walker.begin(tree.body)
            before = len(self.nodes)
            finished = False
            try:
                finished = not self.walker.walk_more(tree.body)
            except _Numbered:
                finished = True
            numbered = range(before + 1, len(self.nodes) + 1)  # in this run
            locs = numbered if self.wanted is None else [n for n in self.wanted if n in numbered]
            here = {loc: self.nodes[loc - 1] for loc in locs}
            if here:
                ranges = positions(tree, here.values() if self.wanted is not None else None)
                shift = first_line - 1
                for loc, node in here.items():
                    if node in ranges:
                        (line, column), (end_line, end_column) = ranges[node]
                        spans[loc] = Span(line + shift, column + 1, end_line + shift,
                                          end_column + 1)
            if finished:
                break
        return spans


_RUN_CHARS = 16_384  # about 30 ms of parsing: the most parsed beyond the last wanted node


def _statement_runs(text: str) -> list[tuple[int, str]] | None:
    """``text`` cut between top-level statements into runs of about ``_RUN_CHARS``, as
    (first line, text); None when there is nothing to gain or the cut cannot be trusted:
    a short file, carriage returns (line numbering), or code the compiler's parser
    rejects."""
    if len(text) <= 2 * _RUN_CHARS or "\r" in text:
        return None
    try:
        tree = compiler_tree(text, "<locate>")
    except (SyntaxError, *REFUSALS):
        return None
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
    ends: list[int] = []  # the last line of each statement as libcst sees them
    for stmt in tree.body:
        end = stmt.end_lineno or stmt.lineno
        if ends and stmt.lineno == ends[-1]:  # ``a = 1; b = 2``: one statement line
            ends[-1] = max(ends[-1], end)
        else:
            ends.append(end)
    runs: list[tuple[int, str]] = []
    first = 1
    for end in ends[:-1]:
        start, stop = line_starts[first - 1], line_starts[min(end, len(line_starts) - 1)]
        if stop - start >= _RUN_CHARS:
            runs.append((first, text[start:stop]))
            first = end + 1
    runs.append((first, text[line_starts[first - 1]:]))
    return runs if len(runs) > 1 else None


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
        running = pool.live_workers if pool is not None else 0
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
