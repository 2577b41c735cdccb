"""Shared-state accesses resolved across the program: which variable, which locks held.

The walker records, per function, uses of module globals, of the method's own attributes
and of captured locals (``extract/shared_state.py``). Here each becomes a ``Use`` of one
program-wide variable: ``pkg.mod.NAME``, ``pkg.mod.Cls.attr`` (all instances of the class
folded, keyed by the most basic class that has the attribute) or ``pkg.mod.f:name``;
with the locks surely held there: those at the acquisitions around it (a lock parameter
of a thread's callable resolved through what the start call passes), plus those held at
every call of the function (``EntryHeld``, leaving out calls made while the object is still
being built). Code that only runs while an object is being built (``__init__``, and what
only ``__init__`` calls on ``self``) owns that object, so its attribute uses are marked
``owned``; so is code that runs in a freshly forked child (``os.register_at_fork``
handlers, functions that ``_at_fork_reinit()`` a lock), where no other thread exists.
``kind_of`` tells the variable's type when its creation shows it, so the rules can leave
thread-safe objects alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.entry_held import EntryHeld
from conclint.analyses.held import Held, HeldLocks
from conclint.analyses.threads import ThreadContexts, api_name, class_names
from conclint.extract.facts import Access
from conclint.knowledge_races import (
    AT_FORK, ATOMIC_METHODS, SYNCHRONIZED_TYPES, THREAD_SAFE_TYPES,
)
from conclint.program.index import Program, Where, split
from conclint.program.values import (
    BoundLock, Class, External, Func, Instance, LockId, Module, NewLock,
)

_OWNING = frozenset({"__init__", "__new__", "__post_init__"})
_KNOWN_TYPES = THREAD_SAFE_TYPES | SYNCHRONIZED_TYPES | frozenset(ATOMIC_METHODS)
_MAX_ROUNDS = 20


@dataclass(slots=True)  # not frozen (see program.values); holds unhashable facts
class Use:
    """One access of a shared variable, resolved."""

    where: Where
    access: Access
    key: str
    locks: frozenset[str]
    owned: bool

    @property
    def path(self) -> str:
        return self.where.module.path

    @property
    def writes(self) -> bool:
        return self.access.kind not in ("read", "iter")


class SharedState:
    """Every recorded access, grouped by the variable it touches."""

    def __init__(
        self, program: Program, calls: CallGraph, held: HeldLocks, threads: ThreadContexts,
    ) -> None:
        self.program = program
        self.held = held
        self.threads = threads
        self.uses: dict[str, list[Use]] = {}
        self.space: dict[str, str] = {}
        self._types: dict[str, str | None] = {}
        self._attr_classes = self._classes_by_attribute()
        building = _init_only(program, calls)
        forked = _after_fork(program, calls)
        for where in program.iter_functions():
            if where.function.acquires:
                held.acquired(where)  # fills ``held.locks``
        # classes, modules and functions that own a lock: they mean to be used by threads
        self.lock_owners = {name.rpartition(".")[0] for name in held.locks}

        def while_building(edge: Edge) -> bool:
            caller = program.where(edge.caller).function
            return edge.via_self and (caller.name in _OWNING or edge.caller in building)

        self.entry = EntryHeld(program, calls, held, skip=while_building)
        shared: dict[object, object] = {}  # one object for equal keys and lock sets
        for where in program.iter_functions():
            fn = where.function
            if not fn.accesses:
                continue
            entry_locks = self.entry.at_entry(where.qualname)
            in_init = fn.name in _OWNING or where.qualname in building
            acquired = held.acquired(where)
            for access in fn.accesses:
                key = self.key(where, access.space, access.var)
                if key is None:
                    continue
                locks = set(entry_locks)
                for index in access.held:
                    locks.update(self._acquired(where, index, acquired[index]))
                owned = (in_init and access.space == "attr") or where.qualname in forked
                key = shared.setdefault(key, key)  # type: ignore[assignment]
                frozen = frozenset(locks)
                use = Use(where, access, key, shared.setdefault(frozen, frozen), owned)  # type: ignore[arg-type]
                self.uses.setdefault(key, []).append(use)
                self.space[key] = access.space

    def _acquired(self, where: Where, index: int, held: list[Held]) -> set[str]:
        """The mutual-exclusion locks one acquisition takes."""
        names = {item.lock.name for item in held if _excludes(item.lock)}
        text = where.function.acquires[index].lock
        if text.endswith(".get_lock()"):
            names.add(self._get_lock_name(where, text[:-len(".get_lock()")]))
        elif not held and text in where.function.params:  # a lock handed to a thread
            for spawner, passed in self.threads.passed(where.qualname, text):
                for item in self.held.resolve_text(spawner, passed, "enter"):
                    if _excludes(item.lock):
                        names.add(item.lock.name)
        return names

    # ------------------------------------------------------------ keys
    def key(self, where: Where, space: str, var: str) -> str | None:
        module = where.module.module
        if space == "global":
            return f"{module}.{var}"
        if space == "closure":
            return f"{module}.{var}"
        cls, _, attr = var.rpartition(".")
        owner = f"{module}.{cls}"
        if owner not in self.program.classes:
            return None
        defined = [c for c in self.program.mro(owner) if c in self._attr_classes.get(attr, ())]
        return f"{defined[-1] if defined else owner}.{attr}"

    def _classes_by_attribute(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for name, (_, cls) in self.program.classes.items():
            for attr in cls.attrs:
                out.setdefault(attr, set()).add(name)
        for where in self.program.iter_functions():
            for access in where.function.accesses:
                if access.space == "attr":
                    cls, _, attr = access.var.rpartition(".")
                    out.setdefault(attr, set()).add(f"{where.module.module}.{cls}")
        return out

    def _get_lock_name(self, where: Where, receiver: str) -> str:
        """The lock of a ``multiprocessing.Value``/``Array``: named after the variable."""
        parts = split(receiver)
        fn = where.function
        if len(parts) >= 2 and fn.cls is not None and fn.params and parts[0] == fn.params[0]:
            key = self.key(where, "attr", f"{fn.cls}.{parts[1]}")
        else:
            key = self.key(where, "global", parts[0])
        return f"{key}.get_lock()"

    # ------------------------------------------------------------ types
    def kind_of(self, key: str) -> str | None:
        """The canonical type of the object the variable is created as, when known:
        "lock" for a lock, an external class name, or the external base of an analysed
        class (``threading.local`` for ``class Local(threading.local)``)."""
        if key in self._types:
            return self._types[key]
        found = self._creation(key)
        kind = None
        if found is not None:
            scope, text = found
            kind = self._type_of_text(scope, text)
        self._types[key] = kind
        return kind

    def _creation(self, key: str) -> tuple[Where, str] | None:
        program = self.program
        space = self.space.get(key)
        if space == "closure":
            owner, _, name = key.partition(":")
            where = program.functions.get(owner)
            if where is not None and name in where.function.locals:
                return where, where.function.locals[name]
            return None
        owner, _, name = key.rpartition(".")
        if space == "global":
            facts = program.modules.get(owner)
            if facts is not None and name in facts.globals:
                return program.where(f"{owner}.<module>"), facts.globals[name]
            return None
        if owner not in program.classes:
            return None
        for cls_name in program.mro(owner):
            module, cls = program.classes[cls_name]
            if name in cls.attrs:
                scope = program.functions.get(f"{module.module}.{cls.attr_scope[name]}")
                return (scope, cls.attrs[name]) if scope is not None else None
        return None

    def _type_of_text(self, scope: Where, text: str) -> str | None:
        program = self.program
        value = program.resolve(scope, text)
        if isinstance(value, (BoundLock, NewLock)):
            return "lock"
        if value is None and text.endswith("()"):
            value = program.resolve(scope, text[:-2])
            if isinstance(value, External):
                return value.name
            if isinstance(value, Class):
                value = Instance(value.qualname, in_tree=True)
        if isinstance(value, Instance):
            if not value.in_tree:
                return value.type
            known = class_names(program, value.type) & _KNOWN_TYPES
            return min(known) if known else value.type
        return None

    def display(self, key: str) -> str:
        """How messages name a variable: ``Cls.attr``, ``NAME``, ``name``."""
        if self.space.get(key) == "closure":
            return key.partition(":")[2]
        parts = key.split(".")
        if self.space.get(key) == "attr":
            return ".".join(parts[-2:])
        return parts[-1]


def _excludes(lock: LockId) -> bool:
    """A lock that gives mutual exclusion (not a semaphore with more than one permit)."""
    return not lock.kind.counting or lock.count == 1


def _after_fork(program: Program, calls: CallGraph) -> set[str]:
    """Functions that run in a child right after ``fork()``, when it has a single thread:
    registered with ``os.register_at_fork(after_in_child=...)``, or re-initialising a lock
    with ``_at_fork_reinit()``."""
    found: set[str] = set()
    names = {name.rpartition(".")[2] for name in AT_FORK}
    for where in calls.functions_calling(last_names=names | {"_at_fork_reinit"}):
        for call, target in calls.resolved(where.qualname):
            last = call.callee.rpartition(".")[2]
            if last == "_at_fork_reinit":
                found.add(where.qualname)
            if last not in names:
                continue
            spec = AT_FORK.get(api_name(call, target) or
                               _module_function(program, where, call.callee))
            if spec is None:
                continue
            keyword, position = spec
            positional = [a for a in call.args if a.keyword is None]
            chosen = [a for a in call.args if a.keyword == keyword]
            if not chosen and position is not None and position < len(positional):
                chosen = [positional[position]]
            for arg in chosen:
                value = program.resolve(where, arg.text) if arg.text else None
                if isinstance(value, Func):
                    found.add(value.qualname)
    return found


def _module_function(program: Program, where: Where, callee: str) -> str:
    """``os.register_at_fork`` when ``os`` is itself analysed (the name comes from C)."""
    receiver, _, name = callee.rpartition(".")
    value = program.resolve(where, receiver) if receiver else None
    return f"{value.name}.{name}" if isinstance(value, Module) else ""


def _init_only(program: Program, calls: CallGraph) -> set[str]:
    """Functions only ever called on ``self`` from ``__init__`` (or from such functions)."""
    candidates = {
        q for q, w in program.functions.items()
        if w.function.cls is not None and w.function.name not in _OWNING
        and q not in calls.referenced and calls.callers(q)
        and all(e.via_self for e in calls.callers(q))
    }
    owned = set(candidates)
    for _ in range(_MAX_ROUNDS):
        removed = {
            q for q in owned
            if not all(program.where(e.caller).function.name in _OWNING or e.caller in owned
                       for e in calls.callers(q))
        }
        if not removed:
            break
        owned -= removed
    return owned
