"""Where a handle goes: the value-flow search behind the lifecycle rules.

A handle is followed through the value-flow facts of the walker (``Function.uses``,
``Call.sink``, loop bindings): inside its function; onto ``self`` (then through every method
of the class hierarchy except ``__del__``, and ``obj.attr.join()`` anywhere); into lists and
dicts (whose elements are released in a loop); into analysed callees (through the parameter
it lands in). Anything else it flows into -- an external call, a return, a global, a closure,
an expression the facts do not describe -- owns it from then on: the handle *escapes* and no
rule reports it. A handle *leaks* only when every place it reaches is known and none releases it.
"""

from __future__ import annotations

from dataclasses import dataclass

from conclint.analyses.calls import CallGraph
from conclint.diagnostics import Step
from conclint.extract.facts import Call, Function
from conclint.knowledge import canonical
from conclint.knowledge_lifecycle import CONTAINER_ADDS, CONTAINER_TAKES
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import Class, Instance, Param

RELEASED, ESCAPED, LEAKED = "released", "escaped", "leaked"
# Builtins that copy a collection (the copy is followed) or only look at a value.
_COPIES = frozenset({"list", "tuple", "sorted", "reversed", "set", "frozenset", "iter",
                     "enumerate"})
_HARMLESS = frozenset({"len", "bool", "id", "repr", "str", "isinstance", "hash", "print",
                       "type", "format"})
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Fate:
    """What becomes of a handle: released, escaped (owned elsewhere) or leaked."""

    status: str
    steps: tuple[Step, ...] = ()  # the release, or the trail of a leak
    note: str = ""  # for a leak, how it is lost: {verb} "joined", {verbs_it} "joins it", {items}


_ESCAPED = Fate(ESCAPED)


def api_name(target: CallTarget) -> str | None:
    """The canonical API a call reaches, also when the analysed tree holds that API's source
    (``concurrent.futures.thread.ThreadPoolExecutor.submit`` analysed as a function)."""
    if target.external is not None:
        return target.external
    return canonical(target.function) if target.function is not None else None


def self_name(fn: Function) -> str | None:
    """The name of ``self`` in a method (None for functions and static methods)."""
    if fn.cls is None or not fn.params or "staticmethod" in fn.decorators:
        return None
    return fn.params[0]


def is_name(text: str) -> bool:
    return text.isidentifier()


