"""``conclint graph PATH... --format dot|mermaid|json``: draw the whole-program lock graph."""

from __future__ import annotations

import argparse
import sys

from conclint.commands.common import usage_error
from conclint.config import find_pyproject, load_config
from conclint.discover import UsageError, discover
from conclint.engine import build_analyses
from conclint.lockview import lock_view
from conclint.report.graph import RENDERERS


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="conclint graph",
        description="Print the lock-order graph: one node per lock, one edge per ordering "
        "(B acquired while A is held) with its first evidence site; cycles in red.")
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    parser.add_argument("--format", choices=tuple(RENDERERS), default="dot")
    args = parser.parse_args(argv)
    try:
        config = load_config(find_pyproject(args.paths))
        files = discover(args.paths, config.exclude)
    except UsageError as err:
        return usage_error(err)
    analyses, failed, locator = build_analyses(files)
    for error in failed:
        print(f"conclint: {error.path}:{error.line}:{error.column}: not analysed: "
              f"{error.message}", file=sys.stderr)
    sys.stdout.write(RENDERERS[args.format](lock_view(analyses, locator)))
    return 0
