"""``--format text``: ``path:line:col: CODE message``, the source line with a caret,
the related locations, then a per-rule summary. Coloured by rich on a terminal only."""

from __future__ import annotations

import linecache
from collections import Counter

from rich.console import Console
from rich.markup import escape

from conclint.diagnostics import Diagnostic

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def _source_line(path: str, line: int) -> str | None:
    text = linecache.getline(path, line)
    return text.rstrip("\r\n").expandtabs(4) if text else None


def render_text(console: Console, diagnostics: list[Diagnostic], files: int,
                show_source: bool = True) -> None:
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
    render_summary(console, diagnostics, files)


def render_summary(console: Console, diagnostics: list[Diagnostic], files: int) -> None:
    if not diagnostics:
        console.print(f"[green]No concurrency issues found[/green] in {files} "
                      f"file{'s' if files != 1 else ''}.", highlight=False)
        return
    counts = Counter((d.code, d.name) for d in diagnostics)
    console.print()
    for (code, name), count in sorted(counts.items()):
        console.print(f"  {count:>5}  {code} {name}", highlight=False)
    total = len(diagnostics)
    console.print(f"[bold]Found {total} issue{'s' if total != 1 else ''}[/bold] in {files} "
                  f"file{'s' if files != 1 else ''}.", highlight=False)
