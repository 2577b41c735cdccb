"""Which collectives each rank issues in a function, and where the ranks part ways.

A function's body is replayed once per *scenario*: a rank (0, the main process, or 1 or 2,
two others) and, for conditions that compare the rank with something unknown
(``rank in group_ranks``, ``rank == src``), each truth value of them. Conditions that do not
depend on the rank are taken to go the same way on every rank; their arms become one token.
Each replay yields the sequence of collectives issued (a call's token is its collective
kind, or the kinds its callee reaches) and how it left. When every scenario yields the same
sequence, the ranks agree — this covers the same collectives in both arms and the
complementary-barrier idiom (``if rank != 0: barrier()`` ... ``if rank == 0: barrier()``).
When they do not, each rank-dependent ``if`` whose arms differ is blamed: at the first
collective of its arms, or at the first collective that its ``return``/``break``/
``continue`` skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from conclint.analyses.ml_calls import MLCalls, Site, edges_at
from conclint.analyses.rank_tests import RankTests
from conclint.extract.facts import Branch, Function
from conclint.program.index import Where

_RANKS = (0, 1, 2)  # the main process and two others
_LOOPS = ("for", "while")
Token = object
Outcome = tuple[tuple[Token, ...], str | None]  # collectives issued, and how it left
Path = list[tuple[list, int, "Node | None"]]  # (container, index in it, node owning it)


@dataclass(frozen=True, slots=True)
class CallEvent:
    loc: int
    token: Token
    grouped: bool
    surely: bool  # a collective itself, or a call that issues one on every path


@dataclass(frozen=True, slots=True)
class ExitEvent:
    loc: int
    kind: str


@dataclass(slots=True)
class Node:
    branch: Branch
    header: list
    body: list
    orelse: list


@dataclass(frozen=True, slots=True)
class Divergence:
    """A rank-dependent branch and the collective call it makes some ranks miss."""

    branch: Branch
    call_loc: int
    subject: str  # the rank expression the condition reads
    exit: ExitEvent | None = None  # set when an early exit skips the call


class RankFlow:
    """CL501's per-function analysis (built for the functions that can diverge at all)."""

    def __init__(self, ml_calls: MLCalls) -> None:
        self.ml = ml_calls
        self._tokens: dict[str, dict[int, tuple[Token, bool, Site | None, list[str]]]] = {}

    def tokens(self, where: Where) -> dict[int, tuple[Token, bool, Site | None, list[str]]]:
        """Per call ordinal: its collective token, whether it is group-limited, its site
        (None when the collective is reached through the listed callees), those callees."""
        cached = self._tokens.get(where.qualname)
        if cached is not None:
            return cached
        sites = {s.call.loc: s for s in self.ml.collectives.get(where.qualname, [])}
        callees = edges_at(self.ml.calls, where.qualname)
        out = {}
        for call in where.function.calls:
            site = sites.get(call.loc)
            mine = callees.get(call.loc, [])
            token = self.ml.collective_token(site, mine)
            if token is not None:
                out[call.loc] = (token, bool(site and site.grouped), site, mine)
        self._tokens[where.qualname] = out
        return out

    def divergences(self, where: Where) -> list[Divergence]:
        """The rank-dependent branches that make the ranks issue different collectives."""
        if not self.ml.collective_reach.reached(where.qualname):
            return []  # no collective here or below: nothing to diverge on (most functions)
        fn = where.function
        tests = RankTests(fn)
        rank_ifs = {b.loc for b in fn.branches
                    if b.kind == "if" and b.test is not None and tests.subject(b.test)}
        if not rank_ifs:
            return []
        tokens = self.tokens(where)
        if not tokens:
            return []
        for branch in fn.branches:
            if branch.loc in rank_ifs:
                tests.collect_unknown(branch.test)
        scenarios = [(rank, values) for rank in _RANKS
                     for values in product((True, False), repeat=len(tests.unknown))]
        tree = _build(fn, tokens, self.ml)
        replay = _Replay(tests)
        outcomes = {replay.run(tree, s, False) for s in scenarios}
        if len({(seq, None if end == "return" else end) for seq, end in outcomes
                if end != "raise"}) <= 1:
            return []  # every rank issues the same collectives
        divergent = []
        for node, path in _nodes(tree, []):
            if node.branch.loc not in rank_ifs or len(
                    {tests.value(node.branch.test, s) for s in scenarios}) <= 1:
                continue
            per_scenario = {s: replay.node(node, s, False) for s in scenarios}
            if len({r for r in per_scenario.values() if r[1] != "raise"}) > 1:
                divergent.append((node, path, per_scenario))
        paired = _paired([d[2] for d in divergent],
                         [d[0].branch.loc for d in divergent])
        found: list[Divergence] = []
        seen: set[int] = set()
        for index, (node, path, per_scenario) in enumerate(divergent):
            if index not in paired:
                blamed = _blame(tests, node, path, per_scenario, seen)
                if blamed is not None:
                    found.append(blamed)
        return found


