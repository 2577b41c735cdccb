"""A progress bar on stderr for long runs on a terminal, and nothing anywhere else.

Piped output, CI logs and ``--quiet`` runs never see it: it only appears when stderr is a
TTY and the run has enough files to be worth watching.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_FILES = 25


@contextmanager
def file_progress(total: int, enabled: bool = True) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback to advance the bar by a number of files, or None without a bar."""
    if not enabled or total < MIN_FILES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr, no_color=bool(os.environ.get("NO_COLOR")))
    columns = (TextColumn("conclint: analysing"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("files", total=total)
        yield lambda done: progress.advance(task, done)
