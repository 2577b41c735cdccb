"""``--format text``: ``path:line:col: CODE message``, the source line with a caret,
the related locations, then a per-rule summary. Coloured by rich on a terminal only."""

from __future__ import annotations

import re
from collections import Counter

from rich.console import Console
from rich.markup import escape

from conclint.baseline import BaselineOutcome
from conclint.diagnostics import Diagnostic
from conclint.source import Sources

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}
_WINDOW = 120  # longest source excerpt shown (a minified or generated line can be megabytes)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with control characters (an escape sequence in a hostile file or file name
    could drive the terminal) and undecodable bytes of file names shown as ``?``."""
    return _CONTROL.sub("?", text)


def _excerpt(sources: Sources, d: Diagnostic) -> tuple[str, int, int] | None:
    """The reported line (a window of it when long), the caret's column and width."""
    lines = sources.lines(d.path)
    if not 1 <= d.line <= len(lines):
        return None
    text = lines[d.line - 1]
    column = len(text[:d.column - 1].expandtabs(4)) + 1
    text = printable(text.expandtabs(4))
    width = (d.end_column - d.column) if d.end_line == d.line else len(text) - column + 1
    width = max(1, width)
    if len(text) > _WINDOW:
        start = max(0, min(column - 1 - _WINDOW // 4, len(text) - _WINDOW))
        text = ("..." if start else "") + text[start:start + _WINDOW] + (
            "..." if start + _WINDOW < len(text) else "")
        column = column - start + (3 if start else 0)
        width = min(width, len(text) - column + 1)
    return text, column, max(1, width)


def render_text(console: Console, diagnostics: list[Diagnostic], files: int,
                show_source: bool = True, *, summary: bool = True,
                baseline: BaselineOutcome | None = None, sources: Sources | None = None) -> None:
    sources = sources or Sources()
    for d in diagnostics:
        style = _SEVERITY_STYLE.get(d.severity, "")
        console.print(
            f"[bold]{escape(printable(d.path))}:{d.line}:{d.column}:[/bold] "
            f"[{style}]{d.code}[/{style}] {escape(printable(d.message))} "
            f"[dim]\\[{d.name}][/dim]",
            highlight=False, soft_wrap=True,
        )
        excerpt = _excerpt(sources, d) if show_source else None
        if excerpt is not None:
            source, column, width = excerpt
            console.print(f"  {escape(source)}", highlight=False, soft_wrap=True)
            console.print(" " * (column + 1) + f"[{style}]" + "^" * width + f"[/{style}]",
                          highlight=False, soft_wrap=True)
        for r in d.related:
            console.print(
                f"    [dim]{escape(printable(r.path))}:{r.line}:{r.column}:[/dim] "
                f"{escape(printable(r.message))}",
                highlight=False, soft_wrap=True,
            )
    if summary:
        render_summary(console, diagnostics, files, baseline)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def render_statistics(console: Console, diagnostics: list[Diagnostic], files: int, *,
                      summary: bool = True, baseline: BaselineOutcome | None = None) -> None:
    """``--statistics``: one line per rule with its count, most frequent first."""
    counts = Counter((d.code, d.name) for d in diagnostics)
    for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        console.print(f"{count:>5}  {code}  {name}", highlight=False)
    if summary:
        _render_total(console, diagnostics, files, baseline)


def render_summary(console: Console, diagnostics: list[Diagnostic], files: int,
                   baseline: BaselineOutcome | None = None) -> None:
    """The per-rule counts and the total: what a terminal shows after the findings."""
    counts = Counter((d.code, d.name) for d in diagnostics)
    if counts:
        console.print()
    for (code, name), count in sorted(counts.items()):
        console.print(f"  {count:>5}  {code} {name}", highlight=False)
    _render_total(console, diagnostics, files, baseline)


def _render_total(console: Console, diagnostics: list[Diagnostic], files: int,
                  baseline: BaselineOutcome | None) -> None:
    if diagnostics:
        console.print(f"[bold]Found {_plural(len(diagnostics), 'issue')}[/bold] in "
                      f"{_plural(files, 'file')}.", highlight=False)
    else:
        console.print(f"[green]No concurrency issues found[/green] in {_plural(files, 'file')}.",
                      highlight=False)
    for line in baseline_notes(baseline):
        console.print(line, highlight=False, markup=False)


def baseline_notes(baseline: BaselineOutcome | None) -> list[str]:
    """What the baseline hid, and how many of its entries are no longer needed."""
    if baseline is None:
        return []
    notes = [f"{_plural(baseline.matched, 'finding')} in the baseline not shown."]
    if baseline.fixed:
        notes.append(f"{_plural(baseline.fixed, 'fixed finding')} can be removed from the "
                     "baseline (rerun with --write-baseline).")
    return notes
