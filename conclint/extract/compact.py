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
_FACTS = {value.__name__: value for value in vars(facts_module).values()
          if isinstance(value, type) and dataclasses.is_dataclass(value)}

# How to compact a field, by its annotation (anything else takes the general way).
_SKIP, _STR, _STRS, _INTS, _FACT_LIST, _ARGS, _STR_MAP, _NAME_MAP = range(8)
_BY_ANNOTATION = {
    "Loc": _SKIP, "Loc | None": _SKIP, "int": _SKIP, "bool": _SKIP,
    "str": _STR, "str | None": _STR,
    "tuple[str, ...]": _STRS, "tuple[str | None, ...]": _STRS, "Sequence[str]": _STRS,
    "Collection[str]": _STRS,
    "tuple[int, ...]": _INTS, "tuple[Loc, Loc]": _INTS, "tuple[Loc, Loc] | None": _INTS,
    "tuple[Arg, ...]": _ARGS,
    "Mapping[str, str]": _STR_MAP, "Mapping[str, Loc]": _NAME_MAP,
    **{f"Sequence[{name}]": _FACT_LIST for name in _FACTS},
}
_GENERAL = -1
_NAMES, _INT, _ARG = frozenset({str, type(None)}), frozenset({int}), frozenset({Arg})


def _plan(cls: type) -> tuple[tuple[str, int], ...]:
    """The fields of a fact class that may need compacting, each with how."""
    plan = ((f.name, _BY_ANNOTATION.get(f.type, _GENERAL))  # type: ignore[arg-type]
            for f in dataclasses.fields(cls))
    return tuple((name, how) for name, how in plan if how != _SKIP)


_PLANS = {cls: _plan(cls) for cls in _FACTS.values()}


class _Compactor:
    """Rebuilds values bottom-up, sharing equal immutable ones through ``self._shared``.

    Fact fields go by their annotation (``_PLANS``), so the common shapes (a string, a
    tuple of names, a list of calls) take a direct path; a value of another shape than
    annotated, and every other field, take the general one (``value``)."""

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
        if kind in _PLANS:
            self.fields(value)
        return value

    def fields(self, obj: object) -> None:
        """Compact the fields of a fact object in place (frozen ones too: not shared yet)."""
        shared = self._shared
        for name, how in _PLANS[type(obj)]:
            old = getattr(obj, name)
            kind = type(old)
            if kind is str:
                new = shared.setdefault(old, old)
            elif kind in _ATOMS:
                continue
            elif not old and (kind is list or kind is tuple):
                new = ()
            elif how == _FACT_LIST and kind is list and _PLANS.keys() >= set(map(type, old)):
                new = tuple(old)
                for fact in new:
                    self.fields(fact)
            elif how == _STRS and (kind is list or kind is tuple) \
                    and _NAMES.issuperset(map(type, old)):
                new = self._tuple(tuple([s if s is None else shared.setdefault(s, s)
                                         for s in old]))
            elif how == _INTS and kind is tuple and _INT.issuperset(map(type, old)):
                new = self._tuple(old)
            elif how == _ARGS and kind is tuple and _ARG.issuperset(map(type, old)):
                new = self._tuple(tuple(map(self._arg, old)))
            elif how == _STR_MAP and kind is dict and old:
                new = {shared.setdefault(k, k): shared.setdefault(v, v) if type(v) is str
                       else self.value(v) for k, v in old.items()}
            elif how == _NAME_MAP and kind is dict and old:
                new = {shared.setdefault(k, k): v if type(v) is int else self.value(v)
                       for k, v in old.items()}
            else:
                new = self.value(old)
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
