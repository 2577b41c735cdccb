"""The ML-relevant call sites of every function, and what each function may reach through calls.

A call site is classified once: a collective (explicit, implicit such as a DDP forward or an
FSDP ``state_dict()``, or declared in the configuration), a CUDA initialiser, a draw from
NumPy's global RNG, a seeding call, a consultation of the DataLoader worker info (sharding),
process-group creation or teardown. ``Reach`` summaries carry each of these facts up the
call graph with a witness path, so the checks see them through helper functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from conclint import knowledge_ml as ml
from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.lockgraph import call_step
from conclint.analyses.rank_tests import RankTests, reads_parameter
from conclint.analyses.reach import Reach
from conclint.diagnostics import Step
from conclint.extract.facts import Arg, Call
from conclint.knowledge import canonical
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import External, Instance, Param

_WRAPPERS = frozenset({"torch.nn.parallel.DistributedDataParallel",
                       "torch.distributed.fsdp.FullyShardedDataParallel"})
_WRAPPER_NAMES = tuple(name.rpartition(".")[2] for name in _WRAPPERS)
# Method names worth resolving a receiver for (``accelerator.gather``, ``self.all_gather``).
_METHODS = frozenset(name.rpartition(".")[2] for name in ml.COLLECTIVES) | {
    ml.SYNC_LOG.rpartition(".")[2]}
# Every API name and method name that classifies a call site (see ``MLCalls._classify``).
_API_NAMES = frozenset({*ml.COLLECTIVES, ml.SYNC_LOG, *ml.SHARDING_CALLS, *ml.NUMPY_GLOBAL_DRAWS,
                        *ml.SEEDERS, *ml.PROCESS_GROUP_INIT, *ml.PROCESS_GROUP_DESTROY,
                        ml.AT_EXIT})
_CLASSIFYING_METHODS = _METHODS | ml.CUDA_METHODS | ml.DEVICE_MOVES | ml.SHARDING_METHODS


@dataclass(frozen=True, slots=True)
class Site:
    """A classified call site: ``what`` names it for messages."""

    call: Call
    what: str
    kind: str = ""  # a collective's kind (calls with the same kind match across ranks)
    grouped: bool = False  # a collective limited to an explicit process group


def callee_name(call: Call) -> str:
    return call.callee or "<call>"


def _cuda_literal(value: object) -> bool:
    return isinstance(value, str) and value.startswith("cuda")


def _device_argument(call: Call) -> Arg | None:
    """A ``device="cuda..."`` argument (``torch.zeros(3, device="cuda")``)."""
    for arg in call.args:
        if arg.keyword in ml.CUDA_DEVICE_KEYWORDS and _cuda_literal(arg.const):
            return arg
    return None


class MLCalls:
    """Classified sites per function and the reach summaries built from them."""

    def __init__(self, program: Program, calls: CallGraph,
                 extra_collectives: Iterable[str] = ()) -> None:
        self.program = program
        self.calls = calls
        self.extra = frozenset(canonical(name) for name in extra_collectives)
        self._extra_tails = frozenset(name.rpartition(".")[2] for name in self.extra)
        self._api_names = _API_NAMES | self.extra
        self._methods = _CLASSIFYING_METHODS | self._extra_tails
        self._bases: dict[str, list[str]] = {}
        self._wrapper_modules: dict[str, bool] = {}
        self.collectives: dict[str, list[Site]] = {}
        self.cuda: dict[str, list[Site]] = {}
        self.numpy_draws: dict[str, list[Site]] = {}
        self.seeds: dict[str, list[Site]] = {}
        self.shards: dict[str, list[Site]] = {}
        self.pg_init: dict[str, list[Site]] = {}
        self.pg_destroy: dict[str, list[Site]] = {}
        self.at_exit: list[tuple[Where, Call]] = []
        for where in program.iter_functions():
            self._classify(where)
        describe = partial(call_step, program)
        self.one_rank = {q for q in program.functions if self.one_rank_decorator(q)}
        self.guarded = {q: self._guarded(program.where(q), sites)
                        for q, sites in self.collectives.items()}
        self.collective_reach: Reach[str] = Reach(
            calls, _direct(program, self.collectives, lambda s: s.kind),
            self._propagate_collective, describe)
        # The collectives a function issues on every path (outside loops and conditions).
        self._conditional: dict[str, list[tuple[int, int]]] = {}
        surely = {q: [s for s in sites if self.unconditional(program.where(q), s.call.loc)]
                  for q, sites in self.collectives.items()}
        self.surely_reach: Reach[str] = Reach(
            calls, _direct(program, surely, lambda s: s.kind),
            lambda edge, key: self._propagate_collective(edge, key) if self.unconditional(
                program.where(edge.caller), edge.call.loc) else None, describe)
        self.cuda_reach: Reach[str] = self._reach(self.cuda, "cuda")
        self.numpy_reach: Reach[str] = self._reach(self.numpy_draws, "numpy")
        self.seed_reach: Reach[str] = self._reach(self.seeds, "seed")
        self.shard_reach: Reach[str] = self._reach(self.shards, "shard")
        self.destroy_reach: Reach[str] = self._reach(self.pg_destroy, "destroy")

    def _propagate_collective(self, edge: Edge, key: str) -> str | None:
        """A caller does not inherit the collectives of a function that runs on one rank
        only, nor those a function issues only under a test of a rank its caller passes
        (``torch_distributed_zero_first(local_rank)`` is a no-op for ``local_rank=-1``)."""
        if edge.callee in self.one_rank or key in self.guarded.get(edge.callee, ()):
            return None
        return key

    def _guarded(self, where: Where, sites: list[Site]) -> frozenset[str]:
        """Kinds of collective whose every site here is under a test of a rank parameter."""
        fn = where.function
        tests = RankTests(fn)
        arms = [arm for b in fn.branches
                if b.kind == "if" and reads_parameter(tests, b.test)
                for arm in (b.body, b.orelse) if arm is not None]
        if not arms:
            return frozenset()
        inside = {s.kind for s in sites if any(lo < s.call.loc <= hi for lo, hi in arms)}
        outside = {s.kind for s in sites if not any(lo < s.call.loc <= hi for lo, hi in arms)}
        return frozenset(inside - outside)

    def unconditional(self, where: Where, loc: int) -> bool:
        """The node at ``loc`` runs whenever the function does (collectives being up)."""
        ranges = self._conditional.get(where.qualname)
        if ranges is None:
            tests = RankTests(where.function)
            ranges = []
            for branch in where.function.branches:
                if branch.kind == "finally":
                    continue
                if branch.kind == "if" and branch.test is not None and all(
                        tests.value(branch.test, (rank, ())) is True for rank in (0, 1)):
                    continue  # `if dist.is_initialized():`
                ranges.append(branch.body)
                if branch.orelse is not None:
                    ranges.append(branch.orelse)
            self._conditional[where.qualname] = ranges
        return not any(lo < loc <= hi for lo, hi in ranges)

    def _reach(self, sites: dict[str, list[Site]], key: str) -> Reach[str]:
        return Reach(self.calls, _direct(self.program, sites, lambda s: key),
                     lambda edge, k: k, lambda e: call_step(self.program, e))

    # -------------------------------------------------------------- classify
    def _classify(self, where: Where) -> None:
        qualname = where.qualname
        forwards = self._has_wrappers(where)
        api_names, methods, extra = self._api_names, self._methods, self.extra
        for call, target in self.calls.resolved(qualname):
            name = target.external
            method = call.callee.rpartition(".")[2]
            # Most call sites are none of these; what follows tests the same conditions
            # one by one (a quick way past them, not a different classification).
            if not (method in methods or target.function in extra
                    or (name is None and target.function is None and forwards)
                    or (name is not None and (name in api_names or name.startswith("torch.cuda")))
                    or (call.args and _device_argument(call) is not None)):
                continue
            collective = self._collective(where, call, target, forwards, method)
            if collective is not None:
                self.collectives.setdefault(qualname, []).append(collective)
            cuda = self._cuda(call, target, method)
            if cuda is not None:
                self.cuda.setdefault(qualname, []).append(Site(call, cuda))
            if name in ml.SHARDING_CALLS or (
                    target.function is None and method in ml.SHARDING_METHODS):
                self._add(self.shards, qualname, call)
            if name is None:
                continue
            if name in ml.NUMPY_GLOBAL_DRAWS:
                self._add(self.numpy_draws, qualname, call)
            elif name in ml.SEEDERS:
                self._add(self.seeds, qualname, call)
            elif name in ml.PROCESS_GROUP_INIT:
                self._add(self.pg_init, qualname, call)
            elif name in ml.PROCESS_GROUP_DESTROY:
                self._add(self.pg_destroy, qualname, call)
            elif name == ml.AT_EXIT:
                self.at_exit.append((where, call))

    @staticmethod
    def _add(table: dict[str, list[Site]], qualname: str, call: Call) -> None:
        table.setdefault(qualname, []).append(Site(call, f"`{callee_name(call)}()`"))

    def _collective(self, where: Where, call: Call, target: CallTarget,
                    forwards: bool, method: str) -> Site | None:
        name = target.external
        if name is None and target.function is None:
            if not forwards and method not in _METHODS and method not in self._extra_tails:
                return None
            name = self._unresolved(where, call, forwards)
        if name is None and target.function in self.extra:
            return Site(call, f"`{callee_name(call)}()`", target.function.rpartition(".")[2],
                        _grouped(call))
        if name is None:
            return None
        if name == ml.SYNC_LOG:
            if any(a.keyword == "sync_dist" and a.const is True for a in call.args):
                return Site(call, f"`{callee_name(call)}(..., sync_dist=True)`", "all_reduce")
            return None
        kind = ml.COLLECTIVES.get(name)
        if kind is None and name in self.extra:
            kind = name.rpartition(".")[2]
        if kind is None:
            return None
        if kind == "forward" and self._under_no_sync(where, call):
            return None
        shown = callee_name(call)
        return Site(call, f"`{shown}()`" if kind != "forward" else
                    f"`{shown}(...)` (a forward of a distributed wrapper)", kind, _grouped(call))

    def _unresolved(self, where: Where, call: Call, forwards: bool) -> str | None:
        """Names for calls the call graph left alone: methods inherited from a framework base
        class (``self.all_gather``), the wrappers' forward (``model(x)``), receivers named
        after the framework object (``accelerator.gather``), declared collectives."""
        callee = call.callee
        if not callee:
            return None
        receiver, _, method = callee.rpartition(".")
        if forwards and not receiver and "(" not in callee and "[" not in callee:
            value = self.program.resolve(where, callee)
            if isinstance(value, Instance) and value.type in _WRAPPERS:
                return f"{value.type}.__call__"
        if method not in _METHODS and method not in self._extra_tails:
            return None
        fn = where.function
        if receiver and fn.cls is not None and fn.params and receiver == fn.params[0]:
            for base in self.external_bases(f"{where.module.module}.{fn.cls}"):
                candidate = f"{base}.{method}"
                if candidate in ml.COLLECTIVES or candidate == ml.SYNC_LOG:
                    return candidate
        if forwards and "(" not in callee and "[" not in callee and receiver:
            value = self.program.resolve(where, callee)
            if isinstance(value, Instance) and value.type in _WRAPPERS:
                return f"{value.type}.__call__"
        if receiver:
            value = self.program.resolve(where, receiver)
            if isinstance(value, Instance) and not value.in_tree:
                candidate = canonical(f"{value.type}.{method}")
                if candidate in ml.COLLECTIVES:
                    return candidate
            if value is None or isinstance(value, Param):
                owner = ml.NAMED_RECEIVERS.get(receiver.rpartition(".")[2])
                if owner is not None and f"{owner}.{method}" in ml.COLLECTIVES:
                    return f"{owner}.{method}"
        if method in self._extra_tails:
            value = self.program.resolve(where, callee)
            if isinstance(value, External) and value.name in self.extra:
                return value.name
        return None

    def _has_wrappers(self, where: Where) -> bool:
        """Only modules that build a DDP/FSDP wrapper resolve plain calls looking for its
        forward (``model(x)``): a call named after the class or an alias of it."""
        module = where.module
        found = self._wrapper_modules.get(module.module)
        if found is None:
            names = set(_WRAPPER_NAMES)
            names.update(alias for alias, name in module.imports.items()
                         if name.endswith(_WRAPPER_NAMES))
            # ``module.names`` holds the last name of every callee (and more): most modules
            # name no wrapper at all, and only the others need their calls looked at
            found = not names.isdisjoint(module.names) and any(
                call.callee.rpartition(".")[2] in names
                for fn in module.functions for call in fn.calls)
            self._wrapper_modules[module.module] = found
        return found

    def _under_no_sync(self, where: Where, call: Call) -> bool:
        acquires = where.function.acquires
        return any(acquires[i].lock.endswith(f".{ml.NO_SYNC}()") for i in call.held)

    def _cuda(self, call: Call, target: CallTarget, method: str) -> str | None:
        name = target.external
        callee = call.callee
        if name is not None and name.startswith("torch.cuda"):
            return f"`{callee}()`" if name in ml.CUDA_INITIALISERS else None
        if target.function is None and method != callee:
            if method in ml.CUDA_METHODS:
                return f"`{callee}()`"
            if method in ml.DEVICE_MOVES:
                first = next((a for a in call.args if a.keyword in (None, "device")), None)
                if first is not None and _cuda_literal(first.const):
                    return f"`{callee}({first.const!r})`"
        arg = _device_argument(call)
        if arg is not None:
            return f"`{callee}(..., device={arg.const!r})`"
        return None

    # --------------------------------------------------------------- queries
    def external_bases(self, cls: str) -> list[str]:
        bases = self._bases.get(cls)
        if bases is None:
            bases = self._bases[cls] = (
                self.program.external_bases(cls) if cls in self.program.classes else [])
        return bases

    def one_rank_decorator(self, qualname: str) -> str | None:
        """The decorator that runs this function on one process only (``@rank_zero_only``)."""
        for decorator in self.program.where(qualname).function.decorators:
            bare = decorator[:-2] if decorator.endswith("()") else decorator
            if bare.rpartition(".")[2] in ml.ONE_RANK_DECORATORS:
                return decorator
        return None

    def issued(self, callee: str, reach: Reach[str] | None = None) -> list[str]:
        """The collectives a call of ``callee`` issues, as its callers see them."""
        if callee in self.one_rank:
            return []
        guarded = self.guarded.get(callee, frozenset())
        reached = (reach or self.collective_reach).reached(callee)
        return sorted(k for k in reached if k not in guarded)

    def collective_token(self, site: Site | None,
                         callees: list[str]) -> str | tuple[str, ...] | None:
        """What a call contributes to its rank's sequence of collectives."""
        if site is not None:
            return site.kind
        kinds = {kind for callee in callees for kind in self.issued(callee)}
        if not kinds:
            return None
        return next(iter(kinds)) if len(kinds) == 1 else tuple(sorted(kinds))

    def surely_issues(self, callees: list[str]) -> bool:
        return any(self.issued(c, self.surely_reach) for c in callees)

    def first_collective(self, callee: str) -> tuple[str, list[Step]] | None:
        """A collective ``callee`` issues and the witness path to it."""
        kinds = self.issued(callee)
        if not kinds:
            return None
        reached = self.collective_reach.reached(callee)
        key = min(kinds, key=lambda k: reached[k].step.loc)
        return key, self.collective_reach.witness(callee, key)


def _grouped(call: Call) -> bool:
    """``group=g`` passed (``group=None`` is the default group)."""
    return any(a.keyword in ml.GROUP_KEYWORDS and a.kind != "const" for a in call.args)


def _direct(program: Program, sites: dict[str, list[Site]],
            key: Callable[[Site], str]) -> dict[str, dict[str, Step]]:
    direct: dict[str, dict[str, Step]] = {}
    for qualname, found in sites.items():
        path = program.where(qualname).module.path
        mine = direct.setdefault(qualname, {})
        for site in found:
            mine.setdefault(key(site), Step(path, site.call.loc, f"calls {site.what}"))
    return direct


def edges_at(calls: CallGraph, qualname: str) -> dict[int, list[str]]:
    """The analysed functions each call site of ``qualname`` may run, by call ordinal."""
    out: dict[int, list[str]] = {}
    for edge in calls.out_edges.get(qualname, []):
        out.setdefault(edge.call.loc, []).append(edge.callee)
    return out

