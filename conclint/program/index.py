"""Stage 3: every module's facts in one index, and name resolution across them.

``Program.resolve`` turns dotted text seen in a function into a ``Value``: a module,
an analysed function or class, an instance of a known type, an external API name, or a
lock named by its creation site. It follows imports (any style, relative ones too),
locals, closures, ``self``/``cls``, class attributes set in any method, base classes,
and re-exports between analysed modules.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from conclint.extract.facts import Call, ClassDef, Function, ModuleFacts
from conclint.knowledge import (
    BUILTINS, KNOWN_CLASSES, LOCK_FACTORIES, RETURNS, LockKind, canonical,
)
from conclint.program.values import (
    BoundLock, Class, External, Func, Instance, LockId, Module, NewLock, Param, Value,
)

_SEGMENT = re.compile(r"\(\)|\[\]|[^.()\[\]]+")
_MAX_DEPTH = 12

K = TypeVar("K")
V = TypeVar("V")
Reads = frozenset[str]  # names of modules (see ``Program.start_reading``)
VOLATILE = "\0volatile"  # read by a result that depends on the order of the work
_NO_READS: Reads = frozenset()
_IN_PROGRESS: Reads = frozenset({VOLATILE})  # a result still being computed


@dataclass(slots=True)  # not frozen (see program.values); holds unhashable facts
class Where:
    """A function together with its module: the scope text is resolved in."""

    module: ModuleFacts
    function: Function
    # "module.Class.method": computed once, it keys every per-function table
    qualname: str = field(init=False)
    # The memo scope of text starting with the receiver parameter ("mod:Cls:self" or
    # "mod:Cls:cls"), "" for functions without one; see ``Program._scope_key``.
    receiver_scope: str = field(init=False)
    nested: bool = field(init=False)  # inside another function: closures see its locals

    def __post_init__(self) -> None:
        fn, module = self.function, self.module.module
        self.qualname = f"{module}.{fn.qualname}"
        receiver = fn.cls is not None and bool(fn.params) and "staticmethod" not in fn.decorators
        kind = "cls" if "classmethod" in fn.decorators else "self"
        self.receiver_scope = f"{module}:{fn.cls}:{kind}" if receiver else ""
        self.nested = "<" in fn.qualname[1:]


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see program.values
class CallTarget:
    """What a call site calls: an analysed function and/or an external API name."""

    function: str | None  # qualified name of an analysed function
    external: str | None  # canonical external name ("time.sleep", "queue.Queue.get")
    via_self: bool  # a method called on the caller's own ``self``
    receiver: str  # dotted text of the receiver ("self._q"), "" for plain calls


@functools.lru_cache(maxsize=1 << 17)
def split(text: str) -> tuple[str, ...]:
    """``"a.b().c"`` -> ``("a", "b", "()", "c")`` (memoised: the same texts recur)."""
    return tuple(_SEGMENT.findall(text))


class Program:
    """All analysed modules, indexed for name resolution."""

    def __init__(self, modules: Iterable[ModuleFacts],
                 extra_classes: Iterable[str] = (), lock_factories: Iterable[str] = ()) -> None:
        """``extra_classes``: external classes declared by the user (``[tool.conclint]``);
        ``lock_factories``: the user's own lock types (non-reentrant thread locks)."""
        self.known_classes = KNOWN_CLASSES | frozenset(extra_classes)
        self.lock_factories = {
            **LOCK_FACTORIES,
            **{name: LockKind(name, False, "thread") for name in map(canonical, lock_factories)
               if name not in LOCK_FACTORIES},
        }
        self.modules: dict[str, ModuleFacts] = {}
        self.functions: dict[str, Where] = {}
        self.classes: dict[str, tuple[ModuleFacts, ClassDef]] = {}
        self._top_functions: dict[str, dict[str, Function]] = {}
        self._top_classes: dict[str, dict[str, ClassDef]] = {}
        self._assignments: dict[tuple[str, str], Call] = {}
        self._memo: dict[tuple[str, str], Value | None] = {}
        self._call_memo: dict[tuple[str, str], CallTarget] = {}
        self._mro_memo: dict[str, list[str]] = {}
        self._owner_memo: dict[tuple[str, str], str | None] = {}
        self._method_memo: dict[tuple[str, str, bool], str | None] = {}
        # While tracking: the modules each memoised result was computed from (by memo key).
        self._memo_reads: dict[object, Reads] = {}
        self._reads: list[set[str]] = []  # open read sets, innermost last (``start_reading``)
        self._tracking = False
        self._interned: dict[frozenset[str], Reads] = {}
        for facts in sorted(modules, key=lambda m: m.path):
            name = facts.module
            if name in self.modules:  # two files claim one module name: keep both
                name = f"{name}@{facts.path}"
                facts.module = name
            self.modules[name] = facts
            # one object per distinct name across modules (each file's come unpickled apart)
            facts.names = tuple(map(sys.intern, facts.names))
            self._top_functions[name] = {}
            self._top_classes[name] = {}
            for fn in facts.functions:
                where = Where(facts, fn)
                self.functions[where.qualname] = where
                if "." not in fn.qualname:
                    self._top_functions[name][fn.qualname] = fn
                for call in fn.calls:
                    if call.target is not None:
                        self._assignments.setdefault((where.qualname, call.target), call)
            for cls in facts.classes:
                self.classes[f"{name}.{cls.qualname}"] = (facts, cls)
                if "." not in cls.qualname:
                    self._top_classes[name][cls.qualname] = cls
        self._members: dict[str, set[str]] = {name: set(cls.attrs)
                                              for name, (_, cls) in self.classes.items()}
        for qualname in [*self.functions, *self.classes]:
            owner, _, member = qualname.rpartition(".")
            if owner in self._members:
                self._members[owner].add(member)

    # --------------------------------------------------------- dependencies
    def track_reads(self, on: bool = True) -> None:
        """Record (or no longer) which modules each resolution reads: see ``start_reading``.
        Results memoised without their reads are forgotten when tracking starts."""
        if on and not self._tracking:
            for memo in (self._memo, self._call_memo, self._mro_memo, self._owner_memo,
                         self._method_memo):
                for key in [k for k in memo if (id(memo), k) not in self._memo_reads]:
                    del memo[key]
        self._tracking = on

    def start_reading(self) -> None:
        """Open a read set: the names of the modules whose facts the resolutions made until
        ``stop_reading`` depend on (also a name tested for being a module, and ``VOLATILE``
        when a result depends on the order of the work, in a cyclic definition)."""
        self._reads.append(set())

    def stop_reading(self) -> Reads:
        reads = self._reads.pop()
        if self._reads:
            self._reads[-1].update(reads)
        frozen = frozenset(reads)
        return self._interned.setdefault(frozen, frozen)

    def _read(self, module: str) -> None:
        if self._reads:
            self._reads[-1].add(module)

    def _memoised(self, memo: dict[K, V], key: K, compute: Callable[[], V],
                  guard: bool = False) -> V:
        """``memo[key]``, computed on first use; while tracking, the modules it was computed
        from count as read by the caller too. ``guard``: while it is being computed, a
        request for it (a self-referential definition) gets None."""
        if key in memo:
            if self._reads:
                self._read_as(memo, key)
            return memo[key]
        if guard:
            memo[key] = None  # type: ignore[assignment]
            if self._tracking:
                self._memo_reads[(id(memo), key)] = _IN_PROGRESS
        if not self._tracking:
            value = memo[key] = compute()
            return value
        self.start_reading()
        try:
            value = compute()
        finally:
            reads = self.stop_reading()
        memo[key] = value
        self._memo_reads[(id(memo), key)] = reads
        return value

    def _read_as(self, memo: dict[K, V], key: K) -> None:
        """The modules the memoised result was computed from count as read now too."""
        if self._reads:
            self._reads[-1].update(self._memo_reads.get((id(memo), key), _NO_READS))

    def _has_module(self, name: str) -> bool:
        """Whether ``name`` is an analysed module (a read: adding that module changes it)."""
        self._read(name)
        return name in self.modules

    # ------------------------------------------------------------- queries
    def where(self, qualname: str) -> Where:
        return self.functions[qualname]

    def defined_names(self) -> frozenset[str]:
        """Simple names of every analysed function and class (lambdas included)."""
        names = {where.function.name for where in self.functions.values()}
        names.update(cls.name for _, cls in self.classes.values())
        names.update(name for w in self.functions.values() for name in w.function.nested)
        return frozenset(names)

    def iter_functions(self) -> Iterator[Where]:
        return iter(self.functions.values())

    def mro(self, cls_qualname: str) -> list[str]:
        """The analysed classes in ``cls``'s method resolution order (depth-first, deduplicated).

        Iterative, so an inheritance chain thousands of classes long cannot exhaust the
        stack; a cyclic base (``class A(B)`` and ``class B(A)`` in two files) is cut."""
        made: set[str] = set()  # classes of one computation: each gets all its reads
        order = self._memoised(self._mro_memo, cls_qualname,
                               lambda: self._compute_mro(cls_qualname, made))
        reads = self._memo_reads.get((id(self._mro_memo), cls_qualname))
        if reads is not None:
            for name in made:
                self._memo_reads[(id(self._mro_memo), name)] = reads
        return order

    def _compute_mro(self, cls_qualname: str, made: set[str]) -> list[str]:
        visiting: set[str] = set()
        stack: list[tuple[str, list[str] | None]] = [(cls_qualname, None)]
        while stack:
            name, bases = stack[-1]
            if bases is None:
                if name in self._mro_memo:
                    stack.pop()
                    continue
                visiting.add(name)
                bases = self._base_classes(name)
                stack[-1] = (name, bases)
                missing = [b for b in bases if b not in self._mro_memo and b not in visiting]
                if missing:
                    stack.extend((b, None) for b in reversed(missing))
                    continue
            stack.pop()
            order = {name: None}
            for base in bases:
                known = self._mro_memo.get(base)
                if known is None:  # cut: a cyclic hierarchy, resolved by where it was entered
                    self._read(VOLATILE)
                elif base not in made:
                    self._read_as(self._mro_memo, base)
                order.update(dict.fromkeys(known if known is not None else [base]))
            self._mro_memo[name] = list(order)
            if self._tracking:
                self._memo_reads[(id(self._mro_memo), name)] = _IN_PROGRESS
            made.add(name)
            visiting.discard(name)
        return self._mro_memo[cls_qualname]

    def _base_classes(self, cls_qualname: str) -> list[str]:
        """The analysed classes named in ``cls``'s bases, in order."""
        entry = self.classes.get(cls_qualname)
        if entry is None:
            return []
        module, cls = entry
        self._read(module.module)
        top = self._module_scope(module)
        values = (self.resolve(top, base) for base in cls.bases)
        return [v.qualname for v in values if isinstance(v, Class)]

    def external_bases(self, cls_qualname: str) -> list[str]:
        """Canonical names of the external classes ``cls`` derives from (``threading.Thread``)."""
        names: list[str] = []
        for name in self.mro(cls_qualname):
            module, cls = self.classes[name]
            top = self._module_scope(module)
            for base in cls.bases:
                value = self.resolve(top, base)
                if isinstance(value, External):
                    names.append(value.name)
        return names

    def method(self, cls_qualname: str, name: str, skip_own: bool = False) -> str | None:
        """Qualified name of ``name`` looked up along the MRO (memoised: hierarchies can be
        thousands of classes deep)."""
        return self._memoised(self._method_memo, (cls_qualname, name, skip_own), lambda: next(
            (f"{owner}.{name}" for owner in self.mro(cls_qualname)[skip_own:]
             if f"{owner}.{name}" in self.functions), None))

    def assignment_call(self, scope_qualname: str, target: str) -> Call | None:
        """The call whose result was assigned to ``target`` in that function."""
        return self._assignments.get((scope_qualname, target))

    def creation(self, where: Where, text: str) -> Call | None:
        """The call that created the object ``text`` names (a local, a global, or an
        attribute of ``self``), to read its arguments (``Queue(maxsize=8)``)."""
        fn = where.function
        head, _, attr = text.partition(".")
        if not attr:
            if head in fn.locals:
                return self.assignment_call(where.qualname, head)
            top = f"{where.module.module}.<module>"
            return self.assignment_call(top, head) if head in where.module.globals else None
        if "." in attr or fn.cls is None or not fn.params or head != fn.params[0]:
            return None
        for owner in self.mro(f"{where.module.module}.{fn.cls}"):
            module, cls = self.classes[owner]
            if attr in cls.attrs:
                scope = self.functions.get(f"{module.module}.{cls.attr_scope[attr]}")
                if scope is None or not scope.function.params:
                    return None
                return self.assignment_call(scope.qualname, f"{scope.function.params[0]}.{attr}")
        return None

    # ---------------------------------------------------------- resolution
    def resolve(self, where: Where, text: str) -> Value | None:
        return self._memoised(self._memo, (self._scope_key(where, text), text),
                              lambda: self._resolve(where, split(text), 0), guard=True)

    def _scope_key(self, where: Where, text: str) -> str:
        """What the meaning of ``text`` depends on: its function, its class, or its module.

        Most call sites name module-level things or ``self`` attributes, so keying the
        memo by the narrowest scope that matters resolves each of them once per module or
        class instead of once per function.
        """
        fn = where.function
        parts = split(text)
        head = parts[0] if parts and parts[0] not in ("()", "[]") else ""
        if head == "super" and fn.cls is not None:
            return f"{where.module.module}:{fn.cls}:super"
        if head in fn.params:
            if where.receiver_scope and head == fn.params[0]:
                return where.receiver_scope
            return where.qualname
        if where.nested or head in fn.locals or head in fn.nested:
            return where.qualname
        return where.module.module

    def forget_call_targets(self) -> None:
        """Drop the memo of call targets (the call graph keeps what it found): it is the
        size of the program's call sites, and later lookups are few."""
        self._call_memo.clear()

    def resolve_call(self, where: Where, call: Call) -> CallTarget:
        return self._memoised(self._call_memo, (self._scope_key(where, call.callee), call.callee),
                              lambda: self._resolve_call(where, call.callee))

    def _resolve_call(self, where: Where, text: str) -> CallTarget:
        receiver = text.rpartition(".")[0] if "." in text else ""
        fn = where.function
        self_name = fn.params[0] if fn.cls is not None and fn.params else None
        via_self = bool(self_name) and receiver == self_name
        if text.startswith("super()."):
            found = None
            if fn.cls is not None:
                found = self.method(f"{where.module.module}.{fn.cls}",
                                    text[len("super()."):], skip_own=True)
            return CallTarget(found, None, True, "super()")
        value = self.resolve(where, text) if text else None
        if isinstance(value, Func):
            return CallTarget(value.qualname, None, via_self, receiver)
        if isinstance(value, Class):
            return CallTarget(self.method(value.qualname, "__init__"), None, False, receiver)
        if isinstance(value, External):
            return CallTarget(None, value.name, False, receiver)
        if isinstance(value, Instance) and value.in_tree:
            return CallTarget(self.method(value.type, "__call__"), None, False, receiver)
        if isinstance(value, Instance):  # ``pipe(text)`` on a transformers pipeline
            return CallTarget(None, canonical(f"{value.type}.__call__"), False, receiver)
        return CallTarget(None, None, via_self, receiver)

    def _module_scope(self, module: ModuleFacts) -> Where:
        return self.functions[f"{module.module}.<module>"]

    def _resolve(self, where: Where, parts: tuple[str, ...], depth: int) -> Value | None:
        if not parts or depth > _MAX_DEPTH:
            return None
        value = self._head(where, parts[0], depth)
        for part in parts[1:]:
            if value is None:
                return None
            if part == "()":
                value = self._called(where, value, depth)
            elif part == "[]":
                return None
            else:
                value = self._attribute(value, part, depth)
        return value

    def _head(self, where: Where, name: str, depth: int) -> Value | None:
        """The first name of dotted text: looked up in the function, then outwards through
        the enclosing functions (a loop: lambdas can nest thousands deep), then the module."""
        scope: Where | None = where
        while scope is not None:
            fn, module = scope.function, scope.module
            if name in fn.params:
                index = fn.params.index(name)
                if index == 0 and fn.cls is not None and "staticmethod" not in fn.decorators:
                    owner = f"{module.module}.{fn.cls}"
                    if "classmethod" in fn.decorators:
                        return Class(owner)
                    return Instance(owner, in_tree=True, via_self=True)
                return Param(scope.qualname, index)
            if name in fn.nested:
                return Func(f"{module.module}.{fn.nested[name]}")
            if name in fn.locals:
                value = self._resolve(scope, split(fn.locals[name]), depth + 1)
                return self._bind(value, scope, f"{scope.qualname}.{name}",
                                  fn.local_locs[name], False, name)
            scope = self._enclosing(scope)
        return self._member(where.module, name, depth)

    def _enclosing(self, where: Where) -> Where | None:
        qualname = where.function.qualname
        if qualname == "<module>":
            return None
        cut = max(qualname.rfind(".<locals>."), qualname.rfind(".<lambda"))
        if cut < 0:
            return self._module_scope(where.module)
        return self.functions.get(f"{where.module.module}.{qualname[:cut]}")

    def _member(self, module: ModuleFacts, name: str, depth: int) -> Value | None:
        """A name at the top level of ``module``: a def, a class, a global, an import."""
        if depth > _MAX_DEPTH:
            return None
        mod = module.module
        self._read(mod)
        if name in self._top_functions[mod]:
            return Func(f"{mod}.{name}")
        if name in self._top_classes[mod]:
            return Class(f"{mod}.{name}")
        if name in module.globals:
            top = self._module_scope(module)
            value = self._resolve(top, split(module.globals[name]), depth + 1)
            return self._bind(value, top, f"{mod}.{name}", module.global_locs[name],
                              False, name)
        if name in module.imports:
            return self._qualified(module.imports[name], depth + 1)
        submodule = f"{mod}.{name}"
        if self._has_module(submodule):
            return Module(submodule)
        for star in module.star_imports:  # asyncio/__init__.py's ``from .tasks import *``
            if star != mod and self._has_module(star):
                value = self._member(self.modules[star], name, depth + 1)
                if value is not None:
                    return value
        if name in BUILTINS:
            return External(f"builtins.{name}")
        return None

    def _qualified(self, name: str, depth: int) -> Value | None:
        """A fully qualified name: inside the analysed modules when one is its prefix."""
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if self._has_module(prefix):
                value: Value | None = Module(prefix)
                for part in parts[cut:]:
                    if value is None:
                        return None
                    value = self._attribute(value, part, depth + 1)
                return value
        return External(canonical(name))

    def _attribute(self, value: Value, attr: str, depth: int) -> Value | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(value, Module):
            member = self._member(self.modules[value.name], attr, depth + 1)
            if member is None and self._has_module(f"{value.name}.{attr}"):
                return Module(f"{value.name}.{attr}")
            if member is None and "__getattr__" in self._top_functions[value.name]:
                return External(canonical(f"{value.name}.{attr}"))  # PEP 562 lazy export
            return member
        if isinstance(value, (Class, Instance)) and (
            isinstance(value, Class) or value.in_tree
        ):
            return self._class_attribute(value, attr, depth)
        if isinstance(value, Instance):
            return External(canonical(f"{value.type}.{attr}"))
        if isinstance(value, External):
            return External(canonical(f"{value.name}.{attr}"))
        if isinstance(value, BoundLock):
            return External(f"{value.lock.kind.factory}.{attr}")
        if isinstance(value, NewLock):
            return External(f"{value.kind.factory}.{attr}")
        return None

    def _class_attribute(self, value: Class | Instance, attr: str, depth: int) -> Value | None:
        owner_name = value.qualname if isinstance(value, Class) else value.type
        via_self = isinstance(value, Instance) and value.via_self
        owner = self._attribute_owner(owner_name, attr)
        if owner is not None:
            method = f"{owner}.{attr}"
            if method in self.functions:
                return Func(method)
            module, cls = self.classes[owner]
            if attr in cls.attrs:
                scope_name = f"{module.module}.{cls.attr_scope[attr]}"
                scope = self.functions.get(scope_name)
                if scope is None:
                    return None
                raw = self._resolve(scope, split(cls.attrs[attr]), depth + 1)
                per_instance = cls.attr_scope[attr] != "<module>"
                bound = self._bind(raw, scope, f"{owner}.{attr}", cls.attr_locs[attr],
                                   per_instance, attr)
                if isinstance(bound, BoundLock) and bound.lock.per_instance and not via_self:
                    return BoundLock(bound.lock, exact=False)
                if isinstance(bound, Instance) and bound.via_self:
                    return Instance(bound.type, bound.in_tree)
                return bound
            return Class(f"{owner}.{attr}")
        return None

    def _attribute_owner(self, cls_qualname: str, attr: str) -> str | None:
        """The first class along the MRO that defines ``attr`` (a method, an attribute or a
        nested class); memoised, so a long hierarchy is walked once per name."""
        members = self._members
        return self._memoised(self._owner_memo, (cls_qualname, attr), lambda: next(
            (owner for owner in self.mro(cls_qualname) if attr in members[owner]), None))

    def _called(self, where: Where, value: Value, depth: int) -> Value | None:
        if isinstance(value, Class):
            return Instance(value.qualname, in_tree=True)
        if isinstance(value, External):
            name = value.name
            kind = self.lock_factories.get(name)
            if kind is not None:
                return NewLock(kind, None)
            if name in RETURNS:
                target = RETURNS[name]
                return External(target) if target == "multiprocessing" else Instance(target, False)
            if name in self.known_classes:
                return Instance(name, in_tree=False)
        return None

    def _bind(
        self, value: Value | None, scope: Where, lock_name: str, loc: int,
        per_instance: bool, target: str,
    ) -> Value | None:
        """A value bound to a name: a freshly created lock becomes a named ``LockId``."""
        if not isinstance(value, NewLock):
            if isinstance(value, Instance) and value.via_self:
                return Instance(value.type, value.in_tree)
            return value
        count = None
        creation = self.assignment_call(
            scope.qualname,
            target if not per_instance or scope.function.qualname == "<module>"
            else f"{scope.function.params[0] if scope.function.params else 'self'}.{target}",
        )
        if creation is not None and creation.args:
            first = creation.args[0]
            if value.kind.condition and first.kind in ("name", "call") and first.text:
                underlying = self.resolve(scope, first.text)
                if isinstance(underlying, NewLock):
                    value = NewLock(_condition_on(value.kind, underlying.kind), None)
                elif isinstance(underlying, BoundLock):
                    kind = LOCK_FACTORIES[value.kind.factory]
                    inner = underlying.lock
                    return BoundLock(
                        LockId(inner.name, _condition_on(kind, inner.kind), inner.path,
                               inner.loc, inner.per_instance, inner.count),
                        underlying.exact,
                    )
            if first.kind == "const" and isinstance(first.const, int):
                count = first.const
        if value.kind.counting and count is None and (creation is None or not creation.args):
            count = 1
        lock = LockId(lock_name, value.kind, scope.module.path, loc, per_instance, count)
        return BoundLock(lock, exact=True)


def _condition_on(condition: LockKind, inner: LockKind) -> LockKind:
    """A Condition built on an existing lock behaves like that lock when acquired."""
    return LockKind(condition.factory, inner.reentrant, inner.family, condition=True)
