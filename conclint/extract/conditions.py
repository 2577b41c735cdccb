"""The test of an ``if``/``while`` as a small tuple tree (``facts.Test``).

Enough structure for the whole-program phase to evaluate a condition on each rank
(``rank == 0``, ``not is_main_process``, ``local_rank in (-1, 0)``,
``int(os.environ["RANK"]) != 0 and step % 10 == 0``) without keeping syntax.
"""

from __future__ import annotations

import libcst as cst

from conclint.extract.facts import Test
from conclint.extract.text import dotted, is_literal, literal

_UNKNOWN: Test = ("?",)
_OPERATORS: dict[type, str] = {
    cst.Equal: "==", cst.NotEqual: "!=", cst.LessThan: "<", cst.LessThanEqual: "<=",
    cst.GreaterThan: ">", cst.GreaterThanEqual: ">=", cst.In: "in", cst.NotIn: "not in",
    cst.Is: "is", cst.IsNot: "is not",
}
_CASTS = frozenset({"int", "str", "bool"})
_MAX_STRINGS = 4


def encode_test(node: cst.BaseExpression) -> Test:
    if type(node) is cst.BooleanOperation:
        op = "and" if type(node.operator) is cst.And else "or"
        return (op, encode_test(node.left), encode_test(node.right))
    if type(node) is cst.UnaryOperation and type(node.operator) is cst.Not:
        return ("not", encode_test(node.expression))
    if type(node) is cst.Comparison:
        if len(node.comparisons) != 1:
            return _UNKNOWN
        target = node.comparisons[0]
        op = _OPERATORS.get(type(target.operator))
        if op is None:
            return _UNKNOWN
        return ("cmp", op, _term(node.left), _term(target.comparator))
    return _term(node)


def _term(node: cst.BaseExpression) -> Test:
    node = _unwrap(node)
    value = literal(node)
    if is_literal(value):
        return ("const", value)
    if type(node) in (cst.Tuple, cst.List, cst.Set):
        values = tuple(literal(e.value) for e in node.elements)
        if all(is_literal(v) for v in values):
            return ("consts", values)
        return _UNKNOWN
    text = dotted(node)
    if text is None:
        return _UNKNOWN
    return ("atom", text, _strings(node))


def _unwrap(node: cst.BaseExpression) -> cst.BaseExpression:
    """``int(x)`` -> ``x``; ``(x := y)`` -> ``y``."""
    while True:
        if (type(node) is cst.Call and type(node.func) is cst.Name
                and node.func.value in _CASTS and len(node.args) == 1):
            node = node.args[0].value
        elif type(node) is cst.NamedExpr:
            node = node.value
        else:
            return node


def _strings(node: cst.BaseExpression) -> tuple[str, ...]:
    """String constants in the subscripts and call arguments of a dotted chain
    (``os.environ["RANK"]``, ``os.getenv("LOCAL_RANK", "0")``)."""
    found: list[str] = []
    while len(found) < _MAX_STRINGS:
        if type(node) is cst.Attribute:
            node = node.value
        elif type(node) is cst.Call:
            found.extend(v for v in (literal(a.value) for a in node.args) if isinstance(v, str))
            node = node.func
        elif type(node) is cst.Subscript:
            for element in node.slice:
                if type(element.slice) is cst.Index:
                    value = literal(element.slice.value)
                    if isinstance(value, str):
                        found.append(value)
            node = node.value
        else:
            break
    return tuple(found[:_MAX_STRINGS])
