"""The lock graph's quick "can there be a cycle" test agrees with networkx."""

from __future__ import annotations

import sys

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from conclint.analyses.lockgraph import LockGraph

_LOCKS = st.sampled_from([f"m.lock{i}" for i in range(7)])


def _graph(edges: set[tuple[str, str]]) -> LockGraph:
    graph = LockGraph.__new__(LockGraph)  # only the edges matter here
    graph.edges = {edge: [] for edge in edges}
    return graph


@settings(max_examples=300, deadline=None)
@given(st.sets(st.tuples(_LOCKS, _LOCKS), max_size=14))
def test_may_cycle_exactly_when_networkx_finds_a_cycle_of_two_or_more(edges) -> None:
    plain = nx.DiGraph([(a, b) for a, b in edges if a != b])
    expected = any(len(c) > 1 for c in nx.strongly_connected_components(plain))
    assert _graph(edges)._may_cycle() is expected


def test_an_acyclic_graph_is_checked_without_networkx(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "networkx", None)  # importing it would now fail
    chain = _graph({("m.a", "m.b"), ("m.b", "m.c"), ("m.a", "m.c"), ("m.c", "m.c")})
    assert list(chain.cycles()) == []
