"""Helpers the subcommands share: a stdout console and the usage-error exit."""

from __future__ import annotations

import os
import sys

from rich.console import Console

from conclint.discover import UsageError

EXIT_USAGE = 2


def stdout_console() -> Console:
    """Rich on a terminal; plain, wide text when piped (nothing wraps in a file)."""
    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, no_color=bool(os.environ.get("NO_COLOR")), emoji=False,
                   highlight=False, width=None if terminal else 200)


def print_block(renderable: object) -> None:
    """Print a rich renderable (a table); piped, without the padding at line ends."""
    console = stdout_console()
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def usage_error(err: UsageError) -> int:
    Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False).print(
        f"conclint: error: {err}", markup=False, highlight=False)
    return EXIT_USAGE
