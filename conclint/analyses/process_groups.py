"""Where the default process group is created, and whether its teardown is guaranteed.

For every function: is a ``destroy_process_group()`` reached after the group is created,
and on which paths — in a ``finally:`` block or registered with ``atexit`` ("both"), as a
plain call ("normal"), or not at all ("none"). An unbalanced creation is carried up the
call graph (``Reach``) until a caller balances it; methods stop it, since a launcher or
trainer class may own the group across its methods. What is left at an entry point
(module code, a function called from module level, a spawn target, a function nobody
calls) is reported once, at the outermost such entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from conclint import knowledge_ml as ml
from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.lockgraph import call_step
from conclint.analyses.ml_calls import MLCalls
from conclint.analyses.reach import Reach
from conclint.analyses.workers import arg
from conclint.diagnostics import Step
from conclint.program.index import Program, Where
from conclint.program.values import External, Func


@dataclass(frozen=True, slots=True)
class Unbalanced:
    """An entry point whose process group is not destroyed on every path."""

    where: Where
    witness: list[Step]  # from the call in the entry point to the creation
    state: str  # "none" | "normal"
    destroy: Step | None  # the normal-path-only teardown


class ProcessGroups:
    def __init__(self, program: Program, calls: CallGraph, ml_calls: MLCalls) -> None:
        self.program = program
        self.calls = calls
        self.ml = ml_calls
        self._status: dict[tuple[str, int], tuple[str, Step | None]] = {}
        self._at_exit, self._at_exit_modules = self._registered_at_exit()
        direct: dict[str, dict[str, Step]] = {}
        for qualname, sites in ml_calls.pg_init.items():
            first = min(sites, key=lambda s: s.call.loc)
            if not self._owned(qualname) and self.status(qualname, first.call.loc)[0] != "both":
                path = program.where(qualname).module.path
                direct[qualname] = {"init": Step(path, first.call.loc, f"calls {first.what}")}
        self.reach: Reach[str] = Reach(calls, direct, self._propagate,
                                       partial(call_step, program))

    def unbalanced(self) -> Iterator[Unbalanced]:
        entries = {q for q, facts in self.reach.facts.items()
                   if "init" in facts and self._entry(q)}
        for qualname in sorted(entries):
            if self._through_entry(qualname, entries):
                continue  # reported at the entry point it calls
            witness = self.reach.witness(qualname, "init")
            state, destroy = self.status(qualname, witness[0].loc)
            yield Unbalanced(self.program.where(qualname), witness, state, destroy)

    def status(self, qualname: str, after: int) -> tuple[str, Step | None]:
        """"both" when a destroy after ordinal ``after`` sits in a ``finally`` (or the
        function registers one with ``atexit``), "normal" when one runs only on the normal
        path, else "none"; with the normal-path teardown."""
        key = (qualname, after)
        if key not in self._status:
            self._status[key] = self._teardown(self.program.where(qualname), after)
        return self._status[key]

    def _teardown(self, where: Where, after: int) -> tuple[str, Step | None]:
        fn = where.function
        if self._at_exit.reached(where.qualname) or where.module.module in self._at_exit_modules:
            return "both", None
        sites = [s.call.loc for s in self.ml.pg_destroy.get(where.qualname, [])]
        sites += [e.call.loc for e in self.calls.out_edges.get(where.qualname, [])
                  if "destroy" in self.ml.destroy_reach.reached(e.callee)]
        sites = sorted(loc for loc in sites if loc > after)
        if not sites:
            return "none", None
        finals = [b.body for b in fn.branches if b.kind == "finally"]
        if any(start < loc <= end for loc in sites for start, end in finals):
            return "both", None
        handlers = [b.body for b in fn.branches if b.kind == "except"]
        normal = [loc for loc in sites if not any(s < loc <= e for s, e in handlers)]
        loc = normal[0] if normal else sites[0]
        return "normal", Step(where.module.path, loc, "destroyed here, on the normal path only")

    def _owned(self, qualname: str) -> bool:
        """Methods: a class (a launcher, a trainer) may own the group across its methods."""
        return self.program.where(qualname).function.cls is not None

    def _propagate(self, edge: Edge, key: str) -> str | None:
        if self._owned(edge.caller) or self.status(edge.caller, edge.call.loc)[0] == "both":
            return None
        return key

    def _entry(self, qualname: str) -> bool:
        """Where a process's run starts: module code that creates the group itself, a
        function called from module level (``main()``), or one no analysed code calls (a
        target of ``mp.spawn``, a console script)."""
        if qualname.endswith(".<module>"):
            return qualname in self.ml.pg_init
        callers = self.calls.callers(qualname)
        return not callers or qualname in self.calls.referenced or any(
            e.caller.endswith(".<module>") for e in callers)

    def _through_entry(self, qualname: str, entries: set[str]) -> bool:
        hop = self.reach.facts[qualname]["init"]
        seen = {qualname}
        while hop.callee is not None and hop.callee not in seen:
            if hop.callee in entries:
                return True
            seen.add(hop.callee)
            hop = self.reach.facts[hop.callee]["init"]
        return False

    def _registered_at_exit(self) -> tuple[Reach[str], set[str]]:
        """Functions that register the teardown with ``atexit`` (directly or through calls:
        ``atexit.register(dist.destroy_process_group)``), and modules that register it on
        import (``@atexit.register`` on a function that destroys it)."""
        program, destroys = self.program, self.ml.destroy_reach
        direct: dict[str, dict[str, Step]] = {}
        for where, call in self.ml.at_exit:
            registered = arg(call, "func", 0)
            if registered is None or registered.text is None:
                continue
            value = program.resolve(where, registered.text)
            if (isinstance(value, External) and value.name in ml.PROCESS_GROUP_DESTROY) or (
                    isinstance(value, Func) and "destroy" in destroys.reached(value.qualname)):
                direct.setdefault(where.qualname, {})["atexit"] = Step(
                    where.module.path, call.loc, "registers the teardown with atexit")
        modules = {
            where.module.module for where in program.iter_functions()
            if any(d.endswith("atexit.register") for d in where.function.decorators)
            and "destroy" in destroys.reached(where.qualname)
        }
        reach: Reach[str] = Reach(self.calls, direct, lambda edge, key: key,
                                  partial(call_step, program))
        return reach, modules
