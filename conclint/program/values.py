"""What a piece of dotted text can stand for once names are resolved."""

from __future__ import annotations

from dataclasses import dataclass

from conclint.knowledge import LockKind


@dataclass(frozen=True, slots=True)
class LockId:
    """An abstract lock, named by where it is created (all instances of a class folded)."""

    name: str  # "pkg.mod._LOCK", "pkg.mod.Cache._lock", "pkg.mod.func.lock"
    kind: LockKind
    path: str
    loc: int  # where it is created (an ordinal; ``conclint.locate`` gives the line)
    per_instance: bool  # an instance attribute: one lock per object, folded here
    count: int | None = None  # a semaphore's initial value when it is a literal


@dataclass(frozen=True, slots=True)
class Module:
    name: str


@dataclass(frozen=True, slots=True)
class Func:
    qualname: str  # fully qualified: "pkg.mod.Cache.get"


@dataclass(frozen=True, slots=True)
class Class:
    qualname: str


@dataclass(frozen=True, slots=True)
class Instance:
    """An object of an analysed class (``cls``) or of a known external type (``type``)."""

    type: str
    in_tree: bool
    via_self: bool = False  # reached through the method's own ``self``


@dataclass(frozen=True, slots=True)
class External:
    """A name outside the analysed code, canonical (``time.sleep``, ``threading.Lock``)."""

    name: str


@dataclass(frozen=True, slots=True)
class NewLock:
    """A lock created right here and not (yet) bound to a name."""

    kind: LockKind
    count: int | None


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter of an analysed function (index into its ``params``)."""

    function: str
    index: int


@dataclass(frozen=True, slots=True)
class BoundLock:
    """A named lock; ``exact`` when every use names the same object (global, via self)."""

    lock: LockId
    exact: bool


Value = Module | Func | Class | Instance | External | NewLock | Param | BoundLock