def _paired(outcomes: list[dict[tuple, Outcome]], locs: list[int]) -> set[int]:
    """Indices of branches matched, greedily in source order, with a complementary one."""
    paired: set[int] = set()
    ordered = sorted(range(len(outcomes)), key=locs.__getitem__)
    for position, i in enumerate(ordered):
        if i in paired:
            continue
        for j in ordered[position + 1:]:
            if j not in paired and _complementary(outcomes[i], outcomes[j]):
                paired.update((i, j))
                break
    return paired


def _blame(tests: RankTests, node: Node, path: Path, per_scenario: dict[tuple, Outcome],
           seen: set[int]) -> Divergence | None:
    """The collective a divergent branch makes some ranks miss: the first one where its
    arms differ, else the first one its early exit skips."""
    branch = node.branch
    subject = tests.subject(branch.test) or "the rank"
    grouped_ok = tests.is_membership(branch.test)
    call = _first_difference(
        [c for c in _calls(node.body) if not (c.grouped and grouped_ok)],
        [c for c in _calls(node.orelse) if not (c.grouped and grouped_ok)])
    sequences = {seq for seq, end in per_scenario.values() if end != "raise"}
    if call is not None and len(sequences) > 1:
        if call.loc in seen:
            return None
        seen.add(call.loc)
        return Divergence(branch, call.loc, subject)
    for exit_event in _exits(node.body + node.orelse):
        skipped = _skipped(path, exit_event.kind)
        if skipped is not None and skipped.loc not in seen:
            seen.add(skipped.loc)
            return Divergence(branch, skipped.loc, subject, exit_event)
    return None


class _Replay:
    def __init__(self, evaluator: RankTests) -> None:
        self.evaluator = evaluator

    def run(self, elements: list, scenario: tuple, drop_grouped: bool) -> Outcome:
        seq: list[Token] = []
        for element in elements:
            if isinstance(element, CallEvent):
                if not (element.grouped and drop_grouped):
                    seq.append(element.token)
            elif isinstance(element, ExitEvent):
                return tuple(seq), element.kind
            else:
                part, end = self.node(element, scenario, drop_grouped)
                seq.extend(part)
                if end is not None:
                    return tuple(seq), end
        return tuple(seq), None

    def node(self, node: Node, scenario: tuple, drop_grouped: bool) -> Outcome:
        head, _ = self.run(node.header, scenario, drop_grouped)
        branch = node.branch
        if branch.kind == "if":
            drop = drop_grouped or self.evaluator.is_membership(branch.test)
            value = self.evaluator.value(branch.test, scenario) if branch.test else None
            if value is True:
                seq, end = self.run(node.body, scenario, drop)
            elif value is False:
                seq, end = self.run(node.orelse, scenario, drop)
            else:
                seq, end = _either(self.run(node.body, scenario, drop),
                                   self.run(node.orelse, scenario, drop), branch.loc)
            return head + seq, end
        if branch.kind == "finally":
            seq, end = self.run(node.body, scenario, drop_grouped)
            return head + seq, end
        seq, end = self.run(node.body, scenario, drop_grouped)
        if branch.kind in _LOOPS:
            after, after_end = self.run(node.orelse, scenario, drop_grouped)
            token = (branch.kind, branch.loc, seq, end) if seq or end in ("return",) else None
            return head + ((token,) if token else ()) + after, after_end
        if seq or end not in (None, "raise"):  # a handler or a case: data-dependent
            return head + ((branch.kind, branch.loc, seq, end),), None
        return head, None


