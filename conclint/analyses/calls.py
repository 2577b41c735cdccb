"""The call graph: which analysed function each call site reaches.

Besides direct calls, a function passed to something that calls it before returning
(``map``, ``sorted(key=...)``) counts as called at that site. Deferred callables
(``Thread(target=...)``, ``executor.submit``) are not calls: they run elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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

    def __init__(self, program: Program, extra_names: frozenset[str] = frozenset()) -> None:
        """``extra_names``: last segments of user-declared API names, resolved like known ones."""
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
        for where in program.iter_functions():
            self._add_function(where)

    def _module_aliases(self, where: Where) -> frozenset[str]:
        """Local names that import a relevant name under another name (``Thread as T``)."""
        module = where.module
        aliases = self._aliases.get(module.module)
        if aliases is None:
            aliases = self._aliases[module.module] = frozenset(
                alias for alias, name in module.imports.items()
                if name.rpartition(".")[2] in self._relevant and alias not in self._relevant)
        return aliases

    def _add_function(self, where: Where) -> None:
        caller = where.qualname
        resolved: list[CallTarget] = []
        edges: list[Edge] = []
        aliases = self._module_aliases(where)
        relevant_names, resolve_call = self._relevant, self.program.resolve_call
        for call in where.function.calls:
            last = call.callee.rpartition(".")[2]
            relevant = last in relevant_names or last in aliases
            target = resolve_call(where, call) if relevant else _NOTHING
            resolved.append(target)
            if target.function is not None:
                edges.append(Edge(caller, target.function, call, target.via_self))
            if not call.args:
                continue
            immediate = target.external in IMMEDIATE_CALLERS or call.callee.endswith(".sort")
            for text, function in self._function_args(where, call):
                if immediate:
                    edges.append(Edge(caller, function, call, text.startswith("self.")))
                else:
                    self.referenced.add(function)
        self._targets[caller] = (where.function.calls, tuple(resolved))
        self.out_edges[caller] = edges
        for edge in edges:
            self.in_edges.setdefault(edge.callee, []).append(edge)

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
