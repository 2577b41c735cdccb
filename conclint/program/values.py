"""What a piece of dotted text can stand for once names are resolved.

Values are compared and hashed by their fields and never changed. The ones built by the
ten thousand (one per name resolved) are not frozen dataclasses, only by convention
read-only: a frozen dataclass's constructor sets each field through
``object.__setattr__``, three times the cost of a plain one.
"""

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


@dataclass(slots=True, unsafe_hash=True)
class Module:
    name: str


@dataclass(slots=True, unsafe_hash=True)
class Func:
    qualname: str  # fully qualified: "pkg.mod.Cache.get"


@dataclass(slots=True, unsafe_hash=True)
class Class:
    qualname: str


@dataclass(slots=True, unsafe_hash=True)
class Instance:
    """An object of an analysed class (``cls``) or of a known external type (``type``)."""

    type: str
    in_tree: bool
    via_self: bool = False  # reached through the method's own ``self``


@dataclass(slots=True, unsafe_hash=True)
class External:
    """A name outside the analysed code, canonical (``time.sleep``, ``threading.Lock``)."""

    name: str


@dataclass(frozen=True, slots=True)
class NewLock:
    """A lock created right here and not (yet) bound to a name."""

    kind: LockKind
    count: int | None


@dataclass(slots=True, unsafe_hash=True)
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
