"""Suppression comments, a filter stage after the checks.

Forms (comments are read with ``tokenize``, so a ``#`` inside a string never counts):

- ``# conclint: ignore[CL101, lock-order-inversion]`` and ``# noqa: CL101`` apply to the
  reported line, or to the first line of the (multi-line) statement containing it;
- a bare ``# conclint: ignore`` applies to every rule; a bare ``# noqa`` is left to other
  linters (a comment meant for flake8 must not silence a deadlock);
- ``# conclint: ignore-file[CL3]`` applies to the whole file and must stand before the
  first statement (a module docstring may come first).

Selectors are codes, family prefixes (``CL1``) or rule names. A selector conclint does not
know, or a malformed or misplaced comment, is reported as CL003; with CL004 enabled
(``--warn-unused-ignores``) so is every selector that suppressed nothing.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conclint.checks.base import diagnostic
from conclint.checks.registry import BY_NAME, FAMILIES, RULES
from conclint.config import closest_rule, selector_matches
from conclint.diagnostics import Diagnostic
from conclint.extract.facts import Span
from conclint.source import Sources

if TYPE_CHECKING:
    from conclint.extract.cache import FactsCache

_CONCLINT = re.compile(
    r"#\s*conclint\s*:\s*(?P<word>[\w-]*)(?:\s*\[(?P<codes>[^\]]*)(?P<close>\])?)?")
_NOQA = re.compile(
    r"#\s*(?i:noqa)(?:\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]+)*))?")
_SELECTOR = re.compile(r"[^,\s]+")
# Directives that are not suppressions: contracts read by the extraction (the guarded-by
# annotation on an assignment, checked by CL306).
_ANNOTATIONS = frozenset({"guarded-by"})
_PREFIX = re.compile(r"CL\d{1,2}")
_NON_CODE = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                       tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER})


def known_selector(selector: str) -> bool:
    """A rule code, a rule name, or a family prefix such as ``CL1``/``CL10``."""
    return (selector in RULES or selector in BY_NAME
            or (_PREFIX.fullmatch(selector) is not None and selector[2] in FAMILIES))


def covers(selector: str | None, code: str) -> bool:
    """Whether a suppression selector (None: a bare comment, every rule) covers ``code``."""
    return selector is None or selector_matches(selector, code)


@dataclass(slots=True)
class Directive:
    """One selector of a suppression comment (``selector`` None: every rule)."""

    line: int
    column: int
    end_column: int
    selector: str | None
    whole_file: bool
    used: bool = False


@dataclass(slots=True)
class Comments:
    """What ``tokenize`` tells about one file: its comments and its statements' first lines."""

    comments: list[tuple[int, int, str]] = field(default_factory=list)  # line, 0-based col, text
    first_line: dict[int, int] = field(default_factory=dict)  # line -> its statement's first
    header_end: int = 1 << 30  # first line of the first statement after the docstring

    def to_json(self) -> dict[str, object]:
        """As plain data, the statement lines only where they differ (multi-line ones)."""
        return {"comments": self.comments, "header_end": self.header_end,
                "first_line": [[line, first] for line, first in self.first_line.items()
                               if line != first]}

    @classmethod
    def from_json(cls, data: object) -> Comments | None:
        """What ``to_json`` wrote; None for anything else."""
        try:
            comments = [(int(line), int(column), str(text))
                        for line, column, text in data["comments"]]  # type: ignore[index]
            first_line = {int(line): int(first)
                          for line, first in data["first_line"]}  # type: ignore[index]
            return cls(comments, first_line, int(data["header_end"]))  # type: ignore[index]
        except (TypeError, ValueError, KeyError):
            return None


def scan(text: str) -> Comments:
    """Comments and logical lines of ``text``; a tokenize error keeps what came before it."""
    out = Comments()
    start: int | None = None
    kinds: set[int] = set()
    statements = 0
    try:
        # universal newlines: a file with lone-CR line ends has lines too
        for tok in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if tok.type == tokenize.COMMENT:
                out.comments.append((tok.start[0], tok.start[1], tok.string))
            elif tok.type == tokenize.NEWLINE and start is not None:
                for line in range(start, tok.start[0] + 1):
                    out.first_line[line] = start
                statements += 1
                docstring = statements == 1 and kinds == {tokenize.STRING}
                if not docstring and out.header_end > start:
                    out.header_end = start
                start, kinds = None, set()
            elif tok.type not in _NON_CODE:
                if start is None:
                    start = tok.start[0]
                kinds.add(tok.type)
    except (tokenize.TokenError, SyntaxError):
        pass
    if start is not None and out.header_end > start:
        out.header_end = start
    return out