class Flows:
    """The memoised ``fate`` query and the indexes it searches."""

    def __init__(self, program: Program, calls: CallGraph) -> None:
        self.program = program
        self.calls = calls
        self._memo: dict[tuple[str, str, bool, frozenset[str]], Fate] = {}
        self._at: dict[str, dict[int, tuple[Call, CallTarget]]] = {}
        self._nested: dict[str, list[Where]] = {}
        self._subclasses: dict[str, set[str]] = {}
        self._member_refs: dict[tuple[str, str], list[tuple[Where, str, int]]] = {}
        self._loop_refs: dict[str, list[tuple[Where, str, str]]] = {}
        self._methods: dict[str, list[Where]] = {}
        for where in program.iter_functions():
            fn = where.function
            if fn.cls is not None:
                self._methods.setdefault(f"{where.module.module}.{fn.cls}", []).append(where)
            outer = _enclosing(where)
            if outer is not None:
                self._nested.setdefault(outer, []).append(where)
            for call in fn.calls:
                if call.callee.count(".") >= 2:
                    self._index_member(where, call.callee, call.loc)
                for arg in call.args:
                    if arg.kind != "name" or not arg.text:
                        continue
                    dots = arg.text.count(".")
                    if dots >= 2:
                        self._index_member(where, arg.text, call.loc)
                    elif dots == 1:  # ``join_thread(worker.thread)``
                        receiver, attr = arg.text.split(".")
                        self._member_refs.setdefault((attr, ""), []).append(
                            (where, receiver, call.loc))
            for var, container, loc in fn.loop_vars:  # ``for t in worker.threads``
                if container.count(".") == 1:
                    receiver, attr = container.split(".")
                    self._loop_refs.setdefault(attr, []).append((where, receiver, var))
        for name in program.classes:
            for base in program.mro(name):
                self._subclasses.setdefault(base, set()).add(name)

    def _index_member(self, where: Where, text: str, loc: int) -> None:
        """A ``recv.attr.method`` text (two dots or more), by (attr, method), for the
        search across methods."""
        receiver, attr, method = text.rsplit(".", 2)
        if attr[:-2] in CONTAINER_TAKES and attr.endswith("()") and "." in receiver:
            receiver, base = receiver.rsplit(".", 1)  # self._threads.pop().join
            attr = f"{base}.{attr}"
        self._member_refs.setdefault((attr, method), []).append((where, receiver, loc))

    # --------------------------------------------------------------------- facts
    def call_at(self, where: Where, loc: int) -> tuple[Call, CallTarget] | None:
        table = self._at.get(where.qualname)
        if table is None:
            table = {c.loc: (c, t) for c, t in self.calls.resolved(where.qualname)}
            self._at[where.qualname] = table
        return table.get(loc)

    def nested(self, where: Where) -> list[Where]:
        """Functions (and lambdas) defined inside ``where``, at any depth."""
        out: list[Where] = []
        stack = list(self._nested.get(where.qualname, []))
        while stack:
            inner = stack.pop()
            out.append(inner)
            stack.extend(self._nested.get(inner.qualname, []))
        return out

    def related(self, cls: str) -> set[str]:
        """Every analysed class an instance of ``cls`` (or of a subclass) may run methods
        of: the bases of ``cls`` and of its subclasses, so a mixin that closes what its
        sibling opened counts."""
        related = set(self.program.mro(cls))
        for sub in self._subclasses.get(cls, set()):
            related.update(self.program.mro(sub))
        return related

    def self_attr(self, where: Where, text: str) -> tuple[str, str] | None:
        """``self.x`` in a method (or a function nested in one) -> (class, "x")."""
        head, _, attr = text.partition(".")
        if not attr or "." in attr or not attr.isidentifier():
            return None
        current: Where | None = where
        while current is not None:
            fn = current.function
            if head in fn.params or head in fn.locals:
                me = self_name(fn)
                if me == head and fn.cls is not None:
                    return f"{current.module.module}.{fn.cls}", attr
                return None
            qualname = _enclosing(current)
            current = self.program.functions.get(qualname) if qualname else None
        return None

    # ---------------------------------------------------------------------- fate
    def fate(self, where: Where, text: str, each: bool, methods: frozenset[str],
             depth: int = 0) -> Fate:
        """What becomes of the handle held in ``text`` (a local or ``self.x``); with ``each``,
        ``text`` holds a collection of handles that must each be released."""
        key = (where.qualname, text, each, methods)
        if key in self._memo:
            return self._memo[key]
        if depth > _MAX_DEPTH:
            return _ESCAPED
        self._memo[key] = _ESCAPED  # a cycle of aliases proves nothing
        attr = self.self_attr(where, text)
        if attr is not None:
            fate = self._attr_fate(attr[0], attr[1], each, methods, depth)
        elif is_name(text) and where.function.qualname != "<module>":
            fate = self._local_fate(where, text, each, methods, depth)
        else:
            fate = _ESCAPED
        self._memo[key] = fate
        return fate

    def _stored(self, where: Where, target: str, each: bool, methods: frozenset[str],
                depth: int, call: Call | None = None) -> Fate:
        """A handle assigned to ``target`` ("t", "self._t", "d[]")."""
        if target.endswith("[]") and "[" not in target[:-2]:
            if each:
                return _ESCAPED
            return self.fate(where, target[:-2], True, methods, depth + 1)
        fate = self.fate(where, target, each, methods, depth + 1)
        if call is not None and fate.status == RELEASED and is_name(target):
            overwritten = self._overwritten(where, call, target, methods)
            if overwritten is not None:
                return overwritten
        return fate

    def _flow(self, where: Where, sink: str, text: str, each: bool, methods: frozenset[str],
              depth: int) -> Fate | None:
        """Follow one sink (see ``Function.uses``) of the value written ``text``; None when
        the use changes nothing (a loop over a collection, whose variable is followed)."""
        kind, rest = sink[0], sink[1:]
        if kind == "=":
            return self._stored(where, rest, each, methods, depth)
        if kind == "[":
            return _ESCAPED if each else self.fate(where, rest, True, methods, depth + 1)
        if kind == "(":
            return self._argument(where, int(rest), text, each, methods, depth)
        if sink == "with":
            return Fate(RELEASED, (), "")
        if sink.startswith("for:") and each and any(
            container == text and str(loc) == sink[4:]
            for _, container, loc in where.function.loop_vars
        ):
            return None
        return _ESCAPED

    def _argument(self, where: Where, loc: int, text: str, each: bool,
                  methods: frozenset[str], depth: int) -> Fate | None:
        """A handle passed to the call at ``loc``: into a container, or an analysed callee."""
        found = self.call_at(where, loc)
        if found is None:
            return _ESCAPED
        call, target = found
        if target.function is None and call.callee in _HARMLESS:
            return None
        if target.function is None and call.callee in _COPIES and each:
            if call.target is not None:
                return self._stored(where, call.target, each, methods, depth)
            return self._flow(where, call.sink, text, each, methods, depth) if call.sink \
                else _ESCAPED
        receiver, _, method = call.callee.rpartition(".")
        if receiver and method in CONTAINER_ADDS and target.function is None:
            if each and method != "extend":
                return _ESCAPED
            return self.fate(where, receiver, True, methods, depth + 1)
        callee = self.program.functions.get(target.function) if target.function else None
        param = self._parameter(where, call, target, callee, text) if callee else None
        if callee is None or param is None:
            return _ESCAPED
        fate = self.fate(callee, param, each, methods, depth + 1)
        if fate.status != LEAKED:
            return fate
        hop = Step(where.module.path, call.loc,
                   f"passed to `{callee.function.name}()` as `{param}`")
        return Fate(LEAKED, (hop, *fate.steps), fate.note)

    def _parameter(self, where: Where, call: Call, target: CallTarget, callee: Where,
                   text: str) -> str | None:
        """The parameter of ``callee`` that receives the argument written ``text``."""
        fn = callee.function
        offset = 0
        if fn.cls is not None and "staticmethod" not in fn.decorators:
            offset = 1
            if target.receiver and target.receiver != "super()" \
                    and "classmethod" not in fn.decorators \
                    and not isinstance(self.program.resolve(where, call.callee), Class) \
                    and isinstance(self.program.resolve(where, target.receiver), Class):
                offset = 0  # ``Base.method(self, x)``
        position = 0
        for arg in call.args:
            if arg.kind == "starred":
                return None
            if arg.text == text and arg.kind in ("name", "call"):
                if arg.keyword is not None:
                    return arg.keyword if arg.keyword in fn.params else None
                index = position + offset
                return fn.params[index] if index < len(fn.params) else None
            if arg.keyword is None:
                position += 1
        return None

    def _combine(self, found: list[Fate | None], leak: Fate) -> Fate:
        """Released if any route releases, escaped if any escapes, else leaked."""
        fates = [fate for fate in found if fate is not None]
        for fate in fates:
            if fate.status == RELEASED:
                return fate
        if any(fate.status == ESCAPED for fate in fates):
            return _ESCAPED
        deeper = [fate for fate in fates if fate.status == LEAKED and fate.note]
        return deeper[0] if deeper else leak

    def _local_fate(self, where: Where, name: str, each: bool, methods: frozenset[str],
                    depth: int) -> Fate:
        fn = where.function
        scopes = [where] + [
            w for w in self.nested(where)
            if name not in w.function.params and name not in w.function.locals
        ]
        released = _element_calls(name, methods) if each else {f"{name}.{m}" for m in methods}
        iterated = False
        loop_vars: list[tuple[Where, str]] = []
        for scope in scopes:
            for call in scope.function.calls:
                if call.callee in released:
                    return Fate(RELEASED, (Step(scope.module.path, call.loc,
                                                f"`{call.callee}()`"),))
                if not each and any(a.kind == "name" and a.text in released
                                    for a in call.args):
                    return Fate(RELEASED, (Step(scope.module.path, call.loc,
                                                "registered to run later"),))
                iterated = iterated or call.callee.startswith(f"{name}[].")
            for var, container, _ in scope.function.loop_vars:
                if container == name:
                    loop_vars.append((scope, var))
        if not each and any(a.lock == name for a in fn.acquires):
            return Fate(RELEASED, (), "")
        if not each and (iterated or loop_vars):
            return _ESCAPED  # iterated: a collection, not one handle
        fates: list[Fate | None] = []
        if each:
            fates.extend(_element(self.fate(scope, var, False, methods, depth + 1))
                         for scope, var in loop_vars)
            takes = {f"{name}[]", *(f"{name}.{m}()" for m in CONTAINER_TAKES)}
            fates.extend(_element(self.fate(where, local, False, methods, depth + 1))
                         for local, value in fn.locals.items() if value in takes)
        for sink in sorted(fn.uses.get(name, ())):
            fates.append(self._flow(where, sink, name, each, methods, depth))
        what = f"the {{items}} collected in `{name}` are" if each else f"`{name}` is"
        return self._combine(fates, Fate(LEAKED, (), f"{what} never {{verb}} in "
                                                     f"`{fn.name}()`"))

    def _attr_fate(self, cls: str, attr: str, each: bool, methods: frozenset[str],
                   depth: int) -> Fate:
        related = self.related(cls)
        members = [f"{attr}[]", *(f"{attr}.{t}()" for t in CONTAINER_TAKES)] if each else [attr]
        for member in members:
            for method in sorted(methods):
                for where, receiver, loc in self._member_refs.get((member, method), []):
                    if _in_del(where):
                        continue
                    if self._same_object(where, receiver, attr, related):
                        return Fate(RELEASED, (Step(where.module.path, loc,
                                                    f"`{receiver}.{member}.{method}`"),))
        fates: list[Fate | None] = []
        for where, receiver, _ in self._member_refs.get((attr, ""), []):
            if receiver != self._self_in(where) and not _in_del(where) \
                    and self._same_object(where, receiver, attr, related):
                return _ESCAPED  # handed on by another object's code
        if each:
            fates.extend(
                _element(self.fate(where, var, False, methods, depth + 1))
                for where, receiver, var in self._loop_refs.get(attr, [])
                if receiver != self._self_in(where) and not _in_del(where)
                and self._same_object(where, receiver, attr, related))
        for where in self._class_functions(related):
            if _in_del(where):
                continue
            me = self._self_in(where)
            if me is None:
                continue
            text = f"{me}.{attr}"
            fn = where.function
            if each:
                fates.extend(_element(self.fate(where, var, False, methods, depth + 1))
                             for var, container, _ in fn.loop_vars if container == text)
                takes = {f"{text}[]", *(f"{text}.{m}()" for m in CONTAINER_TAKES)}
                fates.extend(_element(self.fate(where, local, False, methods, depth + 1))
                             for local, value in fn.locals.items() if value in takes)
            for sink in sorted(fn.uses.get(text, ())):
                if sink == "^":
                    continue  # the nested function's own uses are searched as well
                fates.append(self._flow(where, sink, text, each, methods, depth))
        short = cls.rpartition(".")[2]
        what, verbs = ("the {items} collected in", "{verbs_them}") if each else (
            "it is kept in", "{verbs_it}")
        return self._combine(fates, Fate(LEAKED, (), (
            f"{what} `self.{attr}`, and no method of `{short}` {verbs} (`__del__` does not "
            "count)")))

    def _same_object(self, where: Where, receiver: str, attr: str, related: set[str]) -> bool:
        """Is ``receiver.attr`` (seen in ``where``) the attribute of one of ``related``?"""
        mine = self.self_attr(where, f"{receiver}.{attr}")
        if mine is not None:
            return mine[0] in related
        value = self.program.resolve(where, receiver) if receiver else None
        if isinstance(value, Instance):
            return value.in_tree and value.type in related
        return value is None or isinstance(value, Param)  # unknown object: give it the benefit

    def _self_in(self, where: Where) -> str | None:
        """The name ``self`` has in a method or in a function nested in one."""
        current: Where | None = where
        while current is not None:
            me = self_name(current.function)
            if me is not None:
                return me
            qualname = _enclosing(current)
            current = self.program.functions.get(qualname) if qualname else None
        return None

    def _class_functions(self, classes: set[str]) -> list[Where]:
        out: list[Where] = []
        for cls in sorted(classes):
            for where in self._methods.get(cls, []):
                out.append(where)
                out.extend(self.nested(where))
        return out

    def _overwritten(self, where: Where, call: Call, name: str,
                     methods: frozenset[str]) -> Fate | None:
        """A handle created in a loop, bound to one name, released only after the loop."""
        fn = where.function
        spans = [s for s in fn.loop_spans if s[0] < call.loc <= s[1]]
        if not spans or fn.uses.get(name):
            return None
        first, last = min(spans, key=lambda s: s[1] - s[0])
        releases = [c.loc for c in fn.calls
                    if c.callee.startswith(name + ".") and c.callee[len(name) + 1:] in methods]
        if not releases or any(first < loc <= last for loc in releases):
            return None
        path = where.module.path
        return Fate(LEAKED, (Step(path, first, "the loop that rebinds it"),
                             Step(path, releases[0], "only the last one is released here")),
                    f"`{name}` is rebound on every iteration of a loop, so only the last "
                    "one is {verb}")


def _element(fate: Fate) -> Fate:
    """An element's leak is told as the collection's (its own note names a loop variable)."""
    return Fate(LEAKED) if fate.status == LEAKED else fate


def _element_calls(name: str, methods: frozenset[str]) -> set[str]:
    """``threads[i].join``, ``threads.pop().join``: releasing one element of ``name``."""
    takes = [f"{name}[]", *(f"{name}.{t}()" for t in CONTAINER_TAKES)]
    return {f"{take}.{m}" for take in takes for m in methods}


def _in_del(where: Where) -> bool:
    """In ``__del__`` (or a function nested in it): finalizers may never run."""
    return where.function.qualname.split(".<locals>.")[0].endswith("__del__")


def _enclosing(where: Where) -> str | None:
    """Qualified name of the function ``where`` is defined in (None at the top of a module)."""
    qualname = where.function.qualname
    cut = max(qualname.rfind(".<locals>."), qualname.rfind(".<lambda"))
    if cut < 0:
        return None
    return f"{where.module.module}.{qualname[:cut]}"
