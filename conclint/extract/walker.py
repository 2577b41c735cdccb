"""One pass over a libcst module that reduces it to ``ModuleFacts``.

The walk follows statements in order and keeps, per function, the list of lock-like
acquisitions currently held (``with`` items and ``acquire()`` calls), so every call and
acquisition records what is held there. Whether a ``with`` item really is a lock is
decided later, by the whole-program phase; here everything is syntax.

This is the hot path of a cold run, so expressions are walked by explicit dispatch on
node type (libcst's generic ``children`` is a visitor run and costs as much as the parse),
and no positions are computed: every recorded node gets an ordinal in source pre-order
(``Loc``), and ``conclint.locate`` maps the few reported ones back to lines and columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from conclint.extract.conditions import encode_test
from conclint.extract.facts import (
    Acquire, Arg, Branch, Call, ClassDef, Function, Loc, ModuleFacts, Test,
)
from conclint.extract.release_check import check_releases
from conclint.extract.text import dotted, is_literal, is_try_acquire, literal, lock_method_call

# Called with each numbered node, in ordinal order (used only to locate reported nodes).
OnNumber = Callable[[cst.CSTNode], None]

_LOCK_METHODS = frozenset({"acquire", "release", "locked", "wait", "wait_for", "notify",
                           "notify_all"})
_ATOMS = (cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary, cst.Ellipsis)


@dataclass
class _Scope:
    """Walk state of one function body."""

    fn: Function
    held: list[int] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    returns_held: list[tuple[int, ...]] = field(default_factory=list)
    has_acquire_call: bool = False
    unpaired: dict[str, list[int]] = field(default_factory=dict)  # manual acquires by lock
    free: set[str] = field(default_factory=set)  # names used here, not (yet) bound here
    captured: set[str] = field(default_factory=set)  # names nested functions use freely
    tracked: set[str] = field(default_factory=set)  # names whose value uses are recorded


def _held_after(branches: Sequence[list[int] | None]) -> list[int] | None:
    """Acquisitions surely held after branches join (None: every branch left the block)."""
    live = [b for b in branches if b is not None]
    if not live:
        return None
    first = live[0]
    return [i for i in first if all(i in other for other in live[1:])]


def _elem_sink(sink: str | None) -> str | None:
    """The sink of an element of a container literal whose own sink is ``sink``."""
    if sink is None or sink[0] in "[(" or sink in ("return", "yield"):
        return sink
    return "[" + sink[1:] if sink[0] == "=" else "?"


def _is_main_guard(test: cst.BaseExpression) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    comparison = test.comparisons[0]
    if not isinstance(comparison.operator, cst.Equal):
        return False
    sides = {dotted(test.left) or literal(test.left), dotted(comparison.comparator)
             or literal(comparison.comparator)}
    return sides == {"__name__", "__main__"}


def _catches_all(body: Sequence[cst.BaseStatement]) -> bool:
    """A body that is (after a docstring) one ``try`` with a bare/``Exception`` handler."""
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(
        body[0].body[0], cst.Expr
    ) and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], cst.Try):
        return False
    return any(h.type is None or dotted(h.type) in ("Exception", "BaseException")
               for h in body[0].handlers)


_COPIES = frozenset({"list", "tuple", "sorted", "reversed", "set", "frozenset", "iter"})
_NEVER = 1 << 62  # an ordinal past every node: "the rest of the function"


def _loop_binding(
    target: cst.BaseExpression, iterable: cst.BaseExpression
) -> tuple[str, str] | None:
    """``for t in threads`` -> ("t", "threads"); sees through list()/sorted()/.values()/
    .items()/.copy() and ``enumerate``."""
    pair = isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2
    while isinstance(iterable, cst.Call) and iterable.args:
        func = iterable.func
        if isinstance(func, cst.Name) and func.value == "enumerate" and pair:
            target, pair = target.elements[1].value, False  # type: ignore[union-attr]
        elif not (isinstance(func, cst.Name) and func.value in _COPIES):
            break
        iterable = iterable.args[0].value
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute):
        method = iterable.func.attr.value
        if method == "items" and pair:
            target, pair = target.elements[1].value, False  # type: ignore[union-attr]
        if method in ("values", "copy", "items"):
            iterable = iterable.func.value
    name = target.value if isinstance(target, cst.Name) else None
    text = dotted(iterable)
    return (name, text) if name is not None and text is not None else None


class ModuleWalker:
    """Builds the facts of one module; ``walk`` is the entry point."""

    def __init__(
        self, path: str, module: str, is_package: bool, on_number: OnNumber | None = None
    ) -> None:
        self.facts = ModuleFacts(path=path, module=module, is_package=is_package)
        self._package = module if is_package else module.rpartition(".")[0]
        self._on_number = on_number
        self._count = 0
        self._locs: dict[int, Loc] = {}
        self._scopes: list[_Scope] = []
        self._classes: list[tuple[ClassDef, int]] = []  # with the scope depth of its body
        self._class_by_name: dict[str, ClassDef] = {}

    # ----------------------------------------------------------------- entry
    def walk(self, module: cst.Module) -> ModuleFacts:
        top = Function(qualname="<module>", name="<module>", cls=None, params=(),
                       decorators=(), is_async=False, loc=0)
        self.facts.functions.append(top)
        self._scopes.append(_Scope(top))
        self._block(module.body)
        self._scopes.pop()
        return self.facts

    def _number(self, node: cst.CSTNode) -> Loc:
        """Give ``node`` the next ordinal (nodes are numbered once, in source pre-order)."""
        self._count += 1
        self._locs[id(node)] = self._count
        if self._on_number is not None:
            self._on_number(node)
        return self._count

    def loc_of(self, node: cst.CSTNode) -> Loc:
        return self._locs.get(id(node), 0)

    @property
    def _scope(self) -> _Scope:
        return self._scopes[-1]

    # ------------------------------------------------------------ statements
    def _block(self, body: Sequence[cst.CSTNode] | cst.BaseSuite) -> bool:
        """Walk statements in order; False when control cannot fall off the end."""
        if isinstance(body, cst.SimpleStatementSuite):
            return self._small_statements(body.body)
        if isinstance(body, cst.IndentedBlock):
            body = body.body
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                if not self._small_statements(stmt.body):
                    return False
            elif not self._compound(stmt):
                return False
        return True

    def _small_statements(self, statements: Sequence[cst.BaseSmallStatement]) -> bool:
        for small in statements:
            if not self._small(small):
                return False
        return True

    def _small(self, node: cst.BaseSmallStatement) -> bool:
        scope = self._scope
        loc = self._number(node)
        if isinstance(node, cst.Expr):
            self._expression_statement(node.value)
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                self._store(target.target)
            text = dotted(node.targets[0].target)
            also = dotted(node.targets[1].target) if len(node.targets) == 2 else text
            if len(node.targets) > 2:
                text = None
            self._expr(node.value, target=text, sink="=" + also if text and also else "?")
            for target in node.targets:
                self._bind(target.target, node.value, loc)
                self._attr_set(target.target, node.value)
        elif isinstance(node, cst.AnnAssign):
            self._store(node.target)
            self._expr(node.annotation.annotation)
            if node.value is not None:
                text = dotted(node.target)
                self._expr(node.value, target=text, sink="=" + text if text else "?")
                self._bind(node.target, node.value, loc)
        elif isinstance(node, cst.AugAssign):
            self._expr(node.target)
            text = dotted(node.target)
            self._expr(node.value, sink="=" + text if text else "?")
        elif isinstance(node, cst.Return):
            if node.value is not None:
                self._expr(node.value, sink="return")
            scope.returns_held.append(tuple(scope.held))
            scope.fn.exits.append((loc, "return"))
            return False
        elif isinstance(node, cst.Raise):
            scope.fn.exits.append((loc, "raise"))
            if node.exc is not None:
                self._expr(node.exc)
            if node.cause is not None:
                self._expr(node.cause.item)
            return False
        elif isinstance(node, (cst.Break, cst.Continue)):
            scope.fn.exits.append((loc, "break" if isinstance(node, cst.Break) else "continue"))
            return False
        elif isinstance(node, cst.Import):
            self._import(node)
        elif isinstance(node, cst.ImportFrom):
            self._import_from(node)
        elif isinstance(node, cst.Assert):
            self._expr(node.test)
            if node.msg is not None:
                self._expr(node.msg)
        elif isinstance(node, cst.Del):
            self._expr(node.target)
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            for item in node.names:
                scope.tracked.add(item.name.value)
                scope.fn.uses.setdefault(item.name.value, set()).add("global")
        return True

    def _store(self, target: cst.BaseExpression) -> None:
        """Walk an assignment target: calls inside it run; a plain name is tracked from now."""
        if isinstance(target, cst.Name):
            self._scope.tracked.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value)
        else:
            self._expr(target)

    def _expression_statement(self, value: cst.BaseExpression) -> None:
        call = value.expression if isinstance(value, cst.Await) else value
        acquired = lock_method_call(call, "acquire")
        if acquired is not None:
            self._expr(value, discarded=True)
            self._scope.has_acquire_call = True
            kind = "try-acquire" if is_try_acquire(acquired[1]) else "acquire"
            index = self._push_acquire(acquired[0], self.loc_of(acquired[1]), kind)
            # A second acquire before any release waits for another thread to release:
            # the lock is a signal there, and the earlier acquire never pairs up.
            self._scope.unpaired[acquired[0]] = [index]
            return
        released = lock_method_call(call, "release")
        self._expr(value, discarded=True)
        if released is not None:
            self._release(released[0])

    def _push_acquire(self, lock: str, loc: Loc, kind: str) -> int:
        scope = self._scope
        index = len(scope.fn.acquires)
        scope.fn.acquires.append(Acquire(lock=lock, loc=loc, held=tuple(scope.held), kind=kind))
        scope.held.append(index)
        return index

    def _release(self, lock: str) -> None:
        scope = self._scope
        for index in scope.unpaired.pop(lock, []):
            scope.fn.acquires[index].paired = True
        for position in range(len(scope.held) - 1, -1, -1):
            if scope.fn.acquires[scope.held[position]].lock == lock:
                del scope.held[position]
                return

    def _compound(self, node: cst.CSTNode) -> bool:
        self._number(node)
        if isinstance(node, cst.FunctionDef):
            self._function(node)
            return True
        if isinstance(node, cst.ClassDef):
            self._class(node)
            return True
        if isinstance(node, cst.If):
            return self._if(node)
        if isinstance(node, (cst.While, cst.For)):
            return self._loop(node)
        if isinstance(node, cst.With):
            return self._with(node)
        if isinstance(node, (cst.Try, cst.TryStar)):
            return self._try(node)
        if isinstance(node, cst.Match):
            return self._match(node)
        return True

    def _join(self, ends: Sequence[list[int] | None]) -> bool:
        after = _held_after(ends)
        if after is None:
            return False
        self._scope.held = after
        return True

    def _open_branch(self) -> int:
        """Reserve the branch's place so that ``branches`` stays in source order."""
        branches = self._scope.fn.branches
        branches.append(None)  # type: ignore[arg-type] - filled by _close_branch
        return len(branches) - 1

    def _close_branch(self, slot: int, kind: str, node: cst.CSTNode | None, test: Test | None,
                      body: tuple[Loc, Loc], orelse: tuple[Loc, Loc] | None = None) -> None:
        loc = self.loc_of(node) if node is not None else body[0]
        self._scope.fn.branches[slot] = Branch(kind, loc, test, body, orelse)

    def _arm(self, kind: str, body: cst.BaseSuite, before: cst.BaseExpression | None = None
             ) -> bool:
        """Walk a handler, ``finally`` or ``case`` body (after ``before``) as a branch arm."""
        slot = self._open_branch()
        start = self._count
        if before is not None:
            self._expr(before)
        falls_through = self._block(body)
        self._close_branch(slot, kind, None, None, (start, self._count))
        return falls_through

    def _branch(self, body: cst.BaseSuite, start: list[int]) -> list[int] | None:
        self._scope.held = list(start)
        return list(self._scope.held) if self._block(body) else None

    def _if(self, node: cst.If) -> bool:
        scope = self._scope
        before = list(scope.held)
        test = node.test
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        locked = lock_method_call(test.expression if negated else test, "acquire")
        self._expr(test, in_test=True)
        slot = self._open_branch()
        arms_start = self._count
        body_start = else_start = before
        if locked is not None:
            scope.has_acquire_call = True
            index = self._push_acquire(locked[0], self.loc_of(locked[1]), "try-acquire")
            with_lock = before + [index]
            body_start, else_start = (before, with_lock) if negated else (with_lock, before)
        body_end = self._branch(node.body, body_start)
        body_range = (arms_start, self._count)
        first, body_last = self.loc_of(node), self._count
        if len(self._scopes) == 1 and not self._classes and _is_main_guard(test):
            self.facts.main_guards.append((first, body_last))
        scope.held = list(else_start)
        if node.orelse is None:
            else_end: list[int] | None = list(scope.held)
        elif isinstance(node.orelse, cst.If):
            self._number(node.orelse)
            else_end = list(scope.held) if self._if(node.orelse) else None
        else:
            else_end = self._branch(node.orelse.body, else_start)
        self._close_branch(slot, "if", node, encode_test(test), body_range,
                           (body_range[1], self._count) if node.orelse is not None else None)
        if body_end is None:
            scope.fn.exclusive_ifs.append((first, body_last, _NEVER))
        elif node.orelse is not None:
            scope.fn.exclusive_ifs.append((first, body_last, self._count))
        return self._join([body_end, else_end])

    def _loop(self, node: cst.While | cst.For) -> bool:
        scope = self._scope
        test: Test | None = None
        if isinstance(node, cst.While):
            self._expr(node.test, in_test=True)
            scope.loops.append("while")
            test = encode_test(node.test)
        else:
            self._store(node.target)
            self._expr(node.iter, sink=f"for:{self.loc_of(node)}")
            self._loop_binding(node.target, node.iter, self.loc_of(node))
            if node.asynchronous is not None:
                scope.fn.suspends.append((self.loc_of(node), tuple(scope.held)))
            scope.loops.append("for")
        slot = self._open_branch()
        before = list(scope.held)
        start = self._count
        self._block(node.body)
        body_range = (start, self._count)
        scope.fn.loop_spans.append((self.loc_of(node), self._count))
        scope.loops.pop()
        scope.held = before
        if node.orelse is not None:
            self._block(node.orelse.body)
            scope.held = list(before)
        kind = "while" if isinstance(node, cst.While) else "for"
        self._close_branch(slot, kind, node, test, body_range,
                           (body_range[1], self._count) if node.orelse is not None else None)
        return True

    def _with(self, node: cst.With) -> bool:
        scope = self._scope
        before = list(scope.held)
        kind = "async-with" if node.asynchronous is not None else "with"
        for item in node.items:
            loc = self._number(item.item)
            if isinstance(item.item, cst.Name):
                self._name_use(item.item.value, lock_use=True, sink="with")
            else:
                self._expr(item.item, sink="with")
            if item.asname is not None:
                self._store(item.asname.name)
                self._bind(item.asname.name, item.item, loc)
            text = dotted(item.item)
            if text is not None:
                self._push_acquire(text, loc, kind)
        falls_through = self._block(node.body)
        scope.held = before
        return falls_through

    def _try(self, node: cst.Try | cst.TryStar) -> bool:
        scope = self._scope
        before = list(scope.held)
        body_ok = self._block(node.body)
        if body_ok and node.orelse is not None:
            body_ok = self._block(node.orelse.body)
        ends: list[list[int] | None] = [list(scope.held) if body_ok else None]
        for handler in node.handlers:
            scope.held = list(before)
            ends.append(list(scope.held) if self._arm("except", handler.body, handler.type)
                        else None)
        after = _held_after(ends)
        if node.finalbody is not None:
            start = after if after is not None else before
            scope.held = list(start)
            if not self._arm("finally", node.finalbody.body) or after is None:
                return False
            after = [i for i in start if i in scope.held]
        if after is None:
            return False
        scope.held = after
        return True

    def _match(self, node: cst.Match) -> bool:
        self._expr(node.subject)
        before = list(self._scope.held)
        ends: list[list[int] | None] = []
        for case in node.cases:
            self._scope.held = list(before)
            slot = self._open_branch()
            start = self._count
            if case.guard is not None:
                self._expr(case.guard)
            ends.append(self._branch(case.body, before))
            self._close_branch(slot, "case", None, None, (start, self._count))
        ends.append(before)
        return self._join(ends)

    # ----------------------------------------------------------- definitions
    def _in_class_body(self) -> bool:
        return bool(self._classes) and self._classes[-1][1] == len(self._scopes)

    def _function(self, node: cst.FunctionDef) -> None:
        outer = self._scope
        for decorator in node.decorators:
            self._expr(decorator.decorator)
        params = node.params
        plain = (*params.posonly_params, *params.params)
        names = [p.name.value for p in plain]
        if isinstance(params.star_arg, cst.Param):
            names.append(params.star_arg.name.value)
        names.extend(p.name.value for p in params.kwonly_params)
        if params.star_kwarg is not None:
            names.append(params.star_kwarg.name.value)
        self._parameters(params)
        if node.returns is not None:
            self._expr(node.returns.annotation)
        in_class = self._in_class_body()
        if in_class:
            qualname = f"{self._classes[-1][0].qualname}.{node.name.value}"
        elif len(self._scopes) > 1:
            qualname = f"{outer.fn.qualname}.<locals>.{node.name.value}"
            outer.fn.nested[node.name.value] = qualname
        else:
            qualname = node.name.value
        fn = Function(
            qualname=qualname,
            name=node.name.value,
            cls=self._classes[-1][0].qualname if in_class else None,
            params=tuple(names),
            decorators=tuple(d for d in (dotted(x.decorator) for x in node.decorators) if d),
            is_async=node.asynchronous is not None,
            loc=self.loc_of(node),
        )
        self._enter(fn, node.body)

    def _parameters(self, params: cst.Parameters) -> None:
        star = params.star_arg if isinstance(params.star_arg, cst.Param) else None
        every = (*params.posonly_params, *params.params, *([star] if star else []),
                 *params.kwonly_params, *([params.star_kwarg] if params.star_kwarg else []))
        for param in every:
            if param.annotation is not None:
                self._expr(param.annotation.annotation)
            if param.default is not None:
                self._expr(param.default)

    def _enter(self, fn: Function, body: cst.BaseSuite | cst.BaseExpression) -> None:
        self.facts.functions.append(fn)
        scope = _Scope(fn, tracked=set(fn.params))
        self._scopes.append(scope)
        if isinstance(body, cst.BaseExpression):
            self._expr(body)
            falls_through = True
        else:
            falls_through = self._block(body)
        ends = [list(e) for e in scope.returns_held]
        if falls_through:
            ends.append(list(scope.held))
        fn.leaves_held = tuple(
            i for i in (_held_after(ends) or [])
            if fn.acquires[i].kind in ("acquire", "try-acquire")
        )
        if scope.has_acquire_call and isinstance(body, cst.BaseSuite):
            fn.release_issues = check_releases(body, self.loc_of)
        if isinstance(body, cst.IndentedBlock):
            fn.catches_all = _catches_all(body.body)
        self._scopes.pop()
        for name in scope.captured:  # a closure uses it: it escapes this function
            if name in fn.locals:
                fn.escaping.add(name)
            else:
                scope.free.add(name)
        if len(self._scopes) > 1:
            self._scopes[-1].captured.update(scope.free)

    def _class(self, node: cst.ClassDef) -> None:
        for decorator in node.decorators:
            self._expr(decorator.decorator)
        for arg in node.bases:
            self._expr(arg.value)
        for arg in node.keywords:
            self._expr(arg.value)
        if self._in_class_body():
            prefix = f"{self._classes[-1][0].qualname}."
        elif len(self._scopes) > 1:
            prefix = f"{self._scope.fn.qualname}.<locals>."
        else:
            prefix = ""
        cls = ClassDef(
            qualname=prefix + node.name.value,
            name=node.name.value,
            bases=tuple(b for b in (dotted(a.value) for a in node.bases if a.keyword is None) if b),
            loc=self.loc_of(node),
        )
        self.facts.classes.append(cls)
        self._class_by_name[cls.qualname] = cls
        self._classes.append((cls, len(self._scopes)))
        self._block(node.body)
        self._classes.pop()

    # ----------------------------------------------------------- bindings
    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression, loc: Loc) -> None:
        """Remember what a name or ``self`` attribute was assigned (dotted text)."""
        if isinstance(value, cst.Lambda):
            text: str | None = self._lambda_name(value)
        else:
            text = dotted(value)
        if text is None:
            return
        scope = self._scope
        if isinstance(target, cst.Name):
            name = target.value
            if self._in_class_body():
                cls = self._classes[-1][0]
                cls.attrs.setdefault(name, text)
                cls.attr_locs.setdefault(name, loc)
                cls.attr_scope.setdefault(name, scope.fn.qualname)
            elif len(self._scopes) == 1:
                self.facts.globals.setdefault(name, text)
                self.facts.global_locs.setdefault(name, loc)
            else:
                scope.fn.locals[name] = text
                scope.fn.local_locs.setdefault(name, loc)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            fn = scope.fn
            owner = self._class_by_name.get(fn.cls) if fn.cls is not None else None
            if owner is not None and fn.params and target.value.value == fn.params[0]:
                attr = target.attr.value
                if owner.attrs.get(attr) == "None" and text != "None":
                    # ``self.model = None`` in ``__init__``, the real value set later
                    del owner.attrs[attr], owner.attr_scope[attr], owner.attr_locs[attr]
                owner.attrs.setdefault(attr, text)
                owner.attr_scope.setdefault(attr, fn.qualname)
                owner.attr_locs.setdefault(attr, loc)

    def _attr_set(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        """``t.daemon = True``, ``self._t.daemon = True`` (not ``self.x``: a class attribute)."""
        if isinstance(target, cst.Attribute):
            fn = self._scope.fn
            owner, text = dotted(target.value), dotted(value)
            if owner is not None and text is not None and not (
                fn.cls is not None and fn.params and fn.params[0] == owner
            ):
                fn.attr_sets[f"{owner}.{target.attr.value}"] = text

    def _loop_binding(
        self, target: cst.BaseExpression, iterable: cst.BaseExpression, loc: Loc
    ) -> None:
        binding = _loop_binding(target, iterable)
        if binding is not None:
            self._scope.fn.loop_vars.append((*binding, loc))

    def _import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.facts.imports[alias.asname.name.value] = full
            else:
                head = full.split(".", 1)[0]
                self.facts.imports.setdefault(head, head)

    def _import_from(self, node: cst.ImportFrom) -> None:
        base = dotted(node.module) if node.module is not None else ""
        if node.relative:
            package = self._package
            for _ in range(len(node.relative) - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        if base is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.facts.star_imports.append(base)
            return
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.facts.imports[local] = f"{base}.{name}" if base else name

    # ----------------------------------------------------------- expressions
    def _expr(
        self,
        node: cst.BaseExpression,
        *,
        discarded: bool = False,
        target: str | None = None,
        in_test: bool = False,
        awaited: bool = False,
        sink: str | None = None,
    ) -> None:
        """Walk an expression in source order, recording calls (explicit dispatch).

        ``sink`` says where the expression's value flows (see ``Function.uses``); only
        names, ``self`` attributes and calls record it.
        """
        if isinstance(node, _ATOMS):
            if isinstance(node, cst.Name):
                self._name_use(node.value, sink=sink)
            return
        if isinstance(node, cst.Call):
            self._call(node, discarded, target, in_test, awaited, sink)
        elif isinstance(node, cst.Attribute):
            base = node.value
            if isinstance(base, cst.Name):
                if sink is not None and sink[0] != ".":
                    self._self_attr_use(base.value, node.attr.value, sink)
                self._name_use(base.value)
            else:
                self._expr(base, in_test=in_test, sink="." + node.attr.value)
        elif isinstance(node, cst.Await):
            if not isinstance(node.expression, cst.Call):
                scope = self._scope
                scope.fn.suspends.append((self._number(node), tuple(scope.held)))
            self._expr(node.expression, discarded=discarded, target=target, awaited=True,
                       sink=sink)
        elif isinstance(node, cst.BooleanOperation):
            self._expr(node.left, in_test=in_test, sink=sink)
            self._expr(node.right, in_test=in_test, sink=sink)
        elif isinstance(node, cst.BinaryOperation):
            self._expr(node.left, in_test=in_test)
            self._expr(node.right, in_test=in_test)
        elif isinstance(node, cst.Comparison):
            self._expr(node.left, in_test=in_test)
            for comparison in node.comparisons:
                self._expr(comparison.comparator, in_test=in_test)
        elif isinstance(node, cst.UnaryOperation):
            self._expr(node.expression, in_test=in_test)
        elif isinstance(node, cst.Subscript):
            self._expr(node.value, in_test=in_test, sink=".[]")
            for element in node.slice:
                self._slice(element.slice, in_test)
        elif isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            inner = _elem_sink(sink)
            for element in node.elements:
                self._expr(element.value, in_test=in_test, sink=inner)
        elif isinstance(node, cst.Dict):
            inner = _elem_sink(sink)
            for element in node.elements:
                if isinstance(element, cst.DictElement):
                    self._expr(element.key, in_test=in_test, sink=inner)
                self._expr(element.value, in_test=in_test, sink=inner)
        elif isinstance(node, cst.Lambda):
            self._lambda(node)
        elif isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            self._comprehension(node, in_test, _elem_sink(sink))
        elif isinstance(node, cst.IfExp):
            self._expr(node.body, in_test=in_test, sink=sink)
            self._expr(node.test, in_test=in_test)
            self._expr(node.orelse, in_test=in_test, sink=sink)
        elif isinstance(node, (cst.Yield, cst.From)):
            self._yield(node)
        elif isinstance(node, cst.NamedExpr):
            name = node.target.value if isinstance(node.target, cst.Name) else None
            self._expr(node.value, in_test=in_test, sink="=" + name if name else "?")
            if name is not None:
                self._scope.tracked.add(name)
        elif isinstance(node, cst.StarredElement):
            self._expr(node.value, in_test=in_test, sink=sink)
        elif isinstance(node, cst.FormattedString):
            for part in node.parts:
                if isinstance(part, cst.FormattedStringExpression):
                    self._expr(part.expression, in_test=in_test)
        elif isinstance(node, cst.ConcatenatedString):
            self._expr(node.left, in_test=in_test)
            self._expr(node.right, in_test=in_test)

    def _slice(self, node: cst.BaseSlice, in_test: bool) -> None:
        if isinstance(node, cst.Index):
            self._expr(node.value, in_test=in_test)
        elif isinstance(node, cst.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self._expr(part, in_test=in_test)

    def _comprehension(
        self, node: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp, in_test: bool,
        sink: str | None,
    ) -> None:
        scope = self._scope
        scope.loops.append("for")
        clause: cst.CompFor | None = node.for_in
        while clause is not None:  # bind the loop variables before the element uses them
            self._loop_binding(clause.target, clause.iter, 0)
            clause = clause.inner_for_in
        if isinstance(node, cst.DictComp):
            self._expr(node.key, in_test=in_test, sink=sink)
            self._expr(node.value, in_test=in_test, sink=sink)
        else:
            self._expr(node.elt, in_test=in_test, sink=sink)
        clause = node.for_in
        while clause is not None:
            self._store(clause.target)
            self._expr(clause.iter, in_test=in_test, sink="for:0")
            for condition in clause.ifs:
                self._expr(condition.test, in_test=in_test)
            clause = clause.inner_for_in
        scope.loops.pop()

    def _yield(self, node: cst.Yield | cst.From) -> None:
        scope = self._scope
        if not scope.fn.yield_held and scope.held:
            scope.fn.yield_held = tuple(scope.held)
        value = node.item if isinstance(node, cst.From) else node.value
        if isinstance(value, cst.From):
            self._yield(value)
        elif value is not None:
            self._expr(value, sink="yield")

    def _name_use(self, name: str, lock_use: bool = False, sink: str | None = None) -> None:
        """Note a local used as a value (not as a lock) or captured by a nested function;
        with a ``sink``, record where the value of a tracked name flows."""
        scopes = self._scopes
        for depth in range(len(scopes) - 1, 0, -1):
            scope = scopes[depth]
            if name in scope.fn.locals:
                if scope is not self._scope or not lock_use:
                    scope.fn.escaping.add(name)
                break
        else:
            self._scope.free.add(name)
        if sink is not None and sink[0] != ".":  # a receiver: its calls say what it does
            for scope in reversed(self._scopes):
                if name in scope.tracked:
                    scope.fn.uses.setdefault(name, set()).add(
                        sink if scope is self._scope else "^")
                    return

    def _self_attr_use(self, base: str, attr: str, sink: str) -> None:
        """Record where ``self.attr`` flows (in the method, or "^" from a nested function)."""
        for scope in reversed(self._scopes[1:]):
            fn = scope.fn
            if fn.cls is not None and fn.params and fn.params[0] == base:
                fn.uses.setdefault(f"{base}.{attr}", set()).add(
                    sink if scope is self._scope else "^")
                return
            if base in scope.tracked:
                return

    def _call(
        self, node: cst.Call, discarded: bool, target: str | None, in_test: bool, awaited: bool,
        sink: str | None = None,
    ) -> None:
        scope = self._scope
        loc = self._number(node)
        call = Call(
            callee=dotted(node.func) or "",
            loc=loc,
            held=tuple(scope.held),
            args=(),
            loop=scope.loops[-1] if scope.loops else None,
            awaited=awaited,
            discarded=discarded,
            target=target,
            in_test=in_test,
            sink=None if target is not None and sink == "=" + target else sink,
        )
        scope.fn.calls.append(call)
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value in _LOCK_METHODS
        ):
            self._name_use(func.value.value, lock_use=True)
        else:
            self._expr(func, in_test=in_test)
        args = []
        here = f"({loc}"
        for arg in node.args:
            self._expr(arg.value, in_test=in_test, sink=here)
            args.append(self._arg(arg))  # after the walk: a lambda has its ordinal now
        call.args = tuple(args)

    def _arg(self, arg: cst.Arg) -> Arg:
        keyword = arg.keyword.value if arg.keyword is not None else None
        value = arg.value
        if arg.star:
            return Arg(keyword, dotted(value), "starred")
        if isinstance(value, cst.Lambda):
            return Arg(keyword, self._lambda_name(value), "lambda")
        const = literal(value)
        if is_literal(const):
            return Arg(keyword, None, "const", const)
        text = dotted(value)
        if text is not None:
            return Arg(keyword, text, "call" if isinstance(value, cst.Call) else "name")
        if isinstance(value, (cst.Tuple, cst.List)):
            items = tuple(dotted(e.value) for e in value.elements)
            return Arg(keyword, None, "other", items=items)
        return Arg(keyword, None, "other")

    def _lambda_name(self, node: cst.Lambda) -> str:
        """Lambdas are named by their ordinal (they are walked before they are named)."""
        return f"<lambda#{self.loc_of(node)}>"

    def _lambda(self, node: cst.Lambda) -> None:
        outer = self._scope.fn
        loc = self._number(node)
        name = f"<lambda#{loc}>"
        qualname = f"{outer.qualname}.{name}"
        outer.nested[name] = qualname
        self._parameters(node.params)
        params = tuple(p.name.value for p in node.params.params)
        fn = Function(qualname=qualname, name="<lambda>", cls=None, params=params,
                      decorators=(), is_async=False, loc=loc)
        self._enter(fn, node.body)
