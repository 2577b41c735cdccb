"""The ``conclint`` command: parse arguments, run the pipeline, print, choose the exit code."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from conclint import __version__
from conclint.config import check_selector, enabled_codes, find_pyproject, load_config
from conclint.discover import UsageError, discover
from conclint.engine import analyse
from conclint.report.json_format import render_json
from conclint.report.text import render_text

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conclint",
        description="Find deadlocks, races and leaked threads/processes in Python ML code, "
        "without running it.",
    )
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                        help="files or directories to check (default: .)")
    parser.add_argument("--select", type=_codes, action="extend", metavar="CODES",
                        help="only these rules: codes, prefixes (CL1) or names, comma-separated")
    parser.add_argument("--ignore", type=_codes, action="extend", metavar="CODES",
                        help="skip these rules: codes, prefixes or names, comma-separated")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit with 0 even when there are findings")
    parser.add_argument("--verbose", action="store_true",
                        help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"conclint {__version__}")
    return parser


def _console(stream: object = None) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(file=stream or sys.stdout, no_color=no_color, highlight=False,
                   soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    errors = _console(sys.stderr)
    try:
        config = load_config(find_pyproject(args.paths))
        for selector in (args.select or []) + (args.ignore or []):
            check_selector(selector, "command line")
        select = tuple(args.select) if args.select else config.select
        enabled = enabled_codes(select, config.extend_select,
                                config.ignore + tuple(args.ignore or ()))
        files = discover(args.paths, config.exclude)
    except UsageError as err:
        errors.print(f"conclint: error: {err}", highlight=False, markup=False)
        return EXIT_USAGE
    result = analyse(files, enabled)
    if args.verbose:
        for trace in result.tracebacks:
            errors.print(trace, highlight=False, markup=False)
    if args.format == "json":
        sys.stdout.write(render_json(result.diagnostics, result.files))
    else:
        render_text(_console(), result.diagnostics, result.files)
    if result.diagnostics and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN
