"""The ``conclint`` command: parse arguments, run the pipeline, print, choose the exit code."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import TYPE_CHECKING

from conclint import __version__
from conclint.config import check_selector, enabled_codes, find_pyproject, load_config
from conclint.discover import UsageError, discover
from conclint.engine import analyse
from conclint.extract.cache import FactsCache
from conclint.extract.parallel import usable_cpus
from conclint.report.json_format import render_json
from conclint.timings import Timings

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _cache(args: argparse.Namespace, pyproject: str | None) -> FactsCache | None:
    if args.no_cache:
        return None
    directory = args.cache_dir or os.environ.get("CONCLINT_CACHE_DIR")
    if not directory:
        root = os.path.dirname(pyproject) if pyproject else os.getcwd()
        directory = os.path.join(root, ".conclint_cache")
    return FactsCache(directory)


def _print_profile(console: Console, timings: Timings) -> None:
    total = timings.total()
    console.print("phase                               seconds   share", highlight=False)
    for name, seconds in timings.phases:
        share = seconds / total * 100 if total else 0.0
        console.print(f"{name:<34} {seconds:9.3f} {share:6.1f}%", highlight=False)
    console.print(f"{'total':<34} {total:9.3f}", highlight=False)
    for name, note in timings.notes.items():
        console.print(f"{name}: {note}", highlight=False)


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
    parser.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N",
                        help="extraction processes (default: usable CPUs; 1 runs in-process)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the facts cache")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="facts cache folder (default: $CONCLINT_CACHE_DIR, else "
                        ".conclint_cache next to the project's pyproject.toml)")
    parser.add_argument("--profile", action="store_true",
                        help="print where the time went to stderr")
    parser.add_argument("--version", action="version", version=f"conclint {__version__}")
    return parser


def _console(stream: object = None) -> Console:
    from rich.console import Console  # only when there is something to print

    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(file=stream or sys.stdout, no_color=no_color, highlight=False,
                   soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    timings = Timings()
    gc.disable()  # a short run of many small objects and no cycles: the GC only costs time
    try:
        with timings.phase("configuration"):
            pyproject = find_pyproject(args.paths)
            config = load_config(pyproject)
            for selector in (args.select or []) + (args.ignore or []):
                check_selector(selector, "command line")
            select = tuple(args.select) if args.select else config.select
            enabled = enabled_codes(select, config.extend_select,
                                    config.ignore + tuple(args.ignore or ()))
        with timings.phase("discover"):
            files = discover(args.paths, config.exclude)
    except UsageError as err:
        sys.stderr.write(f"conclint: error: {err}\n")
        return EXIT_USAGE
    jobs = args.jobs or usable_cpus()
    result = analyse(files, enabled, jobs, _cache(args, pyproject), timings,
                     config.collectives)
    if args.verbose:
        for trace in result.tracebacks:
            sys.stderr.write(trace)
    with timings.phase("report"):
        if args.format == "json":
            sys.stdout.write(render_json(result.diagnostics, result.files))
        else:
            from conclint.report.text import render_text

            render_text(_console(), result.diagnostics, result.files)
    if args.profile:
        _print_profile(_console(sys.stderr), timings)
    if result.diagnostics and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN
