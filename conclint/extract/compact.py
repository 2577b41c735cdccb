"""Shrink a module's facts once the walk is done, before they leave the worker.

The parent process holds the facts of every file at once, so their size is conclint's
peak memory on a big tree. The walker builds them with growable lists, dicts and sets;
most of those stay empty (a typical function has no acquisitions, no loops, no nested
functions), and the same strings (``self``, ``threading.Lock``, a callee's name) recur
all over a file. Here every list becomes a tuple (the empty tuple is one shared object),
every empty dict becomes the shared ``EMPTY_MAP``, sets become sorted tuples, and equal
strings, arguments and tuples of them within one file become one object, which pickle then
writes once and loads once. The result is read-only: a stray mutation by an analysis
raises instead of leaking into another function's facts.
"""

from __future__ import annotations

import dataclasses

from conclint.extract import facts as facts_module
from conclint.extract.facts import EMPTY_MAP, Arg, ModuleFacts

_ATOMS = frozenset({type(None), bool, int, float, complex, bytes})
_SHAREABLE = frozenset({str, int, Arg})
_FACTS = frozenset(
    value for value in vars(facts_module).values()
    if isinstance(value, type) and dataclasses.is_dataclass(value))


class _Compactor:
    """Rebuilds values bottom-up, sharing equal immutable ones through ``self._shared``."""

    def __init__(self) -> None:
        # Keys carry the element types: (1, 2) and (True, 2) are equal but must stay apart.
        self._shared: dict[object, object] = {}

    def value(self, value: object) -> object:
        kind = type(value)
        if kind is str:
            return self._shared.setdefault(value, value)
        if kind in _ATOMS:
            return value
        if kind is list or kind is tuple:
            return self._tuple(tuple(map(self.value, value)))  # type: ignore[call-overload]
        if kind is dict:
            if not value:
                return EMPTY_MAP
            return {self.value(k): self.value(v) for k, v in value.items()}  # type: ignore[union-attr]
        if kind is set or kind is frozenset:  # sets of names or flow sinks: sorted, like text
            return self._tuple(tuple(sorted(map(self.value, value))))  # type: ignore[call-overload]
        if kind is Arg:
            return self._arg(value)  # type: ignore[arg-type]
        if kind in _FACTS:
            self.fields(value)
        return value

    def fields(self, obj: object) -> None:
        """Compact the fields of a fact object in place (frozen ones too: not shared yet)."""
        shared = self._shared
        for name in obj.__slots__:  # type: ignore[attr-defined]
            old = getattr(obj, name)
            kind = type(old)
            if kind in _ATOMS:
                continue
            new = shared.setdefault(old, old) if kind is str else self.value(old)
            if new is not old:
                object.__setattr__(obj, name, new)

    def _tuple(self, items: tuple[object, ...]) -> tuple[object, ...]:
        """One object for equal tuples of strings, ints and (already shared) arguments."""
        if not items:
            return ()
        kinds = tuple(map(type, items))
        if not _SHAREABLE.issuperset(kinds):
            return items
        key = (kinds, tuple(id(v) if type(v) is Arg else v for v in items))
        return self._shared.setdefault(key, items)  # type: ignore[return-value]

    def _arg(self, arg: Arg) -> Arg:
        self.fields(arg)
        const = arg.const
        # float: 0.0 == -0.0, and nan equals nothing; the text keeps them apart and findable.
        key = (Arg, arg.keyword, arg.text, arg.kind, type(const),
               repr(const) if type(const) is float else const, arg.items)
        try:
            return self._shared.setdefault(key, arg)  # type: ignore[return-value]
        except TypeError:  # an unhashable constant: keep this argument as it is
            return arg


def compact(facts: ModuleFacts) -> ModuleFacts:
    """The same facts, read-only and with equal parts shared (see the module docstring)."""
    _Compactor().fields(facts)
    return facts
