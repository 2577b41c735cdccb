"""Run extraction over many files: cached facts first, the rest in a process pool.

Only plain facts cross process boundaries. Work is handed out in small chunks, largest
files first, so two cores stay busy to the end; results keep the input order.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from conclint.discover import SourceFile
from conclint.extract.cache import FactsCache
from conclint.extract.facts import ExtractResult, FileError, ModuleFacts
from conclint.extract.stack import on_big_stack

_CHUNK_BYTES = 256 * 1024

Job = tuple[str, str, bool]  # path, module, is_package


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _extract_jobs(jobs: list[Job]) -> list[ExtractResult]:
    """Extract a chunk; the cyclic GC only slows this down (facts hold no cycles)."""
    from conclint.extract.source import extract_file  # libcst: only where files are parsed

    enabled = gc.isenabled()
    gc.disable()
    try:
        return on_big_stack(lambda: [extract_file(*job) for job in jobs])
    finally:
        if enabled:
            gc.enable()


def _chunks(files: list[tuple[int, SourceFile]]) -> list[list[tuple[int, SourceFile]]]:
    def size(item: tuple[int, SourceFile]) -> int:
        try:
            return os.path.getsize(item[1].path)
        except OSError:
            return 0

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
) -> list[ExtractResult]:
    """Facts (or the reason why not) for every file, in the order given.

    ``keys`` are the files' cache keys when the caller already computed them; ``progress``
    hears how many files each step finished.
    """
    report = progress or (lambda done: None)
    results: list[ExtractResult | None] = [None] * len(files)
    keys = keys or [None] * len(files)
    todo: list[tuple[int, SourceFile]] = []
    for index, source in enumerate(files):
        if cache is not None:
            if keys[index] is None:
                keys[index] = cache.key(source.path, source.module, source.is_package)
            if keys[index] is not None:
                results[index] = cache.get(keys[index], source.path)  # type: ignore[arg-type]
        if results[index] is None:
            todo.append((index, source))
    report(len(files) - len(todo))
    if jobs <= 1 or len(todo) <= 1:
        fresh = _extract_jobs([(f.path, f.module, f.is_package) for _, f in todo])
        for (index, _), result in zip(todo, fresh):
            results[index] = result
        report(len(todo))
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            chunks = _chunks(todo)
            futures = [
                pool.submit(_extract_jobs, [(f.path, f.module, f.is_package) for _, f in chunk])
                for chunk in chunks
            ]
            for chunk, future in zip(chunks, futures):
                try:
                    chunk_results = future.result()
                except Exception as err:  # noqa: BLE001 - a crashed worker costs its chunk only
                    chunk_results = [
                        FileError(f.path, "internal", f"extraction worker failed: {err!r}")
                        for _, f in chunk
                    ]
                for (index, _), result in zip(chunk, chunk_results):
                    results[index] = result
                report(len(chunk))
    if cache is not None:
        for index, _ in todo:
            result, key = results[index], keys[index]
            if key is not None and (isinstance(result, ModuleFacts) or (
                isinstance(result, FileError) and result.kind == "parse"
            )):
                cache.put(key, result)
        cache.save()
    return [r if r is not None else FileError(f.path, "internal", "no result")
            for r, f in zip(results, files)]
