"""Interprocedural "may reach" summaries with a witness path for each fact.

For every function: which facts (a lock it acquires, a blocking call it makes) can happen
while it runs, directly or through any chain of calls. Each fact keeps the first path
found as a chain of hops, so a finding can print every step of its proof. A worklist over
the call graph's reverse edges; it stops because the fact sets only grow.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from conclint.analyses.calls import CallGraph, Edge
from conclint.diagnostics import Step

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Hop:
    """How a function reaches a fact: here (``callee`` None) or through a call."""

    step: Step
    callee: str | None
    key: Hashable


class Reach(Generic[K]):
    """Facts each function may reach, keyed by ``K``."""

    def __init__(
        self,
        calls: CallGraph,
        direct: dict[str, dict[K, Step]],
        propagate: Callable[[Edge, K], K | None],
        describe_call: Callable[[Edge], Step],
    ) -> None:
        self.facts: dict[str, dict[K, Hop]] = {
            fn: {key: Hop(step, None, key) for key, step in found.items()}
            for fn, found in direct.items()
        }
        pending = list(self.facts)
        queued = set(pending)
        while pending:
            callee = pending.pop()
            queued.discard(callee)
            reached = self.facts.get(callee)
            if not reached:
                continue
            for edge in calls.callers(callee):
                mine = self.facts.setdefault(edge.caller, {})
                grew = False
                for key in list(reached):
                    mapped = propagate(edge, key)
                    if mapped is not None and mapped not in mine:
                        mine[mapped] = Hop(describe_call(edge), callee, key)
                        grew = True
                if grew and edge.caller not in queued:
                    pending.append(edge.caller)
                    queued.add(edge.caller)

    def reached(self, function: str) -> dict[K, Hop]:
        return self.facts.get(function, {})

    def witness(self, function: str, key: K) -> list[Step]:
        """The chain of steps from ``function`` to the fact."""
        steps: list[Step] = []
        current: str | None = function
        current_key: Hashable = key
        seen: set[tuple[str, Hashable]] = set()
        while current is not None and (current, current_key) not in seen:
            seen.add((current, current_key))
            hop = self.facts.get(current, {}).get(current_key)  # type: ignore[arg-type]
            if hop is None:
                break
            steps.append(hop.step)
            current, current_key = hop.callee, hop.key
        return steps


def iter_keys(facts: dict[K, Hop]) -> Iterable[K]:
    return sorted(facts, key=repr)
