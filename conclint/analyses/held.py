"""Which abstract locks each acquisition takes, and which locks are held at each call.

An acquisition's text resolves to named locks directly (``self._lock``), through a
``@contextmanager`` wrapper whose ``yield`` sits inside a ``with lock:``, through a class
whose ``__enter__``/``acquire`` leaves a lock held, or through a parameter whose
callers pass a lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from conclint.analyses.calls import CallGraph
from conclint.extract.facts import Acquire
from conclint.program.index import Program, Where, split
from conclint.program.values import BoundLock, Func, Instance, LockId, Param, Value

_WRAPPER_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Held:
    """A lock taken by an acquisition; ``exact`` when it is surely the same object at every use."""

    lock: LockId
    exact: bool


class HeldLocks:
    """Resolved acquisitions of every function, computed once."""

    def __init__(self, program: Program, calls: CallGraph) -> None:
        self.program = program
        self.calls = calls
        self._by_function: dict[str, list[list[Held]]] = {}
        self.locks: dict[str, LockId] = {}
        self._param_memo: dict[tuple[Param, int], list[Held]] = {}

    def acquired(self, where: Where) -> list[list[Held]]:
        """For each of the function's acquisitions, the locks it takes."""
        cached = self._by_function.get(where.qualname)
        if cached is None:
            cached = [self._resolve_acquire(where, a, 0) for a in where.function.acquires]
            self._by_function[where.qualname] = cached
            for held in cached:
                for item in held:
                    self.locks.setdefault(item.lock.name, item.lock)
        return cached

    def held_at(self, where: Where, indices: tuple[int, ...]) -> list[tuple[int, Held]]:
        """The locks held at a point, with the index of the acquisition that took each."""
        acquired = self.acquired(where)
        return [(i, held) for i in indices for held in acquired[i]]

    def resolve_text(self, where: Where, text: str, kind: str, depth: int = 0) -> list[Held]:
        value = self.program.resolve(where, text)
        return self._from_value(where, value, text, kind, depth)

    def _resolve_acquire(self, where: Where, acquire: Acquire, depth: int) -> list[Held]:
        kind = "enter" if acquire.kind in ("with", "async-with") else "acquire"
        return self.resolve_text(where, acquire.lock, kind, depth)

    def _from_value(
        self, where: Where, value: Value | None, text: str, kind: str, depth: int
    ) -> list[Held]:
        if isinstance(value, BoundLock):
            return [Held(value.lock, value.exact)]
        if depth >= _WRAPPER_DEPTH:
            return []
        if value is None and text.endswith("()"):
            callee = self.program.resolve(where, text[:-2])
            if isinstance(callee, Func):
                via_self = split(text)[0] == _self_name(where)
                return self._wrapper_locks(callee.qualname, "yield", via_self, depth)
        if isinstance(value, Instance) and value.in_tree:
            method = self.program.method(value.type, "__enter__" if kind == "enter" else "acquire")
            if method is not None:
                return self._wrapper_locks(method, "leave", value.via_self, depth)
        if isinstance(value, Param):
            return self._param_locks(value, depth)
        return []

    def _wrapper_locks(self, qualname: str, how: str, via_self: bool, depth: int) -> list[Held]:
        """Locks a wrapper holds at its ``yield`` (context manager) or on return."""
        where = self.program.where(qualname)
        fn = where.function
        if how == "yield" and not any(d.endswith("contextmanager") for d in fn.decorators):
            return []
        indices = fn.yield_held if how == "yield" else fn.leaves_held
        out: list[Held] = []
        for index in indices:
            for held in self._resolve_acquire(where, fn.acquires[index], depth + 1):
                exact = held.exact and (via_self or not held.lock.per_instance)
                out.append(Held(held.lock, exact))
        return out

    def _param_locks(self, param: Param, depth: int) -> list[Held]:
        """A lock parameter is the locks its analysed callers pass in that position.

        Memoised by depth: a lock handed down through layers of callers would otherwise be
        resolved once per path, exponentially many."""
        key = (param, depth)
        found = self._param_memo.get(key)
        if found is None:
            found = self._param_memo[key] = self._callers_pass(param, depth)
        return found

    def _callers_pass(self, param: Param, depth: int) -> list[Held]:
        where = self.program.where(param.function)
        fn = where.function
        offset = 1 if fn.cls is not None and "staticmethod" not in fn.decorators else 0
        name = fn.params[param.index]
        out: list[Held] = []
        for edge in self.calls.callers(param.function):
            caller = self.program.where(edge.caller)
            positional = [a for a in edge.call.args if a.keyword is None and a.kind != "starred"]
            arg = next((a for a in edge.call.args if a.keyword == name), None)
            if arg is None and 0 <= param.index - offset < len(positional):
                arg = positional[param.index - offset]
            if arg is None or arg.text is None:
                continue
            for held in self.resolve_text(caller, arg.text, "enter", depth + 1):
                if held not in out:
                    out.append(Held(held.lock, held.exact and not held.lock.per_instance))
        return out


def _self_name(where: Where) -> str | None:
    fn = where.function
    return fn.params[0] if fn.cls is not None and fn.params else None
