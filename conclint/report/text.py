"""``--format text``: ``path:line:col: CODE message``, the source line with a caret,
the related locations, then a per-rule summary. Coloured by rich on a terminal only."""

from __future__ import annotations

import linecache
from collections import Counter

from rich.console import Console
from rich.markup import escape

from conclint.baseline import BaselineOutcome
from conclint.diagnostics import Diagnostic

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def _source_line(path: str, line: int) -> str | None:
    text = linecache.getline(path, line)
    return text.rstrip("\r\n").expandtabs(4) if text else None


def render_text(console: Console, diagnostics: list[Diagnostic], files: int,
                show_source: bool = True, *, summary: bool = True,
                baseline: BaselineOutcome | None = None) -> None:
    for d in diagnostics:
        style = _SEVERITY_STYLE.get(d.severity, "")
        console.print(
            f"[bold]{escape(d.path)}:{d.line}:{d.column}:[/bold] "
            f"[{style}]{d.code}[/{style}] {escape(d.message)} [dim]\\[{d.name}][/dim]",
            highlight=False, soft_wrap=True,
        )
        source = _source_line(d.path, d.line) if show_source else None
        if source is not None:
            width = max(1, (d.end_column - d.column) if d.end_line == d.line else
                        len(source) - d.column + 1)
            console.print(f"  {escape(source)}", highlight=False, soft_wrap=True)
            console.print(" " * (d.column + 1) + f"[{style}]" + "^" * width + f"[/{style}]",
                          highlight=False, soft_wrap=True)
        for r in d.related:
            console.print(
                f"    [dim]{escape(r.path)}:{r.line}:{r.column}:[/dim] {escape(r.message)}",
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
