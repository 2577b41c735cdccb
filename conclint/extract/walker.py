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
from sys import intern
from dataclasses import dataclass, field

import libcst as cst

from conclint.extract.conditions import encode_test
from conclint.extract.facts import (
    Access, Acquire, Arg, Branch, Call, ClassDef, Function, Guard, Loc, ModuleFacts, Test,
)
from conclint.extract.release_check import check_releases
from conclint.extract.shared_state import (
    MUTATORS, SharedScope, Var, drop_rebound_globals, drop_unwritten_reads, guard_comment,
    iterated, module_names, tolerates_races,
)
from conclint.extract.text import dotted, is_literal, is_try_acquire, literal, lock_method_call

# Called with each numbered node, in ordinal order (used only to locate reported nodes).
OnNumber = Callable[[cst.CSTNode], None]

_LOCK_METHODS = frozenset({"acquire", "release", "locked", "wait", "wait_for", "notify",
                           "notify_all"})
_ATOMS = frozenset({cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary,
                    cst.Ellipsis})
_EXITS = frozenset({cst.Return, cst.Raise})


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
    shared: SharedScope = field(default_factory=SharedScope)


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
    if type(test) is not cst.Comparison or len(test.comparisons) != 1:
        return False
    comparison = test.comparisons[0]
    if type(comparison.operator) is not cst.Equal:
        return False
    sides = {dotted(test.left) or literal(test.left), dotted(comparison.comparator)
             or literal(comparison.comparator)}
    return sides == {"__name__", "__main__"}


