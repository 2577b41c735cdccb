"""The call graph: which analysed function each call site reaches.

Besides direct calls, a function passed to something that calls it before returning
(``map``, ``sorted(key=...)``) counts as called at that site. Deferred callables
(``Thread(target=...)``, ``executor.submit``) are not calls: they run elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from conclint.analyses.call_memory import CallMemory, FunctionRecord, ModuleRecord
from conclint.extract.facts import Call
from conclint.knowledge import IMMEDIATE_CALLERS, api_names
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import Func


_NOTHING = CallTarget(None, None, False, "")


@dataclass(frozen=True, slots=True)
class Edge:
    """One call site in ``caller`` that may run ``callee``."""

    caller: str
    callee: str
    call: Call
    via_self: bool


class CallGraph:
    """Resolved call sites per function, with the edges in both directions."""

    def __init__(self, program: Program, extra_names: frozenset[str] = frozenset(),
                 memory: CallMemory | None = None) -> None:
        """``extra_names``: last segments of user-declared API names, resolved like known ones;
        ``memory``: an earlier run's call graph, reused for the modules it still holds for."""
        self.program = program
        # per function: its call sites and, in parallel, what each of them calls
        self._targets: dict[str, tuple[Sequence[Call], tuple[CallTarget, ...]]] = {}
        self.out_edges: dict[str, list[Edge]] = {}
        self.in_edges: dict[str, list[Edge]] = {}
        self.referenced: set[str] = set()  # functions used as values (callbacks, targets)
        self._defined = program.defined_names()
        relevant = self._defined | api_names() | extra_names
        # ``from asyncio import create_task as spawn``: the alias is as relevant as the name.
        self._relevant = relevant | {
            alias for facts in program.modules.values() for alias, name in facts.imports.items()
            if name.rpartition(".")[2] in relevant
        }
        self._aliases: dict[str, frozenset[str]] = {}  # per module: ``import X as Y`` of API names
        if memory is None:
            for where in program.iter_functions():
                self._add_function(where)
            return
        memory.prepare(program, self._relevant, self._defined)
        program.track_reads()
        for module, functions in groupby(program.iter_functions(), lambda w: w.module.module):
            wheres = list(functions)
            earlier = memory.recall(module)
            if earlier is not None and self._restore(wheres, earlier[1]):
                memory.remember(module, earlier[0], earlier[1], reused=True)
                continue
            program.start_reading()
            try:
                record = [self._add_function(where) for where in wheres]
            finally:
                reads = program.stop_reading()
            memory.remember(module, reads, record, reused=False)
        program.track_reads(False)

    def _module_aliases(self, where: Where) -> frozenset[str]:
        """Local names that import a relevant name under another name (``Thread as T``)."""
        module = where.module
        aliases = self._aliases.get(module.module)
        if aliases is None:
            aliases = self._aliases[module.module] = frozenset(
                alias for alias, name in module.imports.items()
                if name.rpartition(".")[2] in self._relevant and alias not in self._relevant)
        return aliases

    def _add_function(self, where: Where) -> FunctionRecord:
        """Resolve the function's call sites; returns them as a record for the memory."""
        caller = where.qualname
        resolved: list[CallTarget] = []
        edges: list[tuple[str, int, bool]] = []
        referenced: list[str] = []
        aliases = self._module_aliases(where)
        relevant_names, resolve_call = self._relevant, self.program.resolve_call
        for index, call in enumerate(where.function.calls):
            last = call.callee.rpartition(".")[2]
            relevant = last in relevant_names or last in aliases
            target = resolve_call(where, call) if relevant else _NOTHING
            resolved.append(target)
            if target.function is not None:
                edges.append((target.function, index, target.via_self))
            if not call.args:
                continue
            immediate = target.external in IMMEDIATE_CALLERS or call.callee.endswith(".sort")
            for text, function in self._function_args(where, call):
                if immediate:
                    edges.append((function, index, text.startswith("self.")))
                else:
                    referenced.append(function)
        record = (tuple((t.function, t.external, t.via_self, t.receiver) for t in resolved),
                  tuple(edges), tuple(referenced))
        self._add(where, tuple(resolved), record[1], record[2])
        return record

    def _restore(self, wheres: list[Where], record: ModuleRecord) -> bool:
        """Take the module's call sites from an earlier run's record; False (nothing taken)
        when the record does not fit the functions' call sites."""
        made: dict[tuple[str | None, str | None, bool, str], CallTarget] = {}
        taken = []
        try:
            if len(record) != len(wheres):
                return False
            for where, (targets, edges, referenced) in zip(wheres, record):
                calls = len(where.function.calls)
                if len(targets) != calls or any(not 0 <= i < calls for _, i, _ in edges):
                    return False
                resolved = tuple(made[t] if t in made else made.setdefault(t, CallTarget(*t))
                                 for t in targets)
                taken.append((where, resolved, edges, referenced))
        except (TypeError, ValueError):  # not a record this version wrote
            return False
        for where, resolved, edges, referenced in taken:
            self._add(where, resolved, edges, referenced)
        return True

    def _add(self, where: Where, resolved: tuple[CallTarget, ...],
             edges: Sequence[tuple[str, int, bool]], referenced: Sequence[str]) -> None:
        caller, calls = where.qualname, where.function.calls
        self._targets[caller] = (calls, resolved)
        out = self.out_edges[caller] = [Edge(caller, callee, calls[index], via_self)
                                        for callee, index, via_self in edges]
        for edge in out:
            self.in_edges.setdefault(edge.callee, []).append(edge)
        self.referenced.update(referenced)

    def _function_args(self, where: Where, call: Call) -> Iterator[tuple[str, str]]:
        """The analysed functions passed as arguments (by name or as a lambda)."""
        for arg in call.args:
            if arg.text is None or arg.kind not in ("name", "lambda"):
                continue
            if arg.kind == "name" and arg.text.rpartition(".")[2] not in self._defined:
                continue
            value = self.program.resolve(where, arg.text)
            if isinstance(value, Func):
                yield arg.text, value.qualname

    def resolved(self, qualname: str) -> Iterator[tuple[Call, CallTarget]]:
        """The call sites of function ``qualname`` in source order, each with its target."""
        found = self._targets.get(qualname)
        return zip(*found) if found is not None else iter(())

    def callers(self, qualname: str) -> list[Edge]:
        return self.in_edges.get(qualname, [])
