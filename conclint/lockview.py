"""The whole-program lock graph as plain data for pictures (``conclint graph``).

One node per abstract lock (where it is created), one edge per ordering with its first
evidence site, and which of them lie on a cycle: an edge inside a strongly connected
component always does. A self-loop is kept only when the same object is surely
re-acquired, and counts as a cycle when the lock cannot be re-acquired (CL102's case).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from conclint.analyses.context import Analyses
from conclint.locate import Locator
from conclint.program.values import LockId


@dataclass(frozen=True, slots=True)
class LockNode:
    name: str
    kind: str  # the factory: "threading.Lock"
    path: str  # where the lock is created
    line: int
    in_cycle: bool


@dataclass(frozen=True, slots=True)
class LockEdge:
    source: str  # held
    target: str  # acquired while ``source`` is held
    path: str  # the first evidence: where, holding ``source``, ``target`` is reached
    line: int
    column: int
    evidence: int  # how many places establish this ordering
    in_cycle: bool


@dataclass(frozen=True, slots=True)
class LockView:
    nodes: list[LockNode]
    edges: list[LockEdge]


def _self_deadlocks(lock: LockId) -> bool:
    return not lock.kind.reentrant and not (lock.kind.counting and lock.count != 1)


def lock_view(analyses: Analyses, locator: Locator) -> LockView:
    graph = analyses.lock_graph
    locks = analyses.held.locks
    kept = nx.DiGraph()
    kept.add_nodes_from(locks)
    for source, target, data in graph.graph.edges(data=True):
        evidence = data["evidence"]
        if source == target and not any(e.same_object for e in evidence):
            continue
        kept.add_edge(source, target, evidence=evidence)
    component = {}
    for index, members in enumerate(nx.strongly_connected_components(kept)):
        for member in members:
            component[member] = (index, len(members))
    edges = []
    for source, target, data in kept.edges(data=True):
        if source == target:
            cyclic = _self_deadlocks(locks[source])
        else:
            cyclic = component[source] == component[target] and component[source][1] > 1
        site = data["evidence"][0].site
        span = locator.span(site.path, site.loc)
        edges.append(LockEdge(source, target, site.path, span.line, span.column,
                              len(data["evidence"]), cyclic))
    edges.sort(key=lambda e: (e.source, e.target))
    in_cycle = {name for e in edges if e.in_cycle for name in (e.source, e.target)}
    nodes = [LockNode(name, lock.kind.factory, lock.path,
                      locator.span(lock.path, lock.loc).line, name in in_cycle)
             for name, lock in sorted(locks.items())]
    return LockView(nodes, edges)