class FileSuppressions:
    """The suppression comments of one file, and the CL003 problems found in them."""

    def __init__(self, path: str, scanned: Comments) -> None:
        self.path = path
        self.first_line = scanned.first_line
        self.by_line: dict[int, list[Directive]] = {}
        self.whole_file: list[Directive] = []
        self.problems: list[Diagnostic] = []
        for line, column, comment in scanned.comments:
            self._parse(line, column, comment, line < scanned.header_end)

    def directives(self) -> Iterator[Directive]:
        yield from self.whole_file
        for directives in self.by_line.values():
            yield from directives

    def suppresses(self, d: Diagnostic, line_level: bool = True) -> bool:
        """Whether a comment covers ``d``; every covering directive is marked used."""
        lines = {d.line, self.first_line.get(d.line, d.line)} if line_level else set()
        covering = [x for x in self.whole_file if covers(x.selector, d.code)]
        for line in sorted(lines):
            covering += [x for x in self.by_line.get(line, ())
                         if covers(x.selector, d.code)]
        for directive in covering:
            directive.used = True
        return bool(covering)

    def _problem(self, line: int, column: int, end: int, message: str) -> None:
        self.problems.append(
            diagnostic("CL003", self.path, Span(line, column, line, end), message))

    def _parse(self, line: int, column: int, comment: str, in_header: bool) -> None:
        for match in _CONCLINT.finditer(comment):
            word, codes = match.group("word"), match.group("codes")
            at = column + match.start() + 1
            end = column + match.end() + 1
            if word in _ANNOTATIONS:
                continue
            if word not in ("ignore", "ignore-file"):
                self._problem(line, at, end, f"unknown suppression `conclint: {word}`; "
                              "write `conclint: ignore[...]` or `conclint: ignore-file[...]`")
                continue
            if codes is not None and match.group("close") is None:
                self._problem(line, at, end, "suppression comment lacks its closing `]`; "
                              "it suppresses nothing")
                continue
            whole_file = word == "ignore-file"
            if whole_file and not in_header:
                self._problem(line, at, end, "`conclint: ignore-file` works only before the "
                              "first statement of the file; here it suppresses nothing")
                continue
            if codes is not None and not codes.strip():
                self._problem(line, at, end, f"`{word}[]` names no rule; name the rules, "
                              f"or write a bare `conclint: {word}` to suppress every rule")
                continue
            if codes is None:
                self._add(Directive(line, at, end, None, whole_file))
                continue
            self._add_selectors(line, column + match.start("codes"), codes, whole_file)
        for match in _NOQA.finditer(comment):
            codes = match.group("codes")
            if codes is not None:
                self._add_selectors(line, column + match.start("codes"), codes, False,
                                    only_ours=True)

    def _add_selectors(self, line: int, offset: int, codes: str, whole_file: bool,
                       only_ours: bool = False) -> None:
        for part in _SELECTOR.finditer(codes):
            selector = part.group()
            if only_ours and not selector.startswith("CL"):
                continue  # another linter's code in a shared ``# noqa``
            at, end = offset + part.start() + 1, offset + part.end() + 1
            if known_selector(selector):
                self._add(Directive(line, at, end, selector, whole_file))
                continue
            close = closest_rule(selector)
            hint = f" (did you mean `{close}`?)" if close else ""
            self._problem(line, at, end, f"unknown rule `{selector}` in a suppression "
                          f"comment{hint}; it suppresses nothing")

    def _add(self, directive: Directive) -> None:
        if directive.whole_file:
            self.whole_file.append(directive)
        else:
            self.by_line.setdefault(directive.line, []).append(directive)


def load(path: str, sources: Sources, cache: FactsCache | None = None) -> FileSuppressions | None:
    """The file's suppressions; ``None`` (cheaply, without tokenizing) when it has none.
    Tokenizing is slow (pure Python before 3.12), so with a ``cache`` the comments of a
    file are kept by its content, like its facts."""
    data = sources.peek(path)
    if data is None:
        return None
    lowered = data.lower()  # much faster than a case-insensitive regex over every file
    if b"conclint" not in lowered and b"noqa" not in lowered:
        return None
    key = cache.comments_key(data) if cache is not None else ""
    scanned = Comments.from_json(cache.get_comments(key)) if cache is not None else None
    if scanned is None:
        text = sources.text(path)
        if text is None:
            return None
        scanned = scan(text)
        if cache is not None:
            cache.put_comments(key, scanned.to_json())
    return FileSuppressions(path, scanned)


def _unused(directive: Directive, path: str) -> Diagnostic:
    span = Span(directive.line, directive.column, directive.line, directive.end_column)
    where = "in this file" if directive.whole_file else "on this line"
    what = f"no `{directive.selector}` finding" if directive.selector else "no finding"
    return diagnostic("CL004", path, span,
                      f"unused suppression: there is {what} {where}; remove it")


def _judged(directive: Directive, enabled: frozenset[str]) -> bool:
    """Only a selector whose rules ran this time can be called unused."""
    if directive.selector is not None and any(
        selector_matches(directive.selector, meta) for meta in ("CL003", "CL004")
    ):
        return False  # a suppression of the suppression checks themselves
    return any(covers(directive.selector, code) for code in enabled)


def apply_suppressions(
    diagnostics: Iterable[Diagnostic],
    paths: Iterable[str],
    enabled_for: Callable[[str], frozenset[str]],
    sources: Sources,
    cache: FactsCache | None = None,
) -> list[Diagnostic]:
    """Drop suppressed diagnostics; add CL003 for bad comments and CL004 for unused ones.

    ``paths`` are the checked files, whose comments are also checked themselves (CL003,
    CL004); ``enabled_for`` gives the codes enabled for one file (after per-file ignores);
    ``cache`` keeps the files' comments from one run to the next.
    """
    by_path: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        by_path.setdefault(d.path, []).append(d)
    kept: list[Diagnostic] = []
    checked = set(paths)
    for path in sorted(checked | set(by_path)):
        found = by_path.get(path, [])
        suppressions = load(path, sources, cache)
        if suppressions is None:
            kept.extend(found)
            continue
        kept.extend(d for d in found if not suppressions.suppresses(d))
        if path not in checked:
            # seen only through a finding's evidence: its comments apply, but checking
            # them (CL003, CL004) is for a run that checks this file
            continue
        enabled = enabled_for(path)
        if "CL003" in enabled:
            kept.extend(p for p in suppressions.problems
                        if not suppressions.suppresses(p, line_level=False))
        if "CL004" in enabled:
            unused = [_unused(x, path) for x in suppressions.directives()
                      if not x.used and _judged(x, enabled)]
            kept.extend(u for u in unused if not suppressions.suppresses(u, line_level=False))
    return kept
