"""The call graph: which analysed function each call site reaches.

Besides direct calls, a function passed to something that calls it before returning
(``map``, ``sorted(key=...)``) counts as called at that site. Deferred callables
(``Thread(target=...)``, ``executor.submit``) are not calls: they run elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from conclint.extract.facts import Call
from conclint.knowledge import IMMEDIATE_CALLERS
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import Func


@dataclass(frozen=True, slots=True)
class Edge:
    """One call site in ``caller`` that may run ``callee``."""

    caller: str
    callee: str
    call: Call
    via_self: bool


class CallGraph:
    """Resolved call sites per function, with the edges in both directions."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.targets: dict[str, list[tuple[Call, CallTarget]]] = {}
        self.out_edges: dict[str, list[Edge]] = {}
        self.in_edges: dict[str, list[Edge]] = {}
        self.referenced: set[str] = set()  # functions used as values (callbacks, targets)
        for where in program.iter_functions():
            self._add_function(where)

    def _add_function(self, where: Where) -> None:
        caller = where.qualname
        resolved: list[tuple[Call, CallTarget]] = []
        edges: list[Edge] = []
        for call in where.function.calls:
            target = self.program.resolve_call(where, call)
            resolved.append((call, target))
            if target.function is not None:
                edges.append(Edge(caller, target.function, call, target.via_self))
            immediate = target.external in IMMEDIATE_CALLERS or call.callee.endswith(".sort")
            for arg in call.args:
                if arg.text is None or arg.kind not in ("name", "lambda"):
                    continue
                value = self.program.resolve(where, arg.text)
                if not isinstance(value, Func):
                    continue
                if immediate:
                    via_self = arg.text.startswith("self.")
                    edges.append(Edge(caller, value.qualname, call, via_self))
                else:
                    self.referenced.add(value.qualname)
        self.targets[caller] = resolved
        self.out_edges[caller] = edges
        for edge in edges:
            self.in_edges.setdefault(edge.callee, []).append(edge)

    def callers(self, qualname: str) -> list[Edge]:
        return self.in_edges.get(qualname, [])
