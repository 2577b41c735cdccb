"""Conditions on the rank: which tests read it, and their truth on a given rank.

A test (``facts.Test``) is evaluated per *scenario*: a rank (0, the main process, or 1 or
2, two others — the value -1 that scripts use for "not distributed" never occurs once
collectives can run) and the truth of each comparison of the rank with something unknown
(``rank in group_ranks``, ``rank == src``). The answer is True, False, or None when the
test does not depend on the rank (data, configuration): such a test goes the same way on
every rank.
"""

from __future__ import annotations

from conclint import knowledge_ml as ml
from conclint.extract.facts import Function, Test

_MAX_UNKNOWN = 3


class RankTests:
    """Truth of a branch test per scenario: True, False, or None (not rank-dependent)."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.unknown: list[Test] = []  # comparisons of the rank with unknown values

    def atom(self, term: Test, depth: int = 0) -> str | None:
        """What a term is: "value" (a rank number), "main" (true on rank 0 only), "ready"
        (true whenever collectives can run: ``dist.is_initialized()``), or None."""
        if term[0] != "atom":
            return None
        text, strings = term[1], term[2]
        if text in ml.ENV_READS:
            return "value" if ml.RANK_ENV_KEYS.intersection(strings) else None
        bare = text[:-2] if text.endswith("()") else text
        if "(" in bare or "[" in bare:
            return None
        last = bare.rpartition(".")[2]
        if text.endswith("()") and last in ml.RANK_VALUE_CALLS:
            return "value"
        if last in ml.MAIN_PREDICATES:
            return "main"
        if last in ml.DIST_READY:
            return "ready"
        if last in ml.RANK_VALUE_NAMES or (
                last.endswith("_rank") and last not in ml.NOT_RANK_NAMES):
            return "value"
        if depth == 0 and text == bare and "." not in text and text in self.fn.locals:
            value = self.fn.locals[text]
            return self.atom(("atom", value, ()), 1)
        return None

    def subject(self, test: Test | None) -> str | None:
        """The first rank expression read by ``test``."""
        if test is None:
            return None
        if test[0] == "atom":
            if self.atom(test) not in ("value", "main"):
                return None
            text, strings = test[1], test[2]
            if text in ml.ENV_READS and strings:  # os.environ["RANK"], os.getenv("RANK")
                key = next(s for s in strings if s in ml.RANK_ENV_KEYS)
                return f'{text[:-2]}{"[" if text.endswith("[]") else "("}"{key}"' \
                    f'{"]" if text.endswith("[]") else ")"}'
            return text
        for part in _children(test):
            found = self.subject(part)
            if found is not None:
                return found
        return None

    def collect_unknown(self, test: Test) -> None:
        if test[0] in ("and", "or"):
            self.collect_unknown(test[1])
            self.collect_unknown(test[2])
        elif test[0] == "not":
            self.collect_unknown(test[1])
        elif test[0] == "cmp" and self._compare(test, 0) is _UNKNOWN_RANK:
            if test not in self.unknown and len(self.unknown) < _MAX_UNKNOWN:
                self.unknown.append(test)

    def value(self, test: Test, scenario: tuple) -> bool | None:
        kind = test[0]
        if kind == "and" or kind == "or":
            left, right = self.value(test[1], scenario), self.value(test[2], scenario)
            decisive = kind == "or"
            if left is decisive or right is decisive:
                return decisive
            if left is None or right is None:
                return None
            return not decisive
        if kind == "not":
            inner = self.value(test[1], scenario)
            return None if inner is None else not inner
        rank = scenario[0]
        if kind == "cmp":
            result = self._compare(test, rank)
            if result is _UNKNOWN_RANK:
                if test in self.unknown:
                    return scenario[1][self.unknown.index(test)]
                return None
            return result
        atom = self.atom(test)
        if atom == "value":
            return rank != 0
        if atom == "main":
            return rank == 0
        if atom == "ready":
            return True
        return None

    def _compare(self, test: Test, rank: int) -> bool | None | object:
        _, op, left, right = test
        kinds = (self.atom(left), self.atom(right))
        if "value" not in kinds and "main" not in kinds:
            return None
        if kinds[0] is None:  # normalise to <rank> <op> <other>
            left, right = right, left
            op = _MIRROR.get(op, op)
            kinds = (kinds[1], kinds[0])
        mine = rank if kinds[0] == "value" else rank == 0
        if right[0] == "const":
            other: object = right[1]
        elif right[0] == "consts":
            other = right[1]
        else:
            return _UNKNOWN_RANK
        try:
            return bool(_OPS[op](mine, other))
        except (TypeError, KeyError):
            return None

    def is_membership(self, test: Test | None) -> bool:
        if test is None:
            return False
        if test[0] == "cmp":
            return test[1] in ("in", "not in") and test[3][0] not in ("consts", "const")
        return any(self.is_membership(p) for p in _children(test))


def _children(test: Test) -> tuple[Test, ...]:
    """The sub-conditions or compared terms of a test node (none for a term)."""
    if test[0] in ("and", "or"):
        return (test[1], test[2])
    if test[0] == "not":
        return (test[1],)
    if test[0] == "cmp":
        return (test[2], test[3])
    return ()


_UNKNOWN_RANK = object()
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
_OPS = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
    "is": lambda a, b: a is b, "is not": lambda a, b: a is not b,
}


def reads_parameter(tests: RankTests, test: Test | None) -> bool:
    """The rank that ``test`` reads is a parameter of the function (the caller decides)."""
    subject = tests.subject(test)
    if subject is None:
        return False
    fn = tests.fn
    params = fn.params[1:] if fn.cls is not None and "staticmethod" not in fn.decorators \
        else fn.params
    return subject.split(".")[0].split("(")[0].split("[")[0] in params
