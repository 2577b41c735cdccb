"""CL5xx: ML frameworks — rank-divergent collectives, CUDA and RNGs in worker processes,
process-group teardown, IterableDataset sharding."""

from __future__ import annotations

from collections.abc import Iterator

from conclint import knowledge_ml as ml
from conclint.analyses.calls import Edge
from conclint.analyses.context import Analyses
from conclint.analyses.lockgraph import call_step
from conclint.analyses.reach import Reach
from conclint.analyses.workers import Loader, arg
from conclint.checks.base import finding
from conclint.diagnostics import Finding, Step
from conclint.extract.facts import Call
from conclint.program.index import Where
from conclint.program.values import External, Func

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
    program = analyses.program
    seen: set[tuple[str, int]] = set()
    for loader in analyses.workers.loaders:
        mentioned = _mentioned(analyses, loader.worker_init_fn)
        if loader.has_worker_init and loader.worker_init_fn is None:
            continue  # an unresolved worker_init_fn may reseed anything
        for cls in loader.datasets:
            for method in ml.WORKER_METHODS:
                qualname = program.method(cls, method)
                if qualname is None:
                    continue
                for fn_name in [qualname, *_self_callees(analyses, qualname)]:
                    where = program.where(fn_name)
                    for call, rng, created in _draws(analyses, where, cls):
                        if rng.rpartition(".")[2] in mentioned or (fn_name, call.loc) in seen:
                            continue
                        seen.add((fn_name, call.loc))
                        yield finding(
                            "CL503", where.module.path, call.loc,
                            f"`{call.callee}()` draws from `{rng}`, a random generator "
                            "created once in the main process: every DataLoader worker gets "
                            f"a copy in the same state ({loader.workers}), so all workers "
                            "produce the same 'random' numbers (PyTorch reseeds only the "
                            "global torch/random/NumPy generators per worker); create it "
                            "lazily in the worker, seeded from "
                            "`torch.utils.data.get_worker_info().seed`",
                            [created, _loader_step(loader)])


def _self_callees(analyses: Analyses, qualname: str) -> list[str]:
    return [e.callee for e in analyses.calls.out_edges.get(qualname, []) if e.via_self]


def _mentioned(analyses: Analyses, qualname: str | None) -> set[str]:
    """Attribute names a worker_init_fn assigns or calls methods of (it may reseed them)."""
    if qualname is None:
        return set()
    fn = analyses.program.where(qualname).function
    names: set[str] = set()
    for call in fn.calls:
        for text in (call.target or "", call.callee):
            names.update(part for part in text.split(".")[1:] if part.isidentifier())
    return names


def _draws(analyses: Analyses, where: Where, cls: str) -> Iterator[tuple[Call, str, Step]]:
    """Draws in ``where`` from an RNG object made once: a ``self`` attribute created in
    ``__init__`` (or the class body) and never reassigned, or a module-level global."""
    fn = where.function
    self_name = fn.params[0] if fn.cls is not None and fn.params else None
    for call in fn.calls:
        receivers = []
        head, _, method = call.callee.rpartition(".")
        if head and method not in ml.RNG_NOT_DRAWS:
            receivers.append(head)
        receivers.extend(a.text for a in call.args
                         if a.keyword == "generator" and a.text is not None)
        for receiver in receivers:
            created = _rng_creation(analyses, where, cls, receiver, self_name)
            if created is not None:
                yield call, receiver, created
                break


def _rng_creation(analyses: Analyses, where: Where, cls: str, receiver: str,
                  self_name: str | None) -> Step | None:
    program = analyses.program
    parts = receiver.split(".")
    if self_name is not None and len(parts) == 2 and parts[0] == self_name:
        attr = parts[1]
        for owner in program.mro(cls):
            module, owner_cls = program.classes[owner]
            if attr not in owner_cls.attrs:
                continue
            scope_name = owner_cls.attr_scope[attr]
            if scope_name.rpartition(".")[2] not in ("__init__", "<module>"):
                return None
            scope = program.functions.get(f"{module.module}.{scope_name}")
            if scope is None or not _is_rng(analyses, scope, owner_cls.attrs[attr]):
                return None
            if _reassigned(analyses, cls, attr, scope.qualname):
                return None
            return Step(module.path, owner_cls.attr_locs[attr],
                        f"`{receiver}` is created here, once, in the main process")
        return None
    if len(parts) == 1 and receiver not in where.function.locals and \
            receiver not in where.function.params:
        module = where.module
        text = module.globals.get(receiver)
        top = program.functions[f"{module.module}.<module>"]
        if text is not None and _is_rng(analyses, top, text):
            return Step(module.path, module.global_locs[receiver],
                        f"`{receiver}` is created here, once, at import time")
    return None


def _is_rng(analyses: Analyses, where: Where, text: str) -> bool:
    if not text.endswith("()"):
        return False
    value = analyses.program.resolve(where, text[:-2])
    return isinstance(value, External) and value.name in ml.RNG_FACTORIES


