"""Dotted text of libcst expressions and literal values: the currency of the facts."""

from __future__ import annotations

import libcst as cst


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b().c[0]`` -> ``"a.b().c[]"``; None for anything that is not such a chain."""
    kind = type(node)
    if kind is cst.Name:  # the common cases first: ``x`` and ``x.y``
        return node.value  # type: ignore[attr-defined]
    if kind is cst.Attribute and type(node.value) is cst.Name:  # type: ignore[attr-defined]
        return f"{node.value.value}.{node.attr.value}"  # type: ignore[attr-defined]
    parts: list[str] = []
    while True:
        if type(node) is cst.Name:
            parts.append(node.value)
            break
        if type(node) is cst.Attribute:
            parts.append(node.attr.value)
            node = node.value
        elif type(node) is cst.Call:
            parts.append("()")
            node = node.func
        elif type(node) is cst.Subscript:
            parts.append("[]")
            node = node.value
        else:
            return None
    out = ""
    for part in reversed(parts):
        if part in ("()", "[]"):
            out += part
        elif out:
            out += "." + part
        else:
            out = part
    return out


_NO_CONST = object()


def literal(node: cst.BaseExpression) -> object:
    """The value of a simple literal (int, float, str, True/False/None), else ``_NO_CONST``."""
    if type(node) is cst.Integer:
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return _NO_CONST
    if type(node) is cst.Float:
        try:
            return float(node.value.replace("_", ""))
        except ValueError:
            return _NO_CONST
    if type(node) is cst.SimpleString:
        try:
            return node.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes/escapes: not a usable constant
            return _NO_CONST
    if type(node) is cst.Name and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if type(node) is cst.UnaryOperation and type(node.operator) is cst.Minus:
        inner = literal(node.expression)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    return _NO_CONST


def is_literal(value: object) -> bool:
    return value is not _NO_CONST


def is_try_acquire(call: cst.Call) -> bool:
    """``acquire(False)``, ``acquire(blocking=False)``, ``acquire(timeout=...)``."""
    for i, arg in enumerate(call.args):
        key = arg.keyword.value if arg.keyword else None
        if key == "timeout" or (key is None and i == 1):
            return True
        if key in ("blocking", None) and literal(arg.value) in (False, 0):
            return True
    return False


def lock_method_call(node: cst.BaseExpression, method: str) -> tuple[str, cst.Call] | None:
    """``X.method(...)`` with a dotted receiver X."""
    if (
        type(node) is cst.Call
        and type(node.func) is cst.Attribute
        and node.func.attr.value == method
    ):
        receiver = dotted(node.func.value)
        if receiver is not None:
            return receiver, node
    return None
