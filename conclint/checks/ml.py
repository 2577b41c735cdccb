"""CL5xx: ML frameworks — rank-divergent collectives, CUDA and RNGs in worker processes,
process-group teardown, IterableDataset sharding."""

from __future__ import annotations

from collections.abc import Iterator

from conclint import knowledge_ml as ml
from conclint.analyses.context import Analyses
from conclint.analyses.workers import Loader, arg
from conclint.checks.base import finding
from conclint.diagnostics import Finding, Step
from conclint.extract.facts import Call
from conclint.program.index import Where

_FIX_501 = ("call it on every rank and keep only the rank-0 work, such as logging or "
            "saving, under the condition")


# ----------------------------------------------------------------- CL501
def rank_conditional_collective(analyses: Analyses) -> Iterator[Finding]:
    program, calls, flow = analyses.program, analyses.ml_calls, analyses.rank_flow
    for where in program.iter_functions():
        decorator = calls.one_rank_decorator(where.qualname) \
            if where.qualname in calls.one_rank else None
        if decorator is not None:
            yield from _one_rank_function(analyses, where, decorator)
            continue
        divergences = flow.divergences(where)
        if not divergences:
            continue
        tokens = flow.tokens(where)
        by_loc = {c.loc: c for c in where.function.calls}
        path = where.module.path
        for div in divergences:
            call = by_loc[div.call_loc]
            what, chain = _describe(analyses, where, call, tokens[call.loc])
            condition = Step(path, div.branch.loc,
                             f"this condition depends on the rank (`{div.subject}`)")
            if div.exit is None:
                yield finding(
                    "CL501", path, call.loc,
                    f"{what} is a collective every rank must call, but it only runs on the "
                    f"ranks where the condition on `{div.subject}` holds; the other ranks "
                    f"never join it and the job hangs until the collective times out "
                    f"({_FIX_501})", [condition, *chain])
            else:
                leave = Step(path, div.exit.loc, f"`{div.exit.kind}` on some ranks only")
                yield finding(
                    "CL501", path, call.loc,
                    f"{what} is a collective every rank must call, but the "
                    f"`{div.exit.kind}` under the condition on `{div.subject}` skips it on "
                    "some ranks; the others wait for them until the collective times out "
                    "(make the decision on every rank, e.g. all_reduce a flag first)",
                    [condition, leave, *chain])


def _one_rank_function(analyses: Analyses, where: Where, decorator: str
                       ) -> Iterator[Finding]:
    tokens = analyses.rank_flow.tokens(where)
    path = where.module.path
    fn = where.function
    bare = decorator[:-2] if decorator.endswith("()") else decorator
    for call in fn.calls:
        entry = tokens.get(call.loc)
        if entry is None or entry[1]:
            continue
        what, chain = _describe(analyses, where, call, entry)
        yield finding(
            "CL501", path, call.loc,
            f"{what} is a collective every rank must call, but `{fn.name}()` runs on one "
            f"process only (`@{bare}`); the other ranks never join it and the job hangs "
            f"until the collective times out ({_FIX_501})",
            [Step(path, fn.loc, f"`@{bare}` runs `{fn.name}()` on one process"), *chain])


def _describe(analyses: Analyses, where: Where, call: Call, entry: tuple
              ) -> tuple[str, list[Step]]:
    _, _, site, callees = entry
    if site is not None:
        return site.what, []
    calls = analyses.ml_calls
    for callee in callees:
        found = calls.first_collective(callee)
        if found is not None:
            kind, witness = found
            step = Step(where.module.path, call.loc, f"calls `{call.callee}()`")
            return (f"`{call.callee}()` reaches `{kind}`, which",
                    [step, *witness])
    return f"`{call.callee}()`", []


