"""The pipeline, start to end: discover -> extract -> program -> analyses -> checks -> filter."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from conclint.analyses.context import Analyses
from conclint.checks import ALL_CHECKS
from conclint.checks.base import diagnostic
from conclint.diagnostics import Diagnostic
from conclint.discover import SourceFile
from conclint.extract import FileError, extract_file, on_big_stack
from conclint.extract.facts import ModuleFacts, Span
from conclint.program.index import Program

Check = Callable[[Analyses], Iterable[Diagnostic]]


@dataclass
class Result:
    diagnostics: list[Diagnostic]
    files: int
    tracebacks: list[str] = field(default_factory=list)


def extract_all(files: list[SourceFile],
                progress: Callable[[], None] | None = None) -> list[ModuleFacts | FileError]:
    """Facts of every file; ``progress`` is called once per file done (a progress bar)."""
    def run() -> list[ModuleFacts | FileError]:
        out: list[ModuleFacts | FileError] = []
        for f in files:
            out.append(extract_file(f.path, f.module, f.is_package))
            if progress is not None:
                progress()
        return out

    return on_big_stack(run)


def file_error_diagnostic(error: FileError) -> Diagnostic:
    code = "CL001" if error.kind == "parse" else "CL002"
    span = Span(error.line, error.column, error.line, error.column)
    message = (
        f"cannot analyse this file: {error.message}" if code == "CL001"
        else f"internal error while analysing this file: {error.message}"
    )
    return diagnostic(code, error.path, span, message)


def run_checks(
    analyses: Analyses, enabled: frozenset[str], checks: Iterable[tuple[tuple[str, ...], Check]]
) -> Iterator[Diagnostic | tuple[str, str]]:
    """Diagnostics of the enabled rules; a failing check yields (rule codes, traceback)."""
    for codes, check in checks:
        if not enabled.intersection(codes):
            continue
        try:
            found = list(check(analyses))
        except Exception:  # noqa: BLE001 - one broken rule must not sink the run
            yield ", ".join(codes), traceback.format_exc()
            continue
        yield from (d for d in found if d.code in enabled)


def analyse(files: list[SourceFile], enabled: frozenset[str],
            progress: Callable[[], None] | None = None) -> Result:
    extracted = extract_all(files, progress)
    facts = [f for f in extracted if isinstance(f, ModuleFacts)]
    diagnostics = [file_error_diagnostic(e) for e in extracted if isinstance(e, FileError)]
    tracebacks = [e.detail for e in extracted if isinstance(e, FileError) and e.detail]
    analyses = Analyses(Program(facts))
    for item in run_checks(analyses, enabled, ALL_CHECKS):
        if isinstance(item, Diagnostic):
            diagnostics.append(item)
            continue
        codes, trace = item
        tracebacks.append(trace)
        where = files[0].path if files else "."
        diagnostics.append(diagnostic(
            "CL002", where, Span(1, 1, 1, 1),
            f"internal error in rule {codes}: {trace.strip().splitlines()[-1]} "
            "(its findings are missing from this run; rerun with --verbose for the traceback)",
        ))
    return Result(sorted(set(diagnostics), key=Diagnostic.sort_key), len(files), tracebacks)


def build_analyses(files: list[SourceFile]) -> tuple[Analyses, list[FileError]]:
    """The shared analyses of ``files`` without running any rule (``conclint graph``)."""
    extracted = extract_all(files)
    facts = [f for f in extracted if isinstance(f, ModuleFacts)]
    return Analyses(Program(facts)), [e for e in extracted if isinstance(e, FileError)]
