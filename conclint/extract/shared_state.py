"""The walker's bookkeeping for the race rules: which uses of shared state a function makes.

Recorded, compactly and only inside functions: attributes of the method's own receiver
(``self.x``, ``cls.x``, also inside a nested function or lambda closing over ``self``),
module-level names of the module, and locals of an enclosing function captured by a nested
one. A local that is not captured, an argument, a builtin or an import is never recorded.
Each ``Access`` keeps what is held there, whether it reads, iterates, rebinds, mutates or
read-modify-writes, and for a write the ``if`` whose test read the same variable before it
(check-then-act). At the end of the module, reads of variables that no function writes are
dropped: a constant or an attribute set only in ``__init__`` cannot race.

``# conclint: guarded-by=<lock>`` comments on assignments become ``Guard`` facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from conclint.extract.facts import Function, Loc, ModuleFacts

# Methods that change the container (or object) they are called on.
MUTATORS = frozenset({
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault",
    "add", "discard", "sort", "reverse", "appendleft", "extendleft", "popleft", "rotate",
    "difference_update", "intersection_update", "symmetric_difference_update",
    "__setitem__", "__delitem__", "move_to_end",
})
_ITER_VIEWS = frozenset({"items", "keys", "values"})
_GUARD = re.compile(r"#\s*conclint:\s*guarded-by\s*=\s*([A-Za-z_][\w.]*)")
_READS = ("read", "iter")
_OWNING = frozenset({"__init__", "__new__", "__post_init__"})

Var = tuple[str, str]  # (space, var)


@dataclass
class SharedScope:
    """Per-function state: names bound here, declarations, captured locals, live checks."""

    self_name: str | None = None  # the receiver whose attributes are recorded
    cls: str | None = None  # its class qualname
    bound: set[str] = field(default_factory=set)
    declared: dict[str, str] = field(default_factory=dict)  # name -> "global" | "nonlocal"
    captured: set[str] = field(default_factory=set)  # locals a nested function uses
    checks: list[tuple[frozenset[Var], Loc]] = field(default_factory=list)  # live ``if`` tests
    derived: dict[str, frozenset[Var]] = field(default_factory=dict)  # local -> looked up in


def module_names(body: Sequence[cst.CSTNode]) -> set[str]:
    """Names bound by assignments and class statements at the top level of a module."""
    names: set[str] = set()
    stack = list(body)
    while stack:
        stmt = stack.pop()
        if type(stmt) is cst.SimpleStatementLine:
            for small in stmt.body:
                if type(small) is cst.Assign:
                    for target in small.targets:
                        _target_names(target.target, names)
                elif type(small) in (cst.AnnAssign, cst.AugAssign):
                    _target_names(small.target, names)
        elif type(stmt) is cst.ClassDef:
            names.add(stmt.name.value)
        elif type(stmt) in (cst.If, cst.While, cst.For, cst.With, cst.Try, cst.TryStar):
            if type(stmt) is cst.For:
                _target_names(stmt.target, names)
            elif type(stmt) is cst.With:
                for item in stmt.items:
                    if item.asname is not None:
                        _target_names(item.asname.name, names)
            for suite in _suites(stmt):
                stack.extend(suite.body if type(suite) is cst.IndentedBlock else ())
    return names


def _suites(stmt: cst.CSTNode) -> list[cst.BaseSuite]:
    suites = [stmt.body]  # type: ignore[attr-defined]
    orelse = getattr(stmt, "orelse", None)
    while type(orelse) is cst.If:
        suites.append(orelse.body)
        orelse = orelse.orelse
    if orelse is not None:
        suites.append(orelse.body)
    for handler in getattr(stmt, "handlers", ()):
        suites.append(handler.body)
    final = getattr(stmt, "finalbody", None)
    if final is not None:
        suites.append(final.body)
    return suites


def _target_names(target: cst.BaseExpression, names: set[str]) -> None:
    if type(target) is cst.Name:
        names.add(target.value)
    elif type(target) in (cst.Tuple, cst.List):
        for element in target.elements:
            _target_names(element.value, names)
    elif type(target) is cst.StarredElement:
        _target_names(target.value, names)


def iterated(node: cst.BaseExpression) -> cst.BaseExpression:
    """The collection a ``for`` iterates: ``d`` for ``d``, ``d.items()``, ``d.keys()``..."""
    if (
        type(node) is cst.Call
        and not node.args
        and type(node.func) is cst.Attribute
        and node.func.attr.value in _ITER_VIEWS
    ):
        return node.func.value
    return node


_RACE_ERRORS = frozenset({"KeyError", "ValueError", "IndexError", "LookupError", "RuntimeError",
                          "StopIteration"})


def tolerates_races(handlers: Sequence[cst.ExceptHandler | cst.ExceptStarHandler]) -> bool:
    """A ``try`` whose handlers catch what acting on a stale test raises (``del d[k]`` ->
    KeyError, ``lst.remove(x)`` -> ValueError): the code expects to lose the race."""
    for handler in handlers:
        kind = handler.type
        names = kind.elements if type(kind) is cst.Tuple else [kind] if kind else []
        for name in names:
            node = name.value if type(name) is cst.Element else name
            if type(node) is cst.Name and node.value in _RACE_ERRORS:
                return True
    return False


def guard_comment(stmt: cst.SimpleStatementLine) -> str | None:
    """The lock named by a ``guarded-by`` comment at the end of or just above ``stmt``."""
    comment = stmt.trailing_whitespace.comment
    if comment is not None and "guarded-by" in comment.value:
        match = _GUARD.search(comment.value)
        if match:
            return match.group(1)
    if stmt.leading_lines:
        last = stmt.leading_lines[-1].comment
        if last is not None and "guarded-by" in last.value:
            match = _GUARD.search(last.value)
            if match:
                return match.group(1)
    return None


def drop_unwritten_reads(facts: ModuleFacts) -> None:
    """Keep reads only of variables some function writes (outside ``__init__`` for attributes),
    and nothing of what ``__init__`` does to its own object."""
    attrs = {g.var.rpartition(".")[2] for g in facts.guards if g.space == "attr"}
    others: set[Var] = {(g.space, g.var) for g in facts.guards if g.space != "attr"}
    for fn in facts.functions:
        for access in fn.accesses:
            if access.kind in _READS:
                continue
            if access.space != "attr":
                others.add((access.space, access.var))
            elif fn.name not in _OWNING:
                attrs.add(access.var.rpartition(".")[2])
    for fn in facts.functions:
        if fn.accesses:
            owning = fn.name in _OWNING  # its own attributes are not shared yet
            fn.accesses = [
                a for a in fn.accesses
                if (a.kind not in _READS or a.space != "attr" or a.var.rpartition(".")[2] in attrs)
                and (a.kind not in _READS or a.space == "attr" or (a.space, a.var) in others)
                and not (owning and a.space == "attr")
            ]


def drop_rebound_globals(fn: Function, shared: SharedScope) -> None:
    """A name assigned anywhere in a function (without ``global``) is local all along."""
    if any(a.space == "global" and a.var in shared.bound for a in fn.accesses):
        fn.accesses = [a for a in fn.accesses
                       if not (a.space == "global" and a.var in shared.bound
                               and shared.declared.get(a.var) != "global")]
