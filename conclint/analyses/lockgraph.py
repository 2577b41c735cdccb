"""The whole-program lock-acquisition graph.

A node is an abstract lock; an edge ``A -> B`` says B is acquired while A is held,
directly or through a chain of calls. Every edge keeps its evidence: where A was taken,
each call on the way, where B was taken. Cycles are deadlock candidates; they are found
per strongly connected component with a bounded search, so a dense graph cannot hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.held import Held, HeldLocks
from conclint.analyses.reach import Reach
from conclint.diagnostics import Step
from conclint.program.index import Program, Where

if TYPE_CHECKING:
    import networkx as nx

MAX_CYCLE_LENGTH = 6
MAX_CYCLES_PER_COMPONENT = 50

LockKey = tuple[str, bool]  # (lock name, exact: surely the object the caller means)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an edge exists: the outer acquisition, then the chain to the inner one."""

    outer: Step
    chain: tuple[Step, ...]  # the first step is in the same function as ``outer``
    same_object: bool  # the inner lock is surely the same object as the outer one

    @property
    def site(self) -> Step:
        """Where, in the function holding the outer lock, the inner one is reached."""
        return self.chain[0]

    def sort_key(self) -> tuple[str, int]:
        return (self.site.path, self.site.loc)


def call_step(program: Program, edge: Edge) -> Step:
    where = program.where(edge.caller)
    name = edge.callee.rpartition(".")[2]
    return Step(where.module.path, edge.call.loc, f"calls `{name}()`")


class LockGraph:
    """Edges between lock names, each with its sorted list of ``Evidence``.

    ``graph`` is the networkx view (built on first use, so a run without lock nesting never
    imports networkx)."""

    def __init__(self, program: Program, calls: CallGraph, held: HeldLocks) -> None:
        self.program = program
        self.held = held
        self.edges: dict[tuple[str, str], list[Evidence]] = {}
        direct: dict[str, dict[LockKey, Step]] = {}
        for where in program.iter_functions():
            found: dict[LockKey, Step] = {}
            for acquire, locks in zip(where.function.acquires, held.acquired(where)):
                if acquire.kind == "try-acquire":
                    continue
                for item in locks:
                    found.setdefault((item.lock.name, item.exact), Step(
                        where.module.path, acquire.loc, f"acquires `{item.lock.name}`"))
            if found:
                direct[where.qualname] = found
        self.acquires: Reach[LockKey] = Reach(
            calls, direct, self._propagate, lambda e: call_step(program, e))
        for where in program.iter_functions():
            self._add_edges(where, calls)
        for evidence in self.edges.values():
            evidence.sort(key=Evidence.sort_key)

    def _propagate(self, edge: Edge, key: LockKey) -> LockKey | None:
        name, exact = key
        lock = self.held.locks[name]
        return (name, exact and (edge.via_self or not lock.per_instance))

    def _outer(self, where: Where, index: int, item: Held) -> Step:
        acquire = where.function.acquires[index]
        return Step(where.module.path, acquire.loc, f"holds `{item.lock.name}`")

    def _add_edges(self, where: Where, calls: CallGraph) -> None:
        fn = where.function
        acquired = self.held.acquired(where)
        for acquire, inner_locks in zip(fn.acquires, acquired):
            if acquire.kind == "try-acquire" or not acquire.held:
                continue
            for index, outer in self._held_as_mutex(where, acquire.held):
                for inner in inner_locks:
                    step = Step(where.module.path, acquire.loc, f"acquires `{inner.lock.name}`")
                    same = outer.exact and inner.exact and (
                        not inner.lock.per_instance
                        or fn.acquires[index].lock == acquire.lock
                    )
                    self._add(outer, inner.lock.name, Evidence(
                        self._outer(where, index, outer), (step,), same))
        for edge in calls.out_edges.get(where.qualname, []):
            if not edge.call.held:
                continue
            reached = self.acquires.reached(edge.callee)
            if not reached:
                continue
            for index, outer in self._held_as_mutex(where, edge.call.held):
                for key in reached:
                    mapped = self._propagate(edge, key)
                    if mapped is None:
                        continue
                    chain = (call_step(self.program, edge),
                             *self.acquires.witness(edge.callee, key))
                    same = outer.exact and mapped[1]
                    self._add(outer, key[0], Evidence(
                        self._outer(where, index, outer), chain, same))

    def _held_as_mutex(self, where: Where, indices: tuple[int, ...]) -> list[tuple[int, Held]]:
        """Held locks that order what follows: a handed-off ``acquire()`` (released by some
        other thread or method) is a signal, not a critical section."""
        acquires = where.function.acquires
        return [(i, h) for i, h in self.held.held_at(where, indices) if acquires[i].structured]

    def _add(self, outer: Held, inner: str, evidence: Evidence) -> None:
        self.edges.setdefault((outer.lock.name, inner), []).append(evidence)

    def evidence(self, source: str, target: str) -> list[Evidence]:
        return self.edges[(source, target)]

    def self_loops(self) -> list[str]:
        return sorted(a for a, b in self.edges if a == b)

    @cached_property
    def graph(self) -> nx.DiGraph:
        import networkx as nx

        graph = nx.DiGraph()
        for (source, target), evidence in sorted(self.edges.items()):
            graph.add_edge(source, target, evidence=evidence)
        return graph

    def _may_cycle(self) -> bool:
        """Whether two or more locks can form a cycle: something is left after dropping,
        again and again, the locks with no edge in or none out (self-loops aside). Most
        programs have no cycle at all, and then networkx is not even imported."""
        into: dict[str, set[str]] = {}
        out: dict[str, set[str]] = {}
        for a, b in self.edges:
            if a != b:
                out.setdefault(a, set()).add(b)
                into.setdefault(b, set()).add(a)
        nodes = out.keys() | into.keys()
        dropped: set[str] = set()
        pending = [n for n in nodes if n not in out or n not in into]
        while pending:
            node = pending.pop()
            if node in dropped:
                continue
            dropped.add(node)
            for after in out.get(node, ()):
                into[after].discard(node)
                if not into[after]:
                    pending.append(after)
            for before in into.get(node, ()):
                out[before].discard(node)
                if not out[before]:
                    pending.append(before)
        return len(dropped) < len(nodes)

    def cycles(self) -> Iterator[list[str]]:
        """Simple cycles of two or more locks, bounded per strongly connected component."""
        if not self._may_cycle():
            return
        import networkx as nx

        graph = self.graph.copy()
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
        components = sorted(
            (sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1),
            key=lambda c: c[0],
        )
        for component in components:
            sub = graph.subgraph(component)
            found = 0
            for cycle in nx.simple_cycles(sub, length_bound=MAX_CYCLE_LENGTH):
                yield cycle
                found += 1
                if found >= MAX_CYCLES_PER_COMPONENT:
                    break
