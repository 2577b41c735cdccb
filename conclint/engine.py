"""The pipeline, start to end: discover -> extract -> program -> analyses -> checks -> filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conclint.analyses.call_memory import CallMemory
from conclint.analyses.context import Analyses
from conclint.checks import ALL_CHECKS
from conclint.checks.base import diagnostic
from conclint.checks.runner import run_checks
from conclint.config import KnowledgeExtensions
from conclint.diagnostics import Diagnostic, Finding, Related
from conclint.discover import SourceFile
from conclint.extract.cache import FactsCache
from conclint.extract.facts import FileError, ModuleFacts, Span
from conclint.extract.parallel import CACHED_KINDS, DEFAULT_TIMEOUT, extract_files
from conclint.extract.pool import Pool
from conclint.knowledge import canonical, declared_owners
from conclint.locate import Locator
from conclint.program.index import Program
from conclint.timings import Timings

@dataclass
class Result:
    diagnostics: list[Diagnostic]
    files: int
    tracebacks: list[str] = field(default_factory=list)
    # With ``retain``: the run's facts and analyses, kept for a caller about to exit, for
    # whom ending the process is quicker than freeing a million objects one by one.
    retained: list[object] = field(default_factory=list, repr=False)


def file_error_diagnostic(error: FileError) -> Diagnostic:
    code = "CL001" if error.kind in ("parse", "timeout") else "CL002"
    span = Span(error.line, error.column, error.line, error.column)
    message = (
        f"cannot analyse this file: {error.message}" if code == "CL001"
        else f"internal error while analysing this file: {error.message}"
    )
    return diagnostic(code, error.path, span, message)


def locate(finding: Finding, locator: Locator) -> Diagnostic:
    related = []
    for step in finding.related:
        span = locator.span(step.path, step.loc)
        related.append(Related(step.path, span.line, span.column, step.message))
    return diagnostic(finding.code, finding.path, locator.span(finding.path, finding.loc),
                      finding.message, tuple(related), finding.severity)


@dataclass
class _Run:
    """What one run checks and with what, and what it gathers besides findings."""

    files: list[SourceFile]
    enabled: frozenset[str]
    jobs: int
    cache: FactsCache | None
    timings: Timings
    extensions: KnowledgeExtensions | None
    free_threaded: bool
    keys: list[str | None]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    retained: list[object] | None = None  # None: nothing to keep


def analyse(
    files: list[SourceFile],
    enabled: frozenset[str],
    jobs: int = 1,
    cache: FactsCache | None = None,
    timings: Timings | None = None,
    progress: Callable[[int], None] | None = None,
    extensions: KnowledgeExtensions | None = None,
    free_threaded: bool = False,
    timeout: float | None = DEFAULT_TIMEOUT,
    retain: bool = False,
) -> Result:
    """Run the pipeline; ``progress`` is told how many files each extraction step finished;
    ``extensions`` are the user's additions to the API knowledge (``blocking-calls``);
    ``free_threaded``: the code runs without the GIL (data races are reported as errors);
    ``timeout`` limits the seconds spent on one file (None: no limit); ``retain``: keep
    the facts and analyses in the result (see ``Result.retained``)."""
    run = _Run(files, enabled, jobs, cache, timings or Timings(), extensions, free_threaded,
               [None] * len(files), retained=[] if retain else None)
    timings = run.timings
    run_key, settings = None, ""
    if cache is not None:
        with timings.phase("cache: identify files"):
            run.keys = [cache.key(f.path, f.module, f.is_package) for f in files]
            if all(run.keys):
                settings = ",".join(sorted(enabled)) + "\0" + "\0".join(f.path for f in files)
                settings += "\0" + repr(extensions)  # the user's API knowledge changes results
                settings += f"\0free-threaded={free_threaded}"  # so do race severities
                run_key = cache.run_key([k for k in run.keys if k], settings)
                earlier = cache.get_run(run_key)
                if earlier is not None:
                    cache.save()
                    timings.notes["cache"] = "unchanged since the last run: results reused"
                    return Result(earlier, len(files))
    with Pool(jobs) as workers:  # started by extraction, reused to locate findings
        with timings.phase("extract"):
            extracted = extract_files(files, jobs, cache, run.keys, progress, timeout,
                                      pool=workers if jobs > 1 else None)
        if cache is not None:
            timings.notes["cache"] = f"{cache.hits} hits, {cache.misses} misses"
        if run.retained is not None:
            run.retained.append(extracted)
        facts = [f for f in extracted if isinstance(f, ModuleFacts)]
        run.diagnostics = [file_error_diagnostic(e) for e in extracted
                           if isinstance(e, FileError)]
        run.tracebacks = [e.detail for e in extracted if isinstance(e, FileError) and e.detail]
        transient = any(isinstance(e, FileError) and e.kind not in CACHED_KINDS
                        for e in extracted)
        cacheable = run_key is not None and not transient
        findings = _findings(run, facts, settings + "\0findings" if cacheable else None)
        locator = Locator({f.path: (f.module, f.is_package) for f in files}, cache)
        with timings.phase("locate findings"):
            locator.prepare(((s.path, s.loc) for f in findings for s in (f, *f.related)),
                            jobs, workers)
            run.diagnostics.extend(locate(f, locator) for f in findings)
        result = Result(sorted(set(run.diagnostics), key=Diagnostic.sort_key), len(files),
                        run.tracebacks, run.retained or [])
        if cache is not None and cacheable and not result.tracebacks:
            cache.put_run(run_key, result.diagnostics)  # type: ignore[arg-type]
        return result


def _findings(run: _Run, facts: list[ModuleFacts], settings: str | None) -> list[Finding]:
    """The findings of the rules: those of an earlier run when every file's facts equal
    that run's (an edit that changed comments, blank lines or formatting), else checked
    now (``settings``: what else the findings depend on, None: not to be cached)."""
    cache, timings = run.cache, run.timings
    findings_key = None
    if cache is not None and settings:
        digests = [cache.facts_digest(k) for k in run.keys if k]
        if all(digests):
            findings_key = cache.run_key(digests, settings)  # type: ignore[arg-type]
    earlier = cache.get_findings(findings_key) if cache and findings_key else None
    if earlier is not None:
        timings.notes["cache"] += "; the facts are unchanged: earlier findings reused"
        return earlier
    memory = _call_memory(run, cache) if cache else None
    findings = _check(run, facts, memory)
    if memory is not None and memory.now:
        timings.notes["call graph"] = (f"{memory.reused} of {len(memory.now)} modules "
                                       "taken from the last run")
    if memory is not None and memory.now and memory.changed:
        with timings.phase("cache: save the call graph"):
            cache.put_call_graph(memory.now)  # type: ignore[union-attr]
    if cache is not None and findings_key is not None and not run.tracebacks:
        cache.put_findings(findings_key, findings)
    return findings


def _call_memory(run: _Run, cache: FactsCache) -> CallMemory:
    """The last run's call graph, to reuse for the modules whose names resolve as then."""
    with run.timings.phase("cache: load the call graph"):
        digests = {f.path: cache.facts_digest(k) for f, k in zip(run.files, run.keys) if k}
        return CallMemory({path: d for path, d in digests.items() if d},
                          cache.get_call_graph(), repr(run.extensions))