# ----------------------------------------------------------------- CL502
def cuda_in_forked_worker(analyses: Analyses) -> Iterator[Finding]:
    program, calls, workers = analyses.program, analyses.ml_calls, analyses.workers
    seen: set[str] = set()
    for loader in workers.loaders:
        if not loader.fork:
            continue
        for qualname, role in _worker_functions(analyses, loader):
            if qualname in seen or "cuda" not in calls.cuda_reach.reached(qualname):
                continue
            seen.add(qualname)
            where = program.where(qualname)
            witness = calls.cuda_reach.witness(qualname, "cuda")
            touch = _cuda_what(analyses, witness)
            yield finding(
                "CL502", where.module.path, witness[0].loc,
                f"{touch} runs in a DataLoader worker process ({role} of a DataLoader with "
                f"{loader.workers}, started by fork): CUDA cannot be initialised in a forked "
                "child ('Cannot re-initialize CUDA in forked subprocess'); keep worker code "
                "on the CPU and move each batch to the GPU in the main process (or pass "
                "multiprocessing_context='spawn')",
                [_loader_step(loader), *witness[1:]])
    for fork in workers.forks:
        if "cuda" not in calls.cuda_reach.reached(fork.target):
            continue
        point = fork.creation if fork.creation is not None and any(
            c is fork.creation for c in fork.where.function.calls) else fork.call
        parent = _parent_cuda(analyses, fork.where, point.loc)
        if parent is None:
            continue
        witness = calls.cuda_reach.witness(fork.target, "cuda")
        target = fork.target.rpartition(".")[2]
        kind = "pool" if fork.pool else "process"
        yield finding(
            "CL502", fork.where.module.path, fork.call.loc,
            f"`{target}()` uses CUDA in a fork-started {kind}, and this process initialised "
            "CUDA before forking: the child cannot use the inherited CUDA state ('Cannot "
            "re-initialize CUDA in forked subprocess'); use "
            "`multiprocessing.get_context('spawn')` or initialise CUDA only in the children",
            [parent, Step(program.where(fork.target).module.path,
                          program.where(fork.target).function.loc,
                          f"`{target}()` runs in the child"), *witness])


def _worker_functions(analyses: Analyses, loader: Loader) -> Iterator[tuple[str, str]]:
    """The analysed functions a DataLoader runs in its workers, with how to name them."""
    program = analyses.program
    for cls in loader.datasets:
        short = cls.rpartition(".")[2]
        for method in ml.WORKER_METHODS:
            qualname = program.method(cls, method)
            if qualname is not None:
                yield qualname, f"`{short}.{method}`"
    if loader.collate_fn is not None:
        yield loader.collate_fn, "the `collate_fn`"
    if loader.worker_init_fn is not None:
        yield loader.worker_init_fn, "the `worker_init_fn`"


def _loader_step(loader: Loader) -> Step:
    return Step(loader.where.module.path, loader.call.loc,
                f"the DataLoader ({loader.workers}) runs it in worker processes")


def _cuda_what(analyses: Analyses, witness: list[Step]) -> str:
    """``.cuda()`` for a direct use; ``helper()`` (which uses CUDA) through a call."""
    message = witness[-1].message
    touch = message[len("calls "):] if message.startswith("calls ") else "CUDA"
    if len(witness) == 1:
        return touch
    first = witness[0].message
    name = first[len("calls "):] if first.startswith("calls ") else "a call"
    return f"{name} (which uses CUDA: {touch})"


def _parent_cuda(analyses: Analyses, where: Where, before: int) -> Step | None:
    """Where this process initialised CUDA before ordinal ``before`` of ``where``: earlier
    in the function (directly or through a call), or at the top level of its module."""
    calls = analyses.ml_calls
    reach = calls.cuda_reach
    module_top = f"{where.module.module}.<module>"
    for site in calls.cuda.get(where.qualname, []):
        if site.call.loc < before:
            return Step(where.module.path, site.call.loc, f"CUDA initialised here: {site.what}")
    for edge in analyses.calls.out_edges.get(where.qualname, []):
        if edge.call.loc < before and "cuda" in reach.reached(edge.callee):
            return Step(where.module.path, edge.call.loc,
                        f"CUDA initialised here, in `{edge.call.callee}()`")
    if where.qualname != module_top and "cuda" in reach.reached(module_top):
        step = reach.witness(module_top, "cuda")[0]
        return Step(step.path, step.loc, "CUDA initialised at import time (module level)")
    return None


# ----------------------------------------------------------------- CL503
def worker_rng_duplication(analyses: Analyses) -> Iterator[Finding]:
    yield from _rng_objects(analyses)
    yield from _constant_worker_seeds(analyses)
    yield from _numpy_in_fork_pool(analyses)


def _rng_objects(analyses: Analyses) -> Iterator[Finding]:
    for copied in analyses.worker_rngs.copied():
        loader = copied.loader
        yield finding(
            "CL503", copied.where.module.path, copied.call.loc,
            f"`{copied.call.callee}()` draws from `{copied.rng}`, a random generator "
            "created once in the main process: every DataLoader worker gets a copy in the "
            f"same state ({loader.workers}), so all workers produce the same 'random' "
            "numbers (PyTorch reseeds only the global torch/random/NumPy generators per "
            "worker); create it lazily in the worker, seeded from "
            "`torch.utils.data.get_worker_info().seed`",
            [copied.created, _loader_step(loader)])