def _reassigned(analyses: Analyses, cls: str, attr: str, creator: str) -> bool:
    """Some other method assigns the attribute again (a per-worker re-creation)."""
    program = analyses.program
    for owner in program.mro(cls):
        prefix = owner + "."
        for qualname, where in program.functions.items():
            if not qualname.startswith(prefix) or qualname == creator:
                continue
            fn = where.function
            if fn.params and any(c.target == f"{fn.params[0]}.{attr}" for c in fn.calls):
                return True
    return False


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
    program, graph, calls = analyses.program, analyses.calls, analyses.ml_calls
    if not calls.pg_init:
        return
    at_exit = _destroy_at_exit(analyses)
    status_cache: dict[tuple[str, int], tuple[str, Step | None]] = {}

    def status(qualname: str, after: int) -> tuple[str, Step | None]:
        key = (qualname, after)
        if key not in status_cache:
            status_cache[key] = _teardown(analyses, program.where(qualname), after, at_exit)
        return status_cache[key]

    def owned(qualname: str) -> bool:
        """Methods: a class (a launcher, a trainer) may own the group across its methods."""
        return program.where(qualname).function.cls is not None

    direct: dict[str, dict[str, Step]] = {}
    for qualname, sites in calls.pg_init.items():
        first = min(sites, key=lambda s: s.call.loc)
        if not owned(qualname) and status(qualname, first.call.loc)[0] != "both":
            path = program.where(qualname).module.path
            direct[qualname] = {"init": Step(path, first.call.loc, f"calls {first.what}")}

    def propagate(edge: Edge, key: str) -> str | None:
        if owned(edge.caller) or status(edge.caller, edge.call.loc)[0] == "both":
            return None
        return key

    reach: Reach[str] = Reach(graph, direct, propagate, lambda e: call_step(program, e))
    entries = {q for q, facts in reach.facts.items() if "init" in facts and _entry(analyses, q)}
    for qualname in sorted(entries):
        if _through_entry(reach, qualname, entries):
            continue  # reported at the entry point it calls
        where = program.where(qualname)
        fn = where.function
        witness = reach.witness(qualname, "init")
        state, destroy = status(qualname, witness[0].loc)
        init = witness[-1].message[len("calls "):]
        owner = "this module" if fn.qualname == "<module>" else f"`{fn.name}()`"
        if state == "none":
            message = (f"{init} creates the default process group, but {owner} never calls "
                       "`torch.distributed.destroy_process_group()`: PyTorch warns at exit, "
                       "NCCL resources leak, and a rank that exits early can leave its peers "
                       "blocked; destroy it in a `finally:` block")
            related = witness[1:]
        else:
            message = (f"{init} creates the default process group, but {owner} destroys it "
                       "only on the normal path: an exception skips "
                       "`destroy_process_group()`; call it in a `finally:` block")
            related = [*witness[1:], *([destroy] if destroy else [])]
        yield finding("CL504", where.module.path, witness[0].loc, message, related)


def _entry(analyses: Analyses, qualname: str) -> bool:
    """Where a process's run starts: module code that creates the group itself, a function
    called from module level (``main()``), or one no analysed code calls (a target of
    ``mp.spawn``, a console script)."""
    if qualname.endswith(".<module>"):
        return qualname in analyses.ml_calls.pg_init
    callers = analyses.calls.callers(qualname)
    return not callers or qualname in analyses.calls.referenced or any(
        e.caller.endswith(".<module>") for e in callers)


def _through_entry(reach: Reach[str], qualname: str, entries: set[str]) -> bool:
    hop = reach.facts[qualname]["init"]
    seen = {qualname}
    while hop.callee is not None and hop.callee not in seen:
        if hop.callee in entries:
            return True
        seen.add(hop.callee)
        hop = reach.facts[hop.callee]["init"]
    return False


def _teardown(analyses: Analyses, where: Where, after: int,
              at_exit: tuple[Reach[str], set[str]]) -> tuple[str, Step | None]:
    """"both" when a destroy after ordinal ``after`` sits in a ``finally`` (or the function
    registers one with ``atexit``), "normal" when one runs only on the normal path, else
    "none"."""
    calls = analyses.ml_calls
    fn = where.function
    registered, modules = at_exit
    if registered.reached(where.qualname) or where.module.module in modules:
        return "both", None
    sites = [s.call.loc for s in calls.pg_destroy.get(where.qualname, [])]
    sites += [e.call.loc for e in analyses.calls.out_edges.get(where.qualname, [])
              if "destroy" in calls.destroy_reach.reached(e.callee)]
    sites = sorted(loc for loc in sites if loc > after)
    if not sites:
        return "none", None
    finals = [b.body for b in fn.branches if b.kind == "finally"]
    handlers = [b.body for b in fn.branches if b.kind == "except"]
    for loc in sites:
        if any(start < loc <= end for start, end in finals):
            return "both", None
    normal = [loc for loc in sites if not any(s < loc <= e for s, e in handlers)]
    loc = normal[0] if normal else sites[0]
    return "normal", Step(where.module.path, loc, "destroyed here, on the normal path only")


def _destroy_at_exit(analyses: Analyses) -> tuple[Reach[str], set[str]]:
    """Functions that register the group's teardown with ``atexit`` (directly or through
    calls: ``atexit.register(dist.destroy_process_group)``), and modules that register it on
    import (``@atexit.register`` on a function that destroys it)."""
    program, calls = analyses.program, analyses.ml_calls
    direct: dict[str, dict[str, Step]] = {}
    for where, call in calls.at_exit:
        registered = arg(call, "func", 0)
        if registered is None or registered.text is None:
            continue
        value = program.resolve(where, registered.text)
        if (isinstance(value, External) and value.name in ml.PROCESS_GROUP_DESTROY) or (
                isinstance(value, Func)
                and "destroy" in calls.destroy_reach.reached(value.qualname)):
            direct.setdefault(where.qualname, {})["atexit"] = Step(
                where.module.path, call.loc, "registers the teardown with atexit")
    modules = {
        where.module.module for where in program.iter_functions()
        if any(d.endswith("atexit.register") for d in where.function.decorators)
        and "destroy" in calls.destroy_reach.reached(where.qualname)
    }
    reach: Reach[str] = Reach(analyses.calls, direct, lambda edge, key: key,
                              lambda e: call_step(program, e))
    return reach, modules


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
