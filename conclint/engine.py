"""The pipeline, start to end: discover -> extract -> program -> analyses -> checks -> filter."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from conclint.analyses.context import Analyses
from conclint.checks import ALL_CHECKS
from conclint.checks.registry import RULES
from conclint.diagnostics import Diagnostic, Finding, Related
from conclint.discover import SourceFile
from conclint.extract.facts import FileError
from conclint.extract.cache import FactsCache
from conclint.extract.facts import ModuleFacts, Span
from conclint.extract.parallel import extract_files
from conclint.locate import Locator
from conclint.program.index import Program
from conclint.timings import Timings

Check = Callable[[Analyses], Iterable[Finding]]


@dataclass
class Result:
    diagnostics: list[Diagnostic]
    files: int
    tracebacks: list[str] = field(default_factory=list)


def make_diagnostic(code: str, path: str, span: Span, message: str,
                    related: tuple[Related, ...] = ()) -> Diagnostic:
    rule = RULES[code]
    return Diagnostic(code, rule.name, rule.severity, path, span.line, span.column,
                      span.end_line, span.end_column, message, related)


def file_error_diagnostic(error: FileError) -> Diagnostic:
    code = "CL001" if error.kind == "parse" else "CL002"
    span = Span(error.line, error.column, error.line, error.column)
    message = (
        f"cannot analyse this file: {error.message}" if code == "CL001"
        else f"internal error while analysing this file: {error.message}"
    )
    return make_diagnostic(code, error.path, span, message)


def locate(finding: Finding, locator: Locator) -> Diagnostic:
    related = []
    for step in finding.related:
        span = locator.span(step.path, step.loc)
        related.append(Related(step.path, span.line, span.column, step.message))
    return make_diagnostic(finding.code, finding.path, locator.span(finding.path, finding.loc),
                           finding.message, tuple(related))


def run_checks(
    analyses: Analyses,
    enabled: frozenset[str],
    checks: Iterable[tuple[tuple[str, ...], Check]],
    timings: Timings,
) -> Iterator[Finding | tuple[str, str]]:
    """Findings of the enabled rules; a failing check yields (rule codes, traceback)."""
    for codes, check in checks:
        if not enabled.intersection(codes):
            continue
        try:
            with timings.phase(f"check {'/'.join(codes)}"):
                found = list(check(analyses))
        except Exception:  # noqa: BLE001 - one broken rule must not sink the run
            yield ", ".join(codes), traceback.format_exc()
            continue
        yield from (f for f in found if f.code in enabled)


def analyse(
    files: list[SourceFile],
    enabled: frozenset[str],
    jobs: int = 1,
    cache: FactsCache | None = None,
    timings: Timings | None = None,
    collectives: tuple[str, ...] = (),
) -> Result:
    timings = timings or Timings()
    with timings.phase("extract"):
        extracted = extract_files(files, jobs, cache)
    if cache is not None:
        timings.notes["cache"] = f"{cache.hits} hits, {cache.misses} misses"
    facts = [f for f in extracted if isinstance(f, ModuleFacts)]
    diagnostics = [file_error_diagnostic(e) for e in extracted if isinstance(e, FileError)]
    tracebacks = [e.detail for e in extracted if isinstance(e, FileError) and e.detail]
    with timings.phase("program: index"):
        analyses = Analyses(Program(facts), timings, collectives)
    locator = Locator({f.path: (f.module, f.is_package) for f in files})
    findings: list[Finding] = []
    for item in run_checks(analyses, enabled, ALL_CHECKS, timings):
        if isinstance(item, Finding):
            findings.append(item)
            continue
        codes, trace = item
        tracebacks.append(trace)
        where = files[0].path if files else "."
        diagnostics.append(make_diagnostic(
            "CL002", where, Span(1, 1, 1, 1),
            f"internal error in rule {codes}: {trace.strip().splitlines()[-1]} "
            "(its findings are missing from this run; rerun with --verbose for the traceback)",
        ))
    with timings.phase("locate findings"):
        diagnostics.extend(locate(f, locator) for f in findings)
    return Result(sorted(set(diagnostics), key=Diagnostic.sort_key), len(files), tracebacks)
