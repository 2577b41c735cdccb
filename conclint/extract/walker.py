"""One pass over a libcst module that reduces it to ``ModuleFacts``.

The walk follows statements in order and keeps, per function, the list of lock-like
acquisitions currently held (``with`` items and ``acquire()`` calls), so every call and
acquisition records what is held there. Whether a ``with`` item really is a lock is
decided later, by the whole-program phase; here everything is syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from conclint.extract.facts import Acquire, Arg, Call, ClassDef, Function, ModuleFacts, Span
from conclint.extract.release_check import check_releases
from conclint.extract.text import dotted, is_literal, literal

SpanOf = Callable[[cst.CSTNode], Span]

_TRY_ACQUIRE_KEYWORDS = ("blocking", "timeout")
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


@dataclass
class _Scope:
    """Walk state of one function body."""

    fn: Function
    held: list[int] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    returns_held: list[tuple[int, ...]] = field(default_factory=list)
    has_acquire_call: bool = False


def _held_after(branches: Sequence[list[int] | None]) -> list[int] | None:
    """Acquisitions surely held after branches join (None: every branch left the block)."""
    live = [b for b in branches if b is not None]
    if not live:
        return None
    first = live[0]
    return [i for i in first if all(i in other for other in live[1:])]


class ModuleWalker:
    """Builds the facts of one module; ``walk`` is the entry point."""

    def __init__(self, path: str, module: str, is_package: bool, span_of: SpanOf) -> None:
        self.facts = ModuleFacts(path=path, module=module)
        self._package = module if is_package else module.rpartition(".")[0]
        self._span = span_of
        self._scopes: list[_Scope] = []
        self._classes: list[tuple[ClassDef, int]] = []  # with the scope depth of its body
        self._class_by_name: dict[str, ClassDef] = {}

    # ----------------------------------------------------------------- entry
    def walk(self, module: cst.Module) -> ModuleFacts:
        top = Function(
            qualname="<module>", name="<module>", cls=None, params=(), decorators=(),
            is_async=False, span=Span(1, 1, 1, 1),
        )
        self.facts.functions.append(top)
        self._scopes.append(_Scope(top))
        self._block(module.body)
        self._scopes.pop()
        return self.facts

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
        if isinstance(node, cst.Expr):
            self._expression_statement(node.value)
        elif isinstance(node, cst.Assign):
            self._expr(node.value, target=self._single_target(node.targets))
            for target in node.targets:
                self._store(target.target)
                self._bind(target.target, node.value)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self._expr(node.value, target=dotted(node.target))
                self._bind(node.target, node.value)
            self._store(node.target)
        elif isinstance(node, cst.AugAssign):
            self._expr(node.value)
            self._expr(node.target)
        elif isinstance(node, cst.Return):
            if node.value is not None:
                self._expr(node.value)
            scope.returns_held.append(tuple(scope.held))
            return False
        elif isinstance(node, cst.Raise):
            if node.exc is not None:
                self._expr(node.exc)
            return False
        elif isinstance(node, (cst.Break, cst.Continue)):
            return False
        elif isinstance(node, cst.Import):
            self._import(node)
        elif isinstance(node, cst.ImportFrom):
            self._import_from(node)
        elif isinstance(node, (cst.Del, cst.Assert)):
            for child in node.children:
                if isinstance(child, cst.BaseExpression):
                    self._expr(child)
        return True

    def _store(self, target: cst.BaseExpression) -> None:
        """Walk an assignment target: calls inside it run, a plain name is no use."""
        if not isinstance(target, cst.Name):
            self._expr(target)

    def _single_target(self, targets: Sequence[cst.AssignTarget]) -> str | None:
        return dotted(targets[0].target) if len(targets) == 1 else None

    def _expression_statement(self, value: cst.BaseExpression) -> None:
        scope = self._scope
        call = value.expression if isinstance(value, cst.Await) else value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
            receiver = dotted(call.func.value)
            method = call.func.attr.value
            if receiver is not None and method == "acquire":
                self._expr(value, discarded=True)
                scope.has_acquire_call = True
                kind = "try-acquire" if self._is_try_acquire(call) else "acquire"
                self._push_acquire(receiver, call, kind)
                return
            if receiver is not None and method == "release":
                self._expr(value, discarded=True)
                self._release(receiver)
                return
        self._expr(value, discarded=True)

    @staticmethod
    def _is_try_acquire(call: cst.Call) -> bool:
        for i, arg in enumerate(call.args):
            key = arg.keyword.value if arg.keyword else None
            if key == "timeout" or (key is None and i == 1):
                return True
            if key in ("blocking", None) and literal(arg.value) is False:
                return True
            if key in ("blocking", None) and literal(arg.value) == 0:
                return True
        return False

    def _push_acquire(self, lock: str, node: cst.CSTNode, kind: str) -> int:
        scope = self._scope
        index = len(scope.fn.acquires)
        scope.fn.acquires.append(
            Acquire(lock=lock, span=self._span(node), held=tuple(scope.held), kind=kind)
        )
        scope.held.append(index)
        return index

    def _release(self, lock: str) -> None:
        scope = self._scope
        for position in range(len(scope.held) - 1, -1, -1):
            if scope.fn.acquires[scope.held[position]].lock == lock:
                del scope.held[position]
                return

    def _compound(self, node: cst.CSTNode) -> bool:
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
            self._expr(node.subject)
            ends = []
            for case in node.cases:
                saved = list(self._scope.held)
                if case.guard is not None:
                    self._expr(case.guard)
                ends.append(list(self._scope.held) if self._block(case.body) else None)
                self._scope.held = saved
            ends.append(list(self._scope.held))
            return self._join(ends)
        return True

    def _join(self, ends: Sequence[list[int] | None]) -> bool:
        after = _held_after(ends)
        if after is None:
            return False
        self._scope.held = after
        return True

    def _if(self, node: cst.If) -> bool:
        scope = self._scope
        before = list(scope.held)
        test = node.test
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        probe = test.expression if negated else test
        locked = self._test_try_acquire(probe)
        self._expr(test, in_test=True)
        if locked is not None:
            index = self._push_acquire(locked[0], locked[1], "try-acquire")
            scope.held = list(before)
            with_lock = before + [index]
            body_start, else_start = (before, with_lock) if negated else (with_lock, before)
        else:
            body_start = else_start = before
        scope.held = list(body_start)
        body_end = list(scope.held) if self._block(node.body) else None
        scope.held = list(else_start)
        if node.orelse is None:
            else_end: list[int] | None = list(scope.held)
        elif isinstance(node.orelse, cst.If):
            else_end = list(scope.held) if self._if(node.orelse) else None
        else:
            else_end = list(scope.held) if self._block(node.orelse.body) else None
        return self._join([body_end, else_end])

    def _test_try_acquire(self, test: cst.BaseExpression) -> tuple[str, cst.Call] | None:
        """``if lock.acquire(blocking=False):`` holds the lock in the body."""
        if (
            isinstance(test, cst.Call)
            and isinstance(test.func, cst.Attribute)
            and test.func.attr.value == "acquire"
        ):
            receiver = dotted(test.func.value)
            if receiver is not None:
                self._scope.has_acquire_call = True
                return receiver, test
        return None

    def _loop(self, node: cst.While | cst.For) -> bool:
        scope = self._scope
        if isinstance(node, cst.While):
            self._expr(node.test, in_test=True)
            scope.loops.append("while")
        else:
            self._expr(node.iter)
            self._expr(node.target)
            scope.loops.append("for")
        before = list(scope.held)
        self._block(node.body)
        scope.loops.pop()
        scope.held = before
        if node.orelse is not None:
            self._block(node.orelse.body)
            scope.held = before
        return True

    def _with(self, node: cst.With) -> bool:
        scope = self._scope
        before = list(scope.held)
        kind = "async-with" if node.asynchronous is not None else "with"
        for item in node.items:
            if isinstance(item.item, cst.Name):
                self._name_use(item.item.value, lock_use=True)
            else:
                self._expr(item.item)
            if item.asname is not None:
                self._bind(item.asname.name, item.item)
            text = dotted(item.item)
            if text is not None:
                self._push_acquire(text, item.item, kind)
        falls_through = self._block(node.body)
        scope.held = before
        return falls_through

    def _try(self, node: cst.Try | cst.TryStar) -> bool:
        scope = self._scope
        before = list(scope.held)
        ends: list[list[int] | None] = []
        body_ok = self._block(node.body)
        if body_ok and node.orelse is not None:
            body_ok = self._block(node.orelse.body)
        ends.append(list(scope.held) if body_ok else None)
        for handler in node.handlers:
            scope.held = list(before)
            if handler.type is not None:
                self._expr(handler.type)
            ends.append(list(scope.held) if self._block(handler.body) else None)
        after = _held_after(ends)
        if node.finalbody is not None:
            scope.held = list(after if after is not None else before)
            if not self._block(node.finalbody.body):
                return False
            if after is None:
                return False
            # Releases in ``finally`` apply to whatever the body left held.
            released = [i for i in (after or []) if i not in scope.held and i not in before]
            after = [i for i in scope.held if i not in released]
        if after is None:
            return False
        scope.held = after
        return True

    # ----------------------------------------------------------- definitions
    def _function(self, node: cst.FunctionDef) -> None:
        outer = self._scope
        for decorator in node.decorators:
            self._expr(decorator.decorator)
        params = node.params
        names = [p.name.value for p in (*params.posonly_params, *params.params)]
        if isinstance(params.star_arg, cst.Param):
            names.append(params.star_arg.name.value)
        names.extend(p.name.value for p in params.kwonly_params)
        if params.star_kwarg is not None:
            names.append(params.star_kwarg.name.value)
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.default is not None:
                self._expr(param.default)
        in_class = self._in_class_body()
        if in_class:
            cls = self._classes[-1][0]
            qualname = f"{cls.qualname}.{node.name.value}"
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
            span=self._span(node.name),
        )
        self._enter(fn, node.body)

    def _enter(self, fn: Function, body: cst.BaseSuite | cst.BaseExpression) -> None:
        self.facts.functions.append(fn)
        scope = _Scope(fn)
        self._scopes.append(scope)
        if isinstance(body, cst.BaseExpression):
            self._expr(body)
            falls_through = True
        else:
            falls_through = self._block(body)
        ends = list(scope.returns_held)
        if falls_through:
            ends.append(tuple(scope.held))
        manual = [
            i for i in (_held_after([list(e) for e in ends]) or [])
            if fn.acquires[i].kind in ("acquire", "try-acquire")
        ]
        fn.leaves_held = tuple(manual)
        if scope.has_acquire_call and isinstance(body, cst.BaseSuite):
            fn.release_issues = check_releases(body, self._span)
        self._scopes.pop()

    def _class(self, node: cst.ClassDef) -> None:
        for decorator in node.decorators:
            self._expr(decorator.decorator)
        for arg in node.bases:
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
            span=self._span(node.name),
        )
        self.facts.classes.append(cls)
        self._class_by_name[cls.qualname] = cls
        self._classes.append((cls, len(self._scopes)))
        self._block(node.body)
        self._classes.pop()

    # ----------------------------------------------------------- bindings
    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        text = self._lambda_name(value) if isinstance(value, cst.Lambda) else dotted(value)
        if text is None:
            return
        scope = self._scope
        if isinstance(target, cst.Name):
            name = target.value
            if self._in_class_body():
                cls = self._classes[-1][0]
                cls.attrs.setdefault(name, text)
                cls.attr_spans.setdefault(name, self._span(target))
                cls.attr_scope.setdefault(name, scope.fn.qualname)
            elif len(self._scopes) == 1:
                self.facts.globals.setdefault(name, text)
                self.facts.global_spans.setdefault(name, self._span(target))
            else:
                scope.fn.locals[name] = text
                scope.fn.local_spans.setdefault(name, self._span(target))
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            fn = scope.fn
            owner = self._method_owner()
            if owner is not None and fn.params and target.value.value == fn.params[0]:
                attr = target.attr.value
                owner.attrs.setdefault(attr, text)
                owner.attr_scope.setdefault(attr, fn.qualname)
                owner.attr_spans.setdefault(attr, self._span(target))

    def _in_class_body(self) -> bool:
        return bool(self._classes) and self._classes[-1][1] == len(self._scopes)

    def _method_owner(self) -> ClassDef | None:
        cls = self._scope.fn.cls
        return self._class_by_name.get(cls) if cls is not None else None

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
        if base is None or isinstance(node.names, cst.ImportStar):
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
        node: cst.CSTNode,
        *,
        discarded: bool = False,
        target: str | None = None,
        in_test: bool = False,
        awaited: bool = False,
    ) -> None:
        if isinstance(node, cst.Call):
            self._call(node, discarded, target, in_test, awaited)
        elif isinstance(node, cst.Await):
            self._expr(node.expression, discarded=discarded, target=target, awaited=True)
        elif isinstance(node, cst.Name):
            self._name_use(node.value)
        elif isinstance(node, cst.Lambda):
            self._lambda(node)
        elif isinstance(node, _COMPREHENSIONS):
            self._scope.loops.append("for")
            for child in node.children:
                self._expr(child, in_test=in_test)
            self._scope.loops.pop()
        elif isinstance(node, cst.Yield):
            scope = self._scope
            if not scope.fn.yield_held and scope.held:
                scope.fn.yield_held = tuple(scope.held)
            if node.value is not None:
                self._expr(node.value)
        elif isinstance(node, (cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary)):
            return
        else:
            for child in node.children:
                self._expr(child, in_test=in_test)

    def _name_use(self, name: str, lock_use: bool = False) -> None:
        """Note a local used as a value (not as a lock) or captured by a nested function."""
        for scope in reversed(self._scopes[1:]):
            if name in scope.fn.locals:
                if scope is not self._scope or not lock_use:
                    scope.fn.escaping.add(name)
                return

    def _call(
        self, node: cst.Call, discarded: bool, target: str | None, in_test: bool, awaited: bool
    ) -> None:
        scope = self._scope
        callee = dotted(node.func) or ""
        args = tuple(self._arg(a) for a in node.args)
        scope.fn.calls.append(
            Call(
                callee=callee,
                span=self._span(node),
                held=tuple(scope.held),
                args=args,
                loop=scope.loops[-1] if scope.loops else None,
                awaited=awaited,
                discarded=discarded,
                target=target,
                in_test=in_test,
            )
        )
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value in _LOCK_METHODS
        ):
            self._name_use(func.value.value, lock_use=True)
        else:
            self._expr(func)
        for arg in node.args:
            self._expr(arg.value)

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
        span = self._span(node)
        return f"<lambda:{span.line}:{span.column}>"

    def _lambda(self, node: cst.Lambda) -> None:
        outer = self._scope.fn
        name = self._lambda_name(node)
        qualname = f"{outer.qualname}.{name}"
        outer.nested[name] = qualname
        params = tuple(p.name.value for p in node.params.params)
        fn = Function(
            qualname=qualname, name="<lambda>", cls=None, params=params, decorators=(),
            is_async=False, span=self._span(node),
        )
        self._enter(fn, node.body)


_LOCK_METHODS = frozenset({"acquire", "release", "locked", "wait", "wait_for", "notify", "notify_all"})