def _complementary(mine: dict[tuple, Outcome], other: dict[tuple, Outcome]) -> bool:
    """Two rank-dependent branches that together issue the same collectives on every rank
    (``if rank != 0: barrier()`` ... ``if rank == 0: barrier()``)."""
    joined = set()
    for scenario, (seq, end) in mine.items():
        other_seq, other_end = other[scenario]
        if end is not None or other_end is not None:
            return False
        joined.add(seq + other_seq)
    return len(joined) == 1


def _either(body: Outcome, orelse: Outcome, loc: int) -> Outcome:
    """Both arms of a condition that goes the same way on every rank."""
    if body[1] == "raise":
        return orelse
    if orelse[1] == "raise" or body == orelse:
        return body
    end = body[1] if body[1] == orelse[1] else None
    return (("if", loc, body, orelse),), end


def _build(fn: Function, tokens: dict, ml_calls: MLCalls) -> list:
    events: list[tuple[int, int, object]] = []
    for loc, (token, grouped, site, callees) in tokens.items():
        surely = site is not None or ml_calls.surely_issues(callees)
        events.append((loc, 0, CallEvent(loc, token, grouped, surely)))
    for loc, kind in fn.exits:
        events.append((loc, 0, ExitEvent(loc, kind)))
    for index, branch in enumerate(fn.branches):
        events.append((branch.loc, 1, index))
    events.sort(key=lambda e: (e[0], e[1]))
    position = 0

    def block(limit: float) -> list:
        nonlocal position
        out: list = []
        while position < len(events) and events[position][0] <= limit:
            event = events[position][2]
            position += 1
            if isinstance(event, int):
                branch = fn.branches[event]
                header = block(branch.body[0])
                body = block(branch.body[1])
                orelse = block(branch.orelse[1]) if branch.orelse else []
                out.append(Node(branch, header, body, orelse))
            else:
                out.append(event)
        return out

    return block(float("inf"))


def _nodes(elements: list, path: Path, owner: Node | None = None):
    """Every node, innermost first, with its path: for each enclosing list, outermost
    first, the list, the index of the element leading to the node, and that list's owner."""
    for index, element in enumerate(elements):
        if isinstance(element, Node):
            here = path + [(elements, index, owner)]
            for arm in (element.header, element.body, element.orelse):
                yield from _nodes(arm, here, element)
            yield element, here


def _calls(elements: list):
    for element in elements:
        if isinstance(element, CallEvent):
            yield element
        elif isinstance(element, Node):
            yield from _calls(element.header + element.body + element.orelse)


def _first_difference(body: list[CallEvent], orelse: list[CallEvent]) -> CallEvent | None:
    """The first call at which the two arms' collectives differ."""
    for index in range(max(len(body), len(orelse))):
        if index >= len(body):
            return orelse[index]
        if index >= len(orelse) or body[index].token != orelse[index].token:
            return body[index]
    return None


def _exits(elements: list):
    for element in elements:
        if isinstance(element, ExitEvent) and element.kind != "raise":
            yield element
        elif isinstance(element, Node) and element.branch.kind not in _LOOPS:
            yield from _exits(element.header + element.body + element.orelse)
        elif isinstance(element, Node):
            yield from (e for e in _exits(element.body) if e.kind == "return")


def _skipped(path: Path, kind: str) -> CallEvent | None:
    """The first collective an exit from the last node of ``path`` skips: what follows it
    up to the innermost loop (``break``/``continue``) or to the end of the function
    (``return``), then, in a loop, what precedes it (the next iterations)."""
    after: list[CallEvent] = []
    wrapped: list[CallEvent] = []
    for container, index, owner in reversed(path):
        for element in container[index + 1:]:
            after.extend(_calls([element]))
        if owner is not None and owner.branch.kind in _LOOPS and container is owner.body:
            wrapped.extend(_calls(container[:index]))
            if kind != "return":
                break
    else:
        if kind != "return":
            return None
    return next((c for c in after + wrapped if c.surely), None)