def _catches_all(body: Sequence[cst.BaseStatement]) -> bool:
    """A body that is (after a docstring) one ``try`` with a bare/``Exception`` handler."""
    if body and type(body[0]) is cst.SimpleStatementLine and isinstance(
        body[0].body[0], cst.Expr
    ) and type(body[0].body[0].value) in (cst.SimpleString, cst.ConcatenatedString):
        body = body[1:]
    if len(body) != 1 or type(body[0]) is not cst.Try:
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
    pair = type(target) in (cst.Tuple, cst.List) and len(target.elements) == 2
    while type(iterable) is cst.Call and iterable.args:
        func = iterable.func
        if type(func) is cst.Name and func.value == "enumerate" and pair:
            target, pair = target.elements[1].value, False  # type: ignore[union-attr]
        elif not (type(func) is cst.Name and func.value in _COPIES):
            break
        iterable = iterable.args[0].value
    if type(iterable) is cst.Call and type(iterable.func) is cst.Attribute:
        method = iterable.func.attr.value
        if method == "items" and pair:
            target, pair = target.elements[1].value, False  # type: ignore[union-attr]
        if method in ("values", "copy", "items"):
            iterable = iterable.func.value
    name = target.value if type(target) is cst.Name else None
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
        # shared-state bookkeeping (see ``shared_state``)
        self._module_names: set[str] = set()
        self._stmt: Loc = 0  # the statement being walked: where its accesses are located
        self._iter_node: cst.CSTNode | None = None  # the collection a ``for`` iterates
        self._suppress: cst.CSTNode | None = None  # already recorded as a store
        self._test_vars: set[Var] | None = None  # variables read by the ``if`` test being walked
        self._guard: str | None = None  # a ``guarded-by`` comment on the current line
        self._tolerant = False  # in a ``try`` that catches what a lost race raises (KeyError)
        self._shared = SharedScope()  # the current function's (a hot-path shortcut)
        self._in_function = False

    # ----------------------------------------------------------------- entry
    def walk(self, module: cst.Module) -> ModuleFacts:
        self.begin(module.body)
        self.walk_more(module.body)
        self._scopes.pop()
        drop_unwritten_reads(self.facts)
        return self.facts

    def begin(self, body: Sequence[cst.CSTNode]) -> None:
        """Open the module's top-level scope; ``body``: its statements (or the first of them,
        when only the numbering matters: see ``walk_more``)."""
        top = Function(qualname="<module>", name="<module>", cls=None, params=(),
                       decorators=(), is_async=False, loc=0)
        self.facts.functions.append(top)
        self._module_names = module_names(body)
        self._scopes.append(_Scope(top, shared=self._shared))

    def walk_more(self, body: Sequence[cst.CSTNode]) -> bool:
        """Walk the next top-level statements, numbering on from the last ones (locating
        walks a long file a run of statements at a time); False once control cannot reach
        what follows (the walk of the module ends there)."""
        return self._block(body)

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
    def _block(
        self, body: Sequence[cst.CSTNode] | cst.BaseSuite, keep_checks: bool = False,
    ) -> bool:
        """Walk statements in order; False when control cannot fall off the end.
        ``keep_checks``: an early-exit test in the block still holds after it (a ``with``)."""
        if type(body) is cst.SimpleStatementSuite:
            return self._small_statements(body.body)
        if type(body) is cst.IndentedBlock:
            body = body.body
        checks = self._shared.checks
        mark = None if keep_checks else len(checks)  # an early exit's test holds to block end
        previous = 0
        falls_through = True
        for stmt in body:
            start = self._count + 1
            if type(stmt) is cst.SimpleStatementLine:
                if previous and type(stmt.body[0]) in _EXITS:
                    self._scope.fn.tails.append((previous, start))
                lines = stmt.leading_lines
                self._guard = guard_comment(stmt) if (
                    stmt.trailing_whitespace.comment is not None
                    or (lines and lines[-1].comment is not None)) else None
                if not self._small_statements(stmt.body):
                    falls_through = False
                    break
            elif not self._compound(stmt):
                falls_through = False
                break
            previous = start
        if mark is not None:
            del checks[mark:]
        return falls_through

    def _small_statements(self, statements: Sequence[cst.BaseSmallStatement]) -> bool:
        for small in statements:
            if not self._small(small):
                return False
        return True

    def _small(self, node: cst.BaseSmallStatement) -> bool:
        scope = self._scope
        loc = self._stmt = self._number(node)
        if type(node) is cst.Expr:
            self._expression_statement(node.value)
        elif type(node) is cst.Assign:
            accesses = scope.fn.accesses
            start = len(accesses)
            for target in node.targets:
                self._store(target.target)
            middle = len(accesses)
            text = dotted(node.targets[0].target)
            also = dotted(node.targets[1].target) if len(node.targets) == 2 else text
            if len(node.targets) > 2:
                text = None
            self._expr(node.value, target=text, sink="=" + also if text and also else "?")
            self._after_assign(node.targets[0].target, node.value, start, middle, loc)
            for target in node.targets:
                self._bind(target.target, node.value, loc)
                self._attr_set(target.target, node.value)
        elif type(node) is cst.AnnAssign:
            if node.value is not None:
                start = len(scope.fn.accesses)
                self._store(node.target)
            self._expr(node.annotation.annotation)
            if node.value is not None:
                middle = len(scope.fn.accesses)
                text = dotted(node.target)
                self._expr(node.value, target=text, sink="=" + text if text else "?")
                self._after_assign(node.target, node.value, start, middle, loc)
                self._bind(node.target, node.value, loc)
        elif type(node) is cst.AugAssign:
            if type(node.target) is cst.Name:  # a read-modify-write of the name
                self._bind_name(node.target.value, "update")
                self._suppress = node.target
                self._expr(node.target)
                self._suppress = None
            else:
                self._store(node.target, "update")
            text = dotted(node.target)
            self._expr(node.value, sink="=" + text if text else "?")
        elif type(node) in (cst.Global, cst.Nonlocal):
            how = "global" if type(node) is cst.Global else "nonlocal"
            for item in node.names:
                scope.tracked.add(item.name.value)
                scope.fn.uses.setdefault(item.name.value, set()).add("global")
                scope.shared.declared[item.name.value] = how
                if how == "global":
                    self._module_names.add(item.name.value)
        elif type(node) is cst.Return:
            if node.value is not None:
                self._expr(node.value, sink="return")
            scope.returns_held.append(tuple(scope.held))
            scope.fn.exits.append((loc, "return"))
            return False
        elif type(node) is cst.Raise:
            scope.fn.exits.append((loc, "raise"))
            if node.exc is not None:
                self._expr(node.exc)
            if node.cause is not None:
                self._expr(node.cause.item)
            return False
        elif type(node) in (cst.Break, cst.Continue):
            scope.fn.exits.append((loc, "break" if type(node) is cst.Break else "continue"))
            return False
        elif type(node) is cst.Import:
            self._import(node)
        elif type(node) is cst.ImportFrom:
            self._import(node)
        elif type(node) is cst.Assert:
            self._expr(node.test)
            if node.msg is not None:
                self._expr(node.msg)
        elif type(node) is cst.Del:
            if type(node.target) in (cst.Attribute, cst.Subscript):
                self._store(node.target)  # ``del self.x``, ``del cache[k]``
            else:
                self._expr(node.target)
        return True

    def _store(self, target: cst.BaseExpression, kind: str = "write") -> None:
        """Walk an assignment (or ``del``) target: calls inside it run; a plain name is
        tracked from now and bound; a store into shared state is recorded (``kind``
        "update" for ``+=``)."""
        node_type = type(target)
        if node_type is cst.Name:
            self._scope.tracked.add(target.value)
            self._bind_name(target.value, kind)
        elif node_type is cst.Tuple or node_type is cst.List:
            for element in target.elements:
                self._store(element.value, kind)
        elif node_type is cst.StarredElement:
            self._store(target.value, kind)
        else:
            root = self._root(target)
            if root is not None:
                var, node = root
                if node is target:
                    self._access(var, kind)
                else:  # an item (``[]``) or attribute (``.``) of the variable's object
                    self._access(var, "update" if kind == "update" else "mutate",
                                 "[]" if type(target) is cst.Subscript else ".")
                self._suppress = node
            self._expr(target)
            self._suppress = None

    def _expression_statement(self, value: cst.BaseExpression) -> None:
        call = value.expression if type(value) is cst.Await else value
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
        self._stmt = self._number(node)
        if type(node) is cst.FunctionDef:
            self._function(node)
            return True
        if type(node) is cst.ClassDef:
            self._class(node)
            return True
        if type(node) is cst.If:
            return self._if(node)
        if type(node) in (cst.While, cst.For):
            return self._loop(node)
        if type(node) is cst.With:
            return self._with(node)
        if type(node) in (cst.Try, cst.TryStar):
            return self._try(node)
        if type(node) is cst.Match:
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
        negated = type(test) is cst.UnaryOperation and type(test.operator) is cst.Not
        locked = lock_method_call(test.expression if negated else test, "acquire")
        loc = self._stmt = self.loc_of(node)
        outer_test, self._test_vars = self._test_vars, set()
        self._expr(test, in_test=True)
        tested, self._test_vars = frozenset(self._test_vars), outer_test
        checks = self._shared.checks
        mark = len(checks)
        if tested:
            checks.append((tested, loc))
        slot = self._open_branch()
        arms_start = self._count
        body_start = else_start = before
        if locked is not None:
            scope.has_acquire_call = True
            index = self._push_acquire(locked[0], self.loc_of(locked[1]), "try-acquire")
            with_lock = before + [index]
            body_start, else_start = (before, with_lock) if negated else (with_lock, before)
        body_end = self._branch(node.body, body_start)
        del checks[mark + 1:]
        body_range = (arms_start, self._count)
        first, body_last = self.loc_of(node), self._count
        if len(self._scopes) == 1 and not self._classes and _is_main_guard(test):
            self.facts.main_guards.append((first, body_last))
        scope.held = list(else_start)
        if node.orelse is None:
            else_end: list[int] | None = list(scope.held)
        elif type(node.orelse) is cst.If:
            self._number(node.orelse)
            else_end = list(scope.held) if self._if(node.orelse) else None
        else:
            else_end = self._branch(node.orelse.body, else_start)
        del checks[mark:]
        if tested and (body_end is None or else_end is None):
            checks.append((tested, loc))  # an early exit: the rest of the block depends on it
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
        if type(node) is cst.While:
            self._expr(node.test, in_test=True)
            scope.loops.append("while")
            test = encode_test(node.test)
        else:
            self._store(node.target)
            self._iter_node = iterated(node.iter)
            self._expr(node.iter, sink=f"for:{self.loc_of(node)}")
            self._iter_node = None
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
        kind = "while" if type(node) is cst.While else "for"
        self._close_branch(slot, kind, node, test, body_range,
                           (body_range[1], self._count) if node.orelse is not None else None)
        return True

    def _with(self, node: cst.With) -> bool:
        scope = self._scope
        before = list(scope.held)
        kind = "async-with" if node.asynchronous is not None else "with"
        first = len(scope.fn.acquires)
        for item in node.items:
            loc = self._number(item.item)
            if type(item.item) is cst.Name:
                self._name_use(item.item.value, lock_use=True, sink="with")
            else:
                self._expr(item.item, sink="with")
            if item.asname is not None:
                self._store(item.asname.name)
                self._bind(item.asname.name, item.item, loc)
            text = dotted(item.item)
            if text is not None:
                self._push_acquire(text, loc, kind)
        pushed = scope.fn.acquires[first:]
        falls_through = self._block(node.body, keep_checks=True)
        for acquire in pushed:
            acquire.end = self._count
        scope.held = before
        return falls_through

    def _try(self, node: cst.Try | cst.TryStar) -> bool:
        scope = self._scope
        before = list(scope.held)
        tolerant = self._tolerant
        if tolerates_races(node.handlers):
            self._tolerant = True  # a check-then-act in here handles losing the race
        body_ok = self._block(node.body)
        self._tolerant = tolerant
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
        if type(params.star_arg) is cst.Param:
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
            outer.shared.bound.add(node.name.value)
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
        star = params.star_arg if type(params.star_arg) is cst.Param else None
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
        shared = scope.shared
        shared.bound.update(fn.params)
        if fn.cls is not None and fn.params and "staticmethod" not in fn.decorators:
            shared.self_name, shared.cls = fn.params[0], fn.cls
        elif len(self._scopes) > 1:
            outer = self._scope.shared
            if outer.self_name is not None and outer.self_name not in fn.params:
                shared.self_name, shared.cls = outer.self_name, outer.cls
        self._scopes.append(scope)
        outer = (self._stmt, self._shared, self._in_function)
        self._stmt, self._shared, self._in_function = fn.loc, shared, True
        if isinstance(body, cst.BaseExpression):
            self._expr(body)
            falls_through = True
        else:
            falls_through = self._block(body)
        self._stmt, self._shared, self._in_function = outer
        drop_rebound_globals(fn, shared)
        ends = [list(e) for e in scope.returns_held]
        if falls_through:
            ends.append(list(scope.held))
        fn.leaves_held = tuple(
            i for i in (_held_after(ends) or [])
            if fn.acquires[i].kind in ("acquire", "try-acquire")
        )
        if scope.has_acquire_call and isinstance(body, cst.BaseSuite):
            fn.release_issues = check_releases(body, self.loc_of)
        if type(body) is cst.IndentedBlock:
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
        if len(self._scopes) > 1:
            self._scope.shared.bound.add(node.name.value)
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
        if type(value) is cst.Lambda:
            text: str | None = self._lambda_name(value)
        else:
            text = dotted(value)
        if text is None:
            return
        scope = self._scope
        if type(target) is cst.Name:
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
        elif type(target) is cst.Attribute and type(target.value) is cst.Name:
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
        if type(target) is cst.Attribute:
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

    def _import(self, node: cst.Import | cst.ImportFrom) -> None:
        if len(self._scopes) > 1 and type(node.names) is not cst.ImportStar:
            for alias in node.names:
                name = alias.asname.name if alias.asname is not None else alias.name
                while type(name) is cst.Attribute:
                    name = name.value
                if type(name) is cst.Name:
                    self._scope.shared.bound.add(name.value)
        if type(node) is cst.ImportFrom:
            self._import_from(node)
            return
        for alias in node.names:
            full = dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and type(alias.asname.name) is cst.Name:
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
        if type(node.names) is cst.ImportStar:
            self.facts.star_imports.append(base)
            return
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and type(alias.asname.name) is cst.Name:
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
        kind = type(node)
        if kind in _ATOMS:
            if kind is cst.Name:
                self._name_use(node.value, sink=sink)
                if self._in_function and node is not self._suppress:
                    shared = self._shared  # the common case inline: a plain local
                    if node.value in shared.bound:
                        if in_test or shared.captured or shared.declared:
                            self._shared_name(node, in_test)
                    elif node.value in self._module_names or len(self._scopes) > 2 \
                            or shared.declared or shared.captured:
                        self._read_name(node, in_test)
            return
        if kind is cst.Call:
            self._call(node, discarded, target, in_test, awaited, sink)
        elif kind is cst.Attribute:
            base = node.value
            if type(base) is cst.Name:
                if sink is not None and sink[0] != ".":
                    self._self_attr_use(base.value, node.attr.value, sink)
                self._name_use(base.value)
                shared = self._shared
                if base.value == shared.self_name and shared.self_name is not None:
                    if node is not self._suppress:
                        var = ("attr", f"{shared.cls}.{node.attr.value}")
                        self._access(var, "iter" if node is self._iter_node else "read")
                        if in_test and self._test_vars is not None:
                            self._test_vars.add(var)
                elif self._in_function and base is not self._suppress:
                    self._shared_name(base, in_test)
            else:
                self._expr(base, in_test=in_test, sink="." + node.attr.value)
        elif kind is cst.Await:
            if type(node.expression) is not cst.Call:
                scope = self._scope
                scope.fn.suspends.append((self._number(node), tuple(scope.held)))
            self._expr(node.expression, discarded=discarded, target=target, awaited=True,
                       sink=sink)
        elif kind is cst.BooleanOperation:
            self._expr(node.left, in_test=in_test, sink=sink)
            self._expr(node.right, in_test=in_test, sink=sink)
        elif kind is cst.BinaryOperation:
            self._expr(node.left, in_test=in_test)
            self._expr(node.right, in_test=in_test)
        elif kind is cst.Comparison:
            self._expr(node.left, in_test=in_test)
            for comparison in node.comparisons:
                self._expr(comparison.comparator, in_test=in_test)
        elif kind is cst.UnaryOperation:
            self._expr(node.expression, in_test=in_test)
        elif kind is cst.Subscript:
            self._expr(node.value, in_test=in_test, sink=".[]")
            for element in node.slice:
                self._slice(element.slice, in_test)
        elif kind in (cst.Tuple, cst.List, cst.Set):
            inner = _elem_sink(sink)
            for element in node.elements:
                self._expr(element.value, in_test=in_test, sink=inner)
        elif kind is cst.Dict:
            inner = _elem_sink(sink)
            for element in node.elements:
                if type(element) is cst.DictElement:
                    self._expr(element.key, in_test=in_test, sink=inner)
                self._expr(element.value, in_test=in_test, sink=inner)
        elif kind is cst.Lambda:
            self._lambda(node)
        elif kind in (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp):
            self._comprehension(node, in_test, _elem_sink(sink))
        elif kind is cst.IfExp:
            self._expr(node.body, in_test=in_test, sink=sink)
            self._expr(node.test, in_test=in_test)
            self._expr(node.orelse, in_test=in_test, sink=sink)
        elif kind in (cst.Yield, cst.From):
            self._yield(node)
        elif kind is cst.NamedExpr:
            name = node.target.value if type(node.target) is cst.Name else None
            self._expr(node.value, in_test=in_test, sink="=" + name if name else "?")
            if name is not None:
                self._scope.tracked.add(name)
                if self._in_function:
                    self._shared.bound.add(name)
        elif kind is cst.StarredElement:
            self._expr(node.value, in_test=in_test, sink=sink)
        elif kind is cst.FormattedString:
            for part in node.parts:
                if type(part) is cst.FormattedStringExpression:
                    self._expr(part.expression, in_test=in_test)
        elif kind is cst.ConcatenatedString:
            self._expr(node.left, in_test=in_test)
            self._expr(node.right, in_test=in_test)

    def _slice(self, node: cst.BaseSlice, in_test: bool) -> None:
        if type(node) is cst.Index:
            self._expr(node.value, in_test=in_test)
        elif type(node) is cst.Slice:
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
        if type(node) is cst.DictComp:
            self._expr(node.key, in_test=in_test, sink=sink)
            self._expr(node.value, in_test=in_test, sink=sink)
        else:
            self._expr(node.elt, in_test=in_test, sink=sink)
        clause = node.for_in
        while clause is not None:
            self._store(clause.target)
            self._iter_node = iterated(clause.iter)
            self._expr(clause.iter, in_test=in_test, sink="for:0")
            self._iter_node = None
            for condition in clause.ifs:
                self._expr(condition.test, in_test=in_test)
            clause = clause.inner_for_in
        scope.loops.pop()

    def _yield(self, node: cst.Yield | cst.From) -> None:
        scope = self._scope
        if not scope.fn.yield_held and scope.held:
            scope.fn.yield_held = tuple(scope.held)
        value = node.item if type(node) is cst.From else node.value
        if type(value) is cst.From:
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
            type(func) is cst.Attribute
            and func.attr.value in MUTATORS
            and self._in_function
        ):
            root = self._root(func.value)
            if root is not None:
                method = func.attr.value
                if method == "pop" and len(node.args) > 1:
                    method = "pop-default"  # tolerates a missing key
                self._access(root[0], "mutate", method)
                self._suppress = root[1]
        if (
            type(func) is cst.Attribute
            and type(func.value) is cst.Name
            and func.attr.value in _LOCK_METHODS
        ):
            self._name_use(func.value.value, lock_use=True)
        else:
            self._expr(func, in_test=in_test)
        self._suppress = None
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
        if type(value) is cst.Lambda:
            return Arg(keyword, self._lambda_name(value), "lambda")
        const = literal(value)
        if is_literal(const):
            return Arg(keyword, None, "const", const)
        text = dotted(value)
        if text is not None:
            return Arg(keyword, text, "call" if type(value) is cst.Call else "name")
        if type(value) in (cst.Tuple, cst.List):
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

    # ---------------------------------------------------------- shared state
    def _access(self, var: Var, kind: str, method: str = "") -> None:
        """Record a use of shared state at the current statement."""
        scope = self._scope
        access = Access(var[0], intern(var[1]), kind, self._stmt, tuple(scope.held), method)
        if kind not in ("read", "iter") and not self._tolerant:
            for tested, loc in reversed(self._shared.checks):
                if var in tested:
                    access.checked = loc
                    break
        scope.fn.accesses.append(access)

    def _name_var(self, name: str) -> Var | None:
        """The shared variable a name in a function stands for: a global or a captured local."""
        scopes = self._scopes
        shared = self._shared
        how = shared.declared.get(name)
        if how is None and name in shared.bound:
            if name in shared.captured:
                return ("closure", f"{scopes[-1].fn.qualname}:{name}")
            return None
        if how != "global" and name != shared.self_name:
            for outer in reversed(scopes[1:-1]):
                if outer.shared.declared.get(name) == "global":
                    break
                if name in outer.shared.bound:
                    outer.shared.captured.add(name)
                    return ("closure", f"{outer.fn.qualname}:{name}")
        if how == "global" or name in self._module_names:
            return ("global", name)
        return None

    def _shared_name(self, node: cst.Name, in_test: bool) -> None:
        """A name read inside a function: recorded when it is shared state."""
        shared = self._shared
        name = node.value
        if name in shared.bound and name not in shared.captured and not shared.declared:
            if in_test and name in shared.derived and self._test_vars is not None:
                self._test_vars.update(shared.derived[name])  # a local looked up in shared state
        elif name in self._module_names or len(self._scopes) > 2 or shared.declared \
                or shared.captured:
            self._read_name(node, in_test)

    def _read_name(self, node: cst.Name, in_test: bool) -> None:
        var = self._name_var(node.value)
        if var is not None:
            self._access(var, "iter" if node is self._iter_node else "read")
        if in_test and self._test_vars is not None:
            if var is not None:
                self._test_vars.add(var)
            else:
                self._test_vars.update(self._shared.derived.get(node.value, ()))

    def _bind_name(self, name: str, kind: str) -> None:
        if not self._in_function:
            return
        shared = self._shared
        if name not in shared.declared:
            shared.bound.add(name)
            shared.derived.pop(name, None)
        var = self._name_var(name)
        if var is not None:
            self._access(var, kind)

    def _root(self, node: cst.BaseExpression) -> tuple[Var, cst.CSTNode] | None:
        """The shared variable at the base of ``self.x.y[k]`` / ``G[k].z``, with its node."""
        shared = self._shared
        while True:
            kind = type(node)
            if kind is cst.Attribute:
                value = node.value
                if (
                    type(value) is cst.Name
                    and value.value == shared.self_name
                    and shared.self_name is not None
                ):
                    return ("attr", f"{shared.cls}.{node.attr.value}"), node
                node = value
            elif kind is cst.Subscript:
                node = node.value
            elif kind is cst.Name:
                if not self._in_function:
                    return None
                var = self._name_var(node.value)
                return (var, node) if var is not None else None
            else:
                return None

    def _after_assign(
        self, target: cst.BaseExpression, value: cst.BaseExpression, start: int, middle: int,
        loc: Loc,
    ) -> None:
        """Mark read-modify-writes, note a local looked up in shared state, take a guard."""
        accesses = self._scope.fn.accesses
        if middle > start and len(accesses) > middle:
            read = {(a.space, a.var) for a in accesses[middle:] if a.kind == "read"}
            for access in accesses[start:middle]:
                if (access.space, access.var) in read:
                    access.kind = "update"
        if type(target) is cst.Name and self._in_function and len(accesses) > middle:
            looked_up = self._looked_up(value)
            if looked_up is not None:
                self._shared.derived[target.value] = frozenset((looked_up,))
        if self._guard is not None:
            self._declare_guard(target, loc)

    def _looked_up(self, value: cst.BaseExpression) -> Var | None:
        """The shared variable ``x = G``, ``x = self.d[k]``, ``x = self.d.get(k)`` reads."""
        if type(value) is cst.Call:
            func = value.func
            if type(func) is not cst.Attribute or func.attr.value != "get":
                return None
            value = func.value
        if type(value) is cst.Subscript:
            value = value.value
        root = self._root(value)
        return root[0] if root is not None and root[1] is value else None

    def _declare_guard(self, target: cst.BaseExpression, loc: Loc) -> None:
        lock, self._guard = self._guard, None
        scope = self._scope
        var: Var | None = None
        if type(target) is cst.Name:
            if self._in_class_body():
                var = ("attr", f"{self._classes[-1][0].qualname}.{target.value}")
            elif len(self._scopes) == 1:
                var = ("global", target.value)
        elif type(target) is cst.Attribute:
            root = self._root(target)
            if root is not None and root[1] is target and root[0][0] == "attr":
                var = root[0]
        if var is not None:
            self.facts.guards.append(Guard(var[0], var[1], lock, loc, scope.fn.qualname))