def _check(run: _Run, facts: list[ModuleFacts], memory: CallMemory | None) -> list[Finding]:
    """The whole-program phase: index the facts, run the enabled rules (their families
    shared among the run's processes; the call graph reused from ``memory`` where it
    holds). A rule that raises adds its traceback and a CL002 diagnostic; the others run."""
    extensions, timings = run.extensions, run.timings
    with timings.phase("program: index"):
        declared = extensions.blocking_calls if extensions else ()
        program = Program(facts, declared_owners(canonical(name) for name in declared),
                          extensions.lock_factories if extensions else ())
        analyses = Analyses(program, timings, extensions, run.free_threaded, memory, run.jobs)
    if run.retained is not None:
        run.retained.append(analyses)
    findings: list[Finding] = []
    for item in run_checks(analyses, run.enabled, ALL_CHECKS, timings, run.jobs):
        if isinstance(item, Finding):
            findings.append(item)
            continue
        codes, trace = item
        run.tracebacks.append(trace)
        where = run.files[0].path if run.files else "."
        run.diagnostics.append(diagnostic(
            "CL002", where, Span(1, 1, 1, 1),
            f"internal error in rule {codes}: {trace.strip().splitlines()[-1]} "
            "(its findings are missing from this run; rerun with --verbose for the traceback)",
        ))
    return findings


def build_analyses(
    files: list[SourceFile], jobs: int = 1, cache: FactsCache | None = None
) -> tuple[Analyses, list[FileError], Locator]:
    """The shared analyses of ``files`` without running any rule (``conclint graph``)."""
    extracted = extract_files(files, jobs, cache)
    facts = [f for f in extracted if isinstance(f, ModuleFacts)]
    locator = Locator({f.path: (f.module, f.is_package) for f in files}, cache)
    return (Analyses(Program(facts)), [e for e in extracted if isinstance(e, FileError)],
            locator)
