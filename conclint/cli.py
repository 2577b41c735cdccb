"""The ``conclint`` command: parse arguments, run the pipeline, print, choose the exit code.

``conclint explain|rules|graph ...`` are subcommands (``conclint.commands``); anything
else is a lint run over paths (write ``./rules`` to lint a directory named like one).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import NoReturn

from rich.console import Console

from conclint import __version__
from conclint.baseline import Baseline, BaselineOutcome, NEVER_BASELINED, write_baseline
from conclint.config import check_selector, enabled_codes, find_pyproject, load_config
from conclint.diagnostics import Diagnostic
from conclint.discover import UsageError
from conclint.engine import analyse
from conclint.extract.cache import FactsCache
from conclint.extract.parallel import DEFAULT_TIMEOUT, usable_cpus
from conclint.filters import Filter
from conclint.fingerprint import fingerprint
from conclint.progress import file_progress
from conclint.project import resolve_scope
from conclint.report.github import render_github
from conclint.report.json_format import render_json, render_statistics_json
from conclint.report.sarif import render_sarif
from conclint.report.text import (
    baseline_notes, render_statistics, render_summary, render_text,
)
from conclint.source import Sources
from conclint.timings import Timings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SUBCOMMANDS = ("explain", "rules", "graph")
FORMATS = ("text", "json", "sarif", "github")


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conclint",
        description="Find deadlocks, races and leaked threads/processes in Python ML code, "
        "without running it.",
        epilog="subcommands: `conclint explain RULE`, `conclint rules`, "
        "`conclint graph PATH...` (each has --help)",
    )
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                        help="files or directories to check (default: .)")
    parser.add_argument("--select", type=_codes, action="extend", metavar="CODES",
                        help="only these rules: codes, prefixes (CL1) or names, comma-separated")
    parser.add_argument("--ignore", type=_codes, action="extend", metavar="CODES",
                        help="skip these rules: codes, prefixes or names, comma-separated")
    parser.add_argument("--extend-select", type=_codes, action="extend", metavar="CODES",
                        help="enable these rules on top of the selection")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="output format (default: text)")
    parser.add_argument("--output", metavar="FILE",
                        help="write the report to FILE; the terminal gets the summary")
    parser.add_argument("--baseline", metavar="FILE",
                        help="report only findings that are not in this baseline file")
    parser.add_argument("--write-baseline", metavar="FILE",
                        help="record the current findings in FILE and exit")
    parser.add_argument("--warn-unused-ignores", action="store_true",
                        help="report suppression comments that suppress nothing (CL004)")
    parser.add_argument("--no-project", action="store_true",
                        help="analyse only the given paths, even for files inside a project")
    parser.add_argument("--force-exclude", action="store_true",
                        help="apply `exclude` also to files named on the command line")
    parser.add_argument("--statistics", action="store_true",
                        help="print the number of findings per rule instead of the findings")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the findings: no summary, no progress bar")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit with 0 even when there are findings")
    parser.add_argument("--verbose", action="store_true",
                        help="show tracebacks of internal errors")
    parser.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N",
                        help="extraction processes (default: usable CPUs; 1 runs in-process)")
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="give up on a file after this many seconds and report it as "
                        f"CL001 (default: {DEFAULT_TIMEOUT:g}; 0: no limit; with -j 1 the "
                        "file is only reported once it finishes)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the facts cache")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="facts cache folder (default: $CONCLINT_CACHE_DIR, else "
                        ".conclint_cache next to the project's pyproject.toml)")
    parser.add_argument("--profile", action="store_true",
                        help="print where the time went to stderr")
    parser.add_argument("--free-threaded", action="store_true",
                        help="the code runs on free-threaded CPython (no GIL): report data "
                        "races (CL301, CL303, CL304) as errors")
    parser.add_argument("--version", action="version", version=f"conclint {__version__}")
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
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
    if timings.elsewhere:
        console.print("meanwhile, in other processes:", highlight=False)
    for name, seconds in timings.elsewhere:
        console.print(f"  {name:<32} {seconds:9.3f}", highlight=False)
    for name, note in timings.notes.items():
        console.print(f"{name}: {note}", highlight=False)


def _console(stream: object = None, color: bool = True) -> Console:
    no_color = bool(os.environ.get("NO_COLOR")) or not color
    return Console(file=stream or sys.stdout, no_color=no_color, highlight=False, emoji=False,
                   soft_wrap=True)


def entry() -> NoReturn:
    """The ``conclint`` command: ``main``, then the process ends at once. Freeing the facts
    and analyses of a large run object by object takes longer than dropping them with the
    process (a few tenths of a second on the standard library); the output is flushed."""
    kept: list[object] = []
    code = main(keep=kept)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said anyway
            pass
    os._exit(code)


def main(argv: list[str] | None = None, keep: list[object] | None = None) -> int:
    """Run ``conclint`` with ``argv`` and return its exit code; ``keep`` receives the run's
    facts and analyses instead of letting them be freed (see ``entry``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # A file name that is not valid UTF-8, or an ASCII-only terminal, must not crash a report.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if argv and argv[0] in SUBCOMMANDS:
        from conclint.commands import run_subcommand

        return run_subcommand(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    gc.disable()  # a short run of many small objects and no cycles: the GC only costs time
    try:
        return _lint(args, keep)
    except UsageError as err:
        _console(sys.stderr).print(f"conclint: error: {err}", highlight=False, markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:  # the worker processes are already stopped
        _console(sys.stderr).print("conclint: interrupted", highlight=False, markup=False)
        return EXIT_INTERRUPTED


def _lint(args: argparse.Namespace, keep: list[object] | None = None) -> int:
    if args.statistics and args.format not in ("text", "json"):
        raise UsageError("--statistics works with --format text or json")
    timings = Timings()
    with timings.phase("configuration"):
        pyproject = find_pyproject(args.paths)
        config = load_config(pyproject)
    for selector in (args.select or []) + (args.ignore or []) + (args.extend_select or []):
        check_selector(selector, "command line")
    select = tuple(args.select) if args.select else config.select
    extend = (*config.extend_select, *(args.extend_select or ()),
              *(("CL004",) if args.warn_unused_ignores else ()))
    enabled = enabled_codes(select, extend, config.ignore + tuple(args.ignore or ()))
    with timings.phase("discover"):
        scope = resolve_scope(args.paths, config, widen=not args.no_project,
                              force_exclude=args.force_exclude)
    baseline = Baseline.load(args.baseline) if args.baseline else None

    cache = _cache(args, pyproject)
    with file_progress(len(scope.files), enabled=not args.quiet) as progress:
        result = analyse(scope.files, enabled, args.jobs or usable_cpus(), cache, timings,
                         progress, extensions=config.knowledge(),
                         free_threaded=args.free_threaded or config.free_threaded,
                         timeout=args.timeout or None, retain=keep is not None)
    if keep is not None:
        keep.extend(result.retained)
    if args.verbose:
        for trace in result.tracebacks:
            _console(sys.stderr).print(trace, highlight=False, markup=False)
    sources = Sources()
    reported = [f.path for f in scope.reported]
    with timings.phase("filter"):
        diagnostics = Filter.from_config(config, enabled).apply(result.diagnostics, reported,
                                                                sources, cache)
    if args.write_baseline:
        return _write_baseline(args, diagnostics, len(reported), sources)
    outcome = None
    if baseline is not None:
        diagnostics, outcome = baseline.apply(diagnostics, sources, reported)
    with timings.phase("report"):
        _report(args, diagnostics, len(reported), outcome, sources)
    if args.profile:
        _print_profile(_console(sys.stderr), timings)
    return EXIT_FINDINGS if diagnostics and not args.exit_zero else EXIT_CLEAN


def _write_baseline(args: argparse.Namespace, diagnostics: list[Diagnostic], files: int,
                    sources: Sources) -> int:
    """Record the findings; files that could not be analysed are still reported."""
    count = write_baseline(args.write_baseline, diagnostics, sources)
    unbaselined = [d for d in diagnostics if d.code in NEVER_BASELINED]
    console = _console()
    if unbaselined:
        render_text(console, unbaselined, files, summary=not args.quiet, sources=sources)
    if not args.quiet:
        console.print(f"Recorded {count} finding{'s' if count != 1 else ''} in "
                      f"{args.write_baseline}.", highlight=False, markup=False)
    return EXIT_FINDINGS if unbaselined and not args.exit_zero else EXIT_CLEAN


def _render(args: argparse.Namespace, diagnostics: list[Diagnostic], files: int,
            outcome: BaselineOutcome | None, sources: Sources, console: Console) -> str | None:
    """The report as text for machine formats; text goes straight to ``console``."""
    if args.format == "json":
        if args.statistics:
            return render_statistics_json(diagnostics)
        return render_json(diagnostics, files, outcome)
    if args.format == "sarif":
        return render_sarif(diagnostics, [fingerprint(d, sources) for d in diagnostics])
    if args.format == "github":
        return render_github(diagnostics)
    if args.statistics:
        render_statistics(console, diagnostics, files, summary=not args.quiet, baseline=outcome)
    else:
        render_text(console, diagnostics, files, summary=not args.quiet, baseline=outcome,
                    sources=sources)
    return None


def _report(args: argparse.Namespace, diagnostics: list[Diagnostic], files: int,
            outcome: BaselineOutcome | None, sources: Sources) -> None:
    terminal = _console()
    if args.output is None:
        text = _render(args, diagnostics, files, outcome, sources, terminal)
        if text is not None:
            sys.stdout.write(text)
            if not args.quiet:
                for note in baseline_notes(outcome):
                    _console(sys.stderr).print(note, highlight=False, markup=False)
        return
    try:
        with open(args.output, "w", encoding="utf-8", errors="backslashreplace") as handle:
            text = _render(args, diagnostics, files, outcome, sources,
                           _console(handle, color=False))
            if text is not None:
                handle.write(text)
    except OSError as err:
        raise UsageError(f"{args.output}: cannot write the report: {err.strerror}") from None
    if not args.quiet:
        render_summary(terminal, diagnostics, files, outcome)
        terminal.print(f"Report written to {args.output}.", highlight=False, markup=False)
