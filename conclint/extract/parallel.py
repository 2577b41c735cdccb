"""Run extraction over many files: cached facts loaded while worker processes do the rest.

Only plain facts cross process boundaries. Work is handed out in small chunks, largest
files first, so two cores stay busy to the end; results keep the input order. The
workers are supervised (``conclint.extract.pool``): a file that takes longer than the
time limit, or crashes its worker, is reported and the others go on. With one job
everything runs in this process, where a limit can only be checked after each file.
"""

from __future__ import annotations

import gc
import itertools
import os
import time
from collections.abc import Callable

from conclint.discover import SourceFile
from conclint.extract.cache import FactsCache
from conclint.extract.decode import file_size
from conclint.extract.facts import ExtractResult, FileError, ModuleFacts
from conclint.extract.pool import Extractor, Job, Pool, timeout_error
from conclint.extract.stack import on_big_stack

_CHUNK_BYTES = 256 * 1024
DEFAULT_TIMEOUT = 60.0
CACHED_KINDS = ("parse",)  # file errors that depend only on the file's bytes


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _extract_in_process(jobs: list[Job], limit: float | None) -> list[ExtractResult]:
    """Extract in this process; a file that took longer than ``limit`` is reported as if it
    had been stopped (it cannot be interrupted here). The cyclic GC only slows this down
    (facts hold no cycles)."""
    from conclint.extract.source import extract_file  # libcst: only where files are parsed

    def extract_all() -> list[ExtractResult]:
        results: list[ExtractResult] = []
        for job in jobs:
            start = time.monotonic()
            result = extract_file(*job)
            if limit and time.monotonic() - start > limit:
                result = timeout_error(job[0], limit)
            results.append(result)
        return results

    enabled = gc.isenabled()
    gc.disable()
    try:
        return on_big_stack(extract_all)
    finally:
        if enabled:
            gc.enable()


def _chunks(files: list[tuple[int, SourceFile]]) -> list[list[tuple[int, SourceFile]]]:
    def size(item: tuple[int, SourceFile]) -> int:
        return file_size(item[1].path)

    ordered = sorted(files, key=size, reverse=True)
    chunks: list[list[tuple[int, SourceFile]]] = []
    current: list[tuple[int, SourceFile]] = []
    weight = 0
    for item in ordered:
        current.append(item)
        weight += size(item)
        if weight >= _CHUNK_BYTES:
            chunks.append(current)
            current, weight = [], 0
    if current:
        chunks.append(current)
    return chunks


def extract_files(
    files: list[SourceFile], jobs: int, cache: FactsCache | None,
    keys: list[str | None] | None = None,
    progress: Callable[[int], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    extractor: Extractor | None = None,
    pool: Pool | None = None,
) -> list[ExtractResult]:
    """Facts (or the reason why not) for every file, in the order given.

    ``keys`` are the files' cache keys when the caller already computed them; ``progress``
    hears how many files each step finished; ``timeout`` is the limit per file in seconds
    (None or 0: none); ``extractor`` replaces the per-file extraction in the workers
    (tests use it to crash one); ``pool``: the workers to use, left running for the
    caller's next batch (by default, workers of this call's own).
    """
    if pool is None and (jobs > 1 or extractor is not None):
        with Pool(jobs, extractor) as own:
            return extract_files(files, jobs, cache, keys, progress, timeout, pool=own)
    report = progress or (lambda done: None)
    results: list[ExtractResult | None] = [None] * len(files)
    keys = keys or [None] * len(files)
    cached: list[int] = []
    todo: list[tuple[int, SourceFile]] = []
    for index, source in enumerate(files):
        if cache is not None and keys[index] is None:
            keys[index] = cache.key(source.path, source.module, source.is_package)
        if cache is not None and keys[index] is not None and cache.has(keys[index]):
            cached.append(index)
            continue
        if cache is not None:
            cache.misses += 1
        todo.append((index, source))

    waiting = iter(cached)

    def load_cached(step: int = 8) -> bool:
        """Load the next ``step`` cached entries; False once all are loaded."""
        for index in itertools.islice(waiting, step):
            results[index] = cache.get(keys[index], files[index].path)  # type: ignore[union-attr,arg-type]
            step -= 1
        return step == 0

    def extract(batch: list[tuple[int, SourceFile]],
                meanwhile: Callable[[], bool] | None = None) -> None:
        work: list[Job] = [(f.path, f.module, f.is_package) for _, f in batch]
        if pool is None:
            for (index, _), result in zip(batch, _extract_in_process(work, timeout)):
                results[index] = result
            report(len(batch))
        elif batch:
            def done(slot: int, result: ExtractResult) -> None:
                results[batch[slot][0]] = result
                report(1)

            chunks = [[slot for slot, _ in chunk]
                      for chunk in _chunks(list(enumerate(f for _, f in batch)))]
            pool.run(work, chunks, done, timeout or None, meanwhile=meanwhile)
        while meanwhile is not None and meanwhile():
            pass

    # With worker processes, the cached entries are loaded while they parse the others.
    extract(todo, meanwhile=load_cached)
    # An entry that turned out damaged (or vanished) is extracted after all.
    late = [(index, files[index]) for index in cached if results[index] is None]
    report(len(cached) - len(late))
    extract(late)
    todo += late
    if cache is not None:
        for index, _ in todo:
            result, key = results[index], keys[index]
            if key is not None and (isinstance(result, ModuleFacts) or (
                isinstance(result, FileError) and result.kind in CACHED_KINDS
            )):
                cache.put(key, result)
        cache.save()
    return [r if r is not None else FileError(f.path, "internal", "no result")
            for r, f in zip(results, files)]
