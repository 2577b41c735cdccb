"""Handles: the calls that create threads, processes, pools, executors and managers.

Each handle knows its API and kind; what becomes of it is asked of ``Flows`` (see
``conclint.analyses.flows``), and the properties the rules need -- started? daemon? which
methods of an analysed subclass release it? -- are answered here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conclint.analyses.calls import CallGraph
from conclint.analyses.flows import ESCAPED, LEAKED, RELEASED, Fate, Flows, self_name
from conclint.diagnostics import Step
from conclint.extract.facts import Call, Function
from conclint.knowledge import canonical
from conclint.knowledge_lifecycle import CONTAINER_ADDS, HANDLE_KINDS
from conclint.program.index import Program, Where
from conclint.program.values import Class

_ESCAPED = Fate(ESCAPED)


@dataclass(frozen=True, slots=True)
class Handle:
    """A call that creates a thread, process, pool, executor or manager."""

    where: Where
    call: Call
    api: str  # canonical external class ("threading.Thread"), also for analysed subclasses
    kind: str  # "thread" | "process" | "pool" | "executor" | "manager"
    cls: str | None = None  # the analysed subclass instantiated, if any


class Handles(Flows):
    """Every handle creation of the program, with the properties the rules ask about."""

    def __init__(self, program: Program, calls: CallGraph) -> None:
        super().__init__(program, calls)
        self._handle_classes: dict[str, str | None] = {}
        self._class_names = frozenset(cls.name for _, cls in program.classes.values())
        self.handles: list[Handle] = list(self._find())

    def _find(self) -> Iterator[Handle]:
        """Every call that creates a handle: of a known handle API, or of an analysed class
        deriving from one (only a callee named like an analysed class can be that)."""
        class_names = self._class_names
        for where in self.program.iter_functions():
            for call, target in self.calls.resolved(where.qualname):
                if target.external in HANDLE_KINDS:
                    yield Handle(where, call, target.external, HANDLE_KINDS[target.external])
                elif call.callee.rpartition(".")[2] in class_names:
                    handle = self._of_class(where, call)
                    if handle is not None:
                        yield handle

    def _of_class(self, where: Where, call: Call) -> Handle | None:
        """The handle ``call`` creates when it instantiates an analysed handle class."""
        value = self.program.resolve(where, call.callee)
        if not isinstance(value, Class):
            return None
        own = canonical(value.qualname)  # the analysed tree may hold threading.py itself
        if own in HANDLE_KINDS:
            return Handle(where, call, own, HANDLE_KINDS[own])
        api = self.handle_base(value.qualname)
        return Handle(where, call, api, HANDLE_KINDS[api], value.qualname) if api else None

    def handle_base(self, cls: str) -> str | None:
        """The handle class an analysed class derives from (``threading.Thread``), if any."""
        if cls not in self._handle_classes:
            bases = [canonical(b) for b in self.program.mro(cls)[1:]]
            bases += self.program.external_bases(cls)
            found = [b for b in bases if b in HANDLE_KINDS]
            self._handle_classes[cls] = found[0] if found else None
        return self._handle_classes[cls]

    # ----------------------------------------------------------------- properties
    def own_methods(self, handle: Handle, base: frozenset[str]) -> frozenset[str]:
        """``base`` plus the methods of an analysed subclass that call one of them on
        ``self`` (``def stop(self): ...; self.join()``), transitively."""
        if handle.cls is None:
            return base
        names = set(base)
        functions = [w for c in self.program.mro(handle.cls) for w in self._methods.get(c, [])]
        grew = True
        while grew:
            grew = False
            for where in functions:
                me = self_name(where.function)
                if me is None or where.function.name in names:
                    continue
                if any(_method_of(call.callee, me) in names for call in where.function.calls):
                    names.add(where.function.name)
                    grew = True
        return frozenset(names)

    def is_started(self, handle: Handle) -> bool:
        """Is the thread or process seen to be started (``start()`` on it, or by itself)?"""
        starters = self.own_methods(handle, frozenset({"start"}))
        if handle.cls is not None and "__init__" in starters:
            return True
        target = handle.call.target
        if target and any(c.callee == f"{target}.start" for c in handle.where.function.calls):
            return True  # also at module level, where names are globals
        return self.creation_fate(handle, starters).status == RELEASED

    def daemon_flag(self, handle: Handle) -> bool | None:
        """True for a daemon thread, False for a plain one, None when the code does not say
        (``daemon=flag``, ``**kwargs``)."""
        flags: list[bool | None] = []
        for arg in handle.call.args:
            if arg.keyword == "daemon" or arg.kind == "starred":
                flags.append(_flag(arg.kind, arg.const, arg.text))
        if handle.cls is not None:
            flags.extend(self._class_daemon(handle.cls))
        where, call = handle.where, handle.call
        names = {call.target} if call.target else set()
        if call.sink and call.sink[0] == "[":
            names.add(call.sink[1:])
        if call.sink and call.sink[0] == "(":
            found = self.call_at(where, int(call.sink[1:]))
            if found is not None and found[0].callee.rpartition(".")[2] in CONTAINER_ADDS:
                names.add(found[0].callee.rpartition(".")[0])
        scopes = [where]
        attr = next((self.self_attr(where, n) for n in names if self.self_attr(where, n)), None)
        if attr is not None:
            scopes.extend(self._class_functions(self.related(attr[0])))
        for scope in scopes:
            fn = scope.function
            known = names | {var for var, container, _ in fn.loop_vars if container in names}
            for text in known:
                value = fn.attr_sets.get(f"{text}.daemon")
                if value is not None:
                    flags.append(_flag("name", None, value))
            flags.extend(_setdaemon(fn, known))
        if True in flags:
            return True
        return None if None in flags else False

    def _registers_self(self, cls: str) -> bool:
        """Does a method of ``cls`` hand ``self`` to other code (``_registry.add(self)``)?
        Then whoever holds it may join it. ``Base.__init__(self, ...)`` does not count."""
        for owner in self.program.mro(cls):
            for where in self._methods.get(owner, []):
                me = self_name(where.function)
                for sink in where.function.uses.get(me or "", ()):
                    if sink[0] != "(":
                        return True
                    found = self.call_at(where, int(sink[1:]))
                    if found is None or not found[0].callee.endswith("__init__"):
                        return True
        return False

    def _class_daemon(self, cls: str) -> list[bool | None]:
        """What an analysed Thread subclass says about its daemon flag."""
        flags: list[bool | None] = []
        for owner in self.program.mro(cls):
            _, klass = self.program.classes[owner]
            if "daemon" in klass.attrs:
                flags.append(_flag("name", None, klass.attrs["daemon"]))
            for where in self._methods.get(owner, []):
                me = self_name(where.function)
                flags.extend(_setdaemon(where.function, {me} if me else set()))
                for call in where.function.calls:
                    if call.callee.endswith("__init__"):
                        flags.extend(_flag(a.kind, a.const, a.text)
                                     for a in call.args if a.keyword == "daemon")
        return flags

    def creation_fate(self, handle: Handle, methods: frozenset[str]) -> Fate:
        """What becomes of the object ``handle.call`` creates."""
        where, call = handle.where, handle.call
        if handle.cls is not None and self._registers_self(handle.cls):
            return _ESCAPED
        path = where.module.path
        sink = call.sink
        if call.target is not None:
            fate = self._stored(where, call.target, False, methods, 0, call)
            if sink is None or fate.status == RELEASED:
                return fate
            also = self._flow(where, sink, f"{call.callee}()", False, methods, 0)  # a = b = X()
            return self._combine([fate, also], fate)
        if sink is None:
            if call.discarded:
                return Fate(LEAKED, (), "the new object is dropped at once")
            return _ESCAPED
        if sink[0] == ".":
            if sink[1:] in methods:
                return Fate(RELEASED, (Step(path, call.loc, "released at once"),))
            return Fate(LEAKED, (), f"the handle is not kept (`.{sink[1:]}()` is called on the "
                                    "new object and it is dropped)")
        return self._flow(where, sink, f"{call.callee}()", False, methods, 0) or _ESCAPED


def _flag(kind: str, const: object, text: str | None) -> bool | None:
    """A literal flag's truth (``daemon=True``, ``t.daemon = False``), None if not literal."""
    if kind == "const":
        return bool(const)
    return {"True": True, "False": False, "None": False}.get(text or "")


def _setdaemon(fn: Function, names: set[str]) -> list[bool | None]:
    """``t.setDaemon(True)`` calls on any of ``names``."""
    return [
        _flag(call.args[0].kind, call.args[0].const, call.args[0].text) if call.args else None
        for call in fn.calls
        if call.callee.endswith(".setDaemon") and call.callee[:-len(".setDaemon")] in names
    ]


def _method_of(callee: str, me: str) -> str:
    """``self.stop`` / ``super().stop`` / ``Base.stop`` -> "stop" (else "")."""
    receiver, _, method = callee.rpartition(".")
    return method if receiver in (me, "super()") or receiver and receiver[0].isupper() else ""