def _constant_worker_seeds(analyses: Analyses) -> Iterator[Finding]:
    program, calls = analyses.program, analyses.ml_calls
    seen: set[str] = set()
    for loader in analyses.workers.loaders:
        qualname = loader.worker_init_fn
        if qualname is None or qualname in seen:
            continue
        seen.add(qualname)
        where = program.where(qualname)
        fn = where.function
        for site in calls.seeds.get(qualname, []):
            seed = arg(site.call, "seed", 0)
            if seed is None:
                continue
            if seed.kind == "const":
                shown = repr(seed.const)
            elif seed.kind == "name" and seed.text is not None and "." in seed.text and \
                    seed.text.split(".")[0] not in fn.params and \
                    seed.text.split(".")[0] not in fn.locals:
                shown = f"`{seed.text}`"
            else:
                continue
            yield finding(
                "CL503", where.module.path, site.call.loc,
                f"{site.what} seeds every DataLoader worker with the same value ({shown}): "
                f"this `worker_init_fn` runs in each worker and ignores which one it is in, "
                "so all workers draw the same random numbers; derive the seed from "
                "`torch.initial_seed()` or the worker id",
                [_loader_step(loader)])


def _numpy_in_fork_pool(analyses: Analyses) -> Iterator[Finding]:
    program, calls = analyses.program, analyses.ml_calls
    for fork in analyses.workers.forks:
        if not fork.pool or fork.has_initializer:
            continue
        target = fork.target
        if "numpy" not in calls.numpy_reach.reached(target) or \
                "seed" in calls.seed_reach.reached(target):
            continue
        witness = calls.numpy_reach.witness(target, "numpy")
        name = target.rpartition(".")[2]
        yield finding(
            "CL503", fork.where.module.path, fork.call.loc,
            f"`{name}()` draws from NumPy's global random generator in a fork-started pool: "
            "every worker process starts from a copy of the parent's generator state, so "
            "the workers draw the same numbers; seed it per worker (an `initializer` that "
            "calls `np.random.seed()`) or pass each task its own `np.random.default_rng()` "
            "seed",
            [Step(program.where(target).module.path, program.where(target).function.loc,
                  f"`{name}()` runs in the pool's workers"), *witness])


# ----------------------------------------------------------------- CL504
def process_group_not_destroyed(analyses: Analyses) -> Iterator[Finding]:
    for entry in analyses.process_groups.unbalanced():
        fn = entry.where.function
        init = entry.witness[-1].message[len("calls "):]
        owner = "this module" if fn.qualname == "<module>" else f"`{fn.name}()`"
        if entry.state == "none":
            message = (f"{init} creates the default process group, but {owner} never calls "
                       "`torch.distributed.destroy_process_group()`: PyTorch warns at exit, "
                       "NCCL resources leak, and a rank that exits early can leave its peers "
                       "blocked; destroy it in a `finally:` block")
            related = entry.witness[1:]
        else:
            message = (f"{init} creates the default process group, but {owner} destroys it "
                       "only on the normal path: an exception skips "
                       "`destroy_process_group()`; call it in a `finally:` block")
            related = [*entry.witness[1:], *([entry.destroy] if entry.destroy else [])]
        yield finding("CL504", entry.where.module.path, entry.witness[0].loc, message, related)


# ----------------------------------------------------------------- CL505
def iterable_dataset_not_sharded(analyses: Analyses) -> Iterator[Finding]:
    program, calls = analyses.program, analyses.ml_calls
    seen: set[str] = set()
    for loader in analyses.workers.loaders:
        if loader.has_worker_init or loader.count == 1:
            continue  # a worker_init_fn may shard each worker's copy; one worker is fine
        for cls in loader.datasets:
            bases = calls.external_bases(cls)
            if not ml.ITERABLE_DATASET_BASES.intersection(bases):
                continue
            qualname = program.method(cls, "__iter__")
            if qualname is None or qualname in seen or calls.shard_reach.reached(qualname):
                continue
            seen.add(qualname)
            where = program.where(qualname)
            short = cls.rpartition(".")[2]
            yield finding(
                "CL505", where.module.path, where.function.loc,
                f"`{short}.__iter__` never asks which DataLoader worker it runs in, and the "
                f"DataLoader starts worker processes ({loader.workers}): each worker "
                "iterates the whole dataset, so every sample is yielded once per worker; "
                "split the stream with `torch.utils.data.get_worker_info()` "
                "(`.id`, `.num_workers`)",
                [_loader_step(loader)])


CHECKS = (
    (("CL501",), rank_conditional_collective),
    (("CL502",), cuda_in_forked_worker),
    (("CL503",), worker_rng_duplication),
    (("CL504",), process_group_not_destroyed),
    (("CL505",), iterable_dataset_not_sharded),
)
