"""Random generator objects copied into DataLoader workers (CL503).

A generator object (``np.random.default_rng()``, ``random.Random()``, ``torch.Generator()``)
made once — in a dataset's ``__init__``, its class body, or at module level — is copied, in
its current state, into every worker process. Draws from it in the worker methods (and
the ``self`` methods they call) are collected, unless the class creates it again in another
method (lazily, per worker) or the DataLoader's ``worker_init_fn`` touches that attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conclint import knowledge_ml as ml
from conclint.analyses.calls import CallGraph
from conclint.analyses.workers import Loader, Workers
from conclint.diagnostics import Step
from conclint.extract.facts import Call
from conclint.program.index import Program, Where
from conclint.program.values import External


@dataclass(frozen=True, slots=True)
class CopiedDraw:
    where: Where
    call: Call
    rng: str  # the receiver text: ``self.rng``, ``_RNG``
    created: Step
    loader: Loader


class WorkerRngs:
    def __init__(self, program: Program, calls: CallGraph, workers: Workers) -> None:
        self.program = program
        self.calls = calls
        self.workers = workers

    def copied(self) -> Iterator[CopiedDraw]:
        program = self.program
        seen: set[tuple[str, int]] = set()
        for loader in self.workers.loaders:
            if loader.has_worker_init and loader.worker_init_fn is None:
                continue  # an unresolved worker_init_fn may reseed anything
            mentioned = self._mentioned(loader.worker_init_fn)
            for cls in loader.datasets:
                for method in ml.WORKER_METHODS:
                    qualname = program.method(cls, method)
                    if qualname is None:
                        continue
                    for name in [qualname, *self._self_callees(qualname)]:
                        where = program.where(name)
                        for call, rng, created in self._draws(where, cls):
                            if rng.rpartition(".")[2] in mentioned or (name, call.loc) in seen:
                                continue
                            seen.add((name, call.loc))
                            yield CopiedDraw(where, call, rng, created, loader)

    def _self_callees(self, qualname: str) -> list[str]:
        return [e.callee for e in self.calls.out_edges.get(qualname, []) if e.via_self]

    def _mentioned(self, qualname: str | None) -> set[str]:
        """Attribute names a worker_init_fn assigns or calls methods of (it may reseed them)."""
        if qualname is None:
            return set()
        fn = self.program.where(qualname).function
        names: set[str] = set()
        for call in fn.calls:
            for text in (call.target or "", call.callee):
                names.update(part for part in text.split(".")[1:] if part.isidentifier())
        return names

    def _draws(self, where: Where, cls: str) -> Iterator[tuple[Call, str, Step]]:
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
                created = self._rng_creation(where, cls, receiver, self_name)
                if created is not None:
                    yield call, receiver, created
                    break

    def _rng_creation(self, where: Where, cls: str, receiver: str,
                      self_name: str | None) -> Step | None:
        program = self.program
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
                if scope is None or not self._is_rng(scope, owner_cls.attrs[attr]):
                    return None
                if self._reassigned(cls, attr, scope.qualname):
                    return None
                return Step(module.path, owner_cls.attr_locs[attr],
                            f"`{receiver}` is created here, once, in the main process")
            return None
        if len(parts) == 1 and receiver not in where.function.locals and \
                receiver not in where.function.params:
            module = where.module
            text = module.globals.get(receiver)
            top = program.functions[f"{module.module}.<module>"]
            if text is not None and self._is_rng(top, text):
                return Step(module.path, module.global_locs[receiver],
                            f"`{receiver}` is created here, once, at import time")
        return None

    def _is_rng(self, where: Where, text: str) -> bool:
        if not text.endswith("()"):
            return False
        value = self.program.resolve(where, text[:-2])
        return isinstance(value, External) and value.name in ml.RNG_FACTORIES

    def _reassigned(self, cls: str, attr: str, creator: str) -> bool:
        """Some other method assigns the attribute again (a per-worker re-creation)."""
        program = self.program
        for owner in program.mro(cls):
            prefix = owner + "."
            for qualname, where in program.functions.items():
                if not qualname.startswith(prefix) or qualname == creator:
                    continue
                fn = where.function
                if fn.params and any(c.target == f"{fn.params[0]}.{attr}" for c in fn.calls):
                    return True
        return False
