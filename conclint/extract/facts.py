"""Plain, picklable facts about one module: the only output of the per-file extraction.

Nothing here holds a syntax-tree node. Expressions are kept as *dotted text*
(``self._lock``, ``threading.Lock()``, ``ctx.Process``): names and attributes joined
by dots, a call written as ``()`` and a subscript as ``[]``. The whole-program phase
resolves that text through the module's imports, the function's locals and the
classes' attributes.

The walker fills lists, dicts and sets; ``compact`` then freezes them (tuples, sorted
tuples for sets, ``EMPTY_MAP``), hence the read-only ``Sequence``/``Mapping``/``Collection``
annotations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field


class _EmptyMap(dict):  # type: ignore[type-arg]
    """The one empty mapping of compacted facts (see ``compact``): shared, so it refuses
    changes, and pickled as a reference to itself, so loading facts never copies it."""

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("facts are read-only once extracted")

    __setitem__ = __delitem__ = setdefault = update = pop = popitem = clear = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> str:
        return "EMPTY_MAP"


EMPTY_MAP: Mapping = _EmptyMap()


class _Fact:
    """Pickled as a call of its constructor with the field values: loading the facts of a
    whole tree is then mostly C code (the default for slotted dataclasses passes a dict of
    field names per object, and frozen ones add a Python-level ``__setstate__``).

    Facts are read-only once extracted, by convention: the classes loaded by the hundred
    thousand (``Arg``, ``Branch``) are not frozen, because a frozen dataclass's constructor
    sets each field through ``object.__setattr__``, three times the cost of a plain one."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), tuple([getattr(self, name) for name in self.__slots__])


@dataclass(frozen=True, slots=True)
class Span(_Fact):
    """A source range; lines and columns are 1-based, the end column is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


# A location: the ordinal of a node in the walker's source-ordered, pre-order numbering.
# Ordinals compare like source positions within a file; ``conclint.locate`` turns the few
# that end up in a report into ``Span``s, so extraction never computes positions.
Loc = int


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see ``_Fact``
class Arg(_Fact):
    """One argument of a call as the analyses need it."""

    keyword: str | None
    text: str | None  # dotted text of the value, None when it is not a name/attribute/call chain
    kind: str  # "name" | "call" | "lambda" | "const" | "starred" | "other"
    const: object = None  # the value of a literal int/float/str/bool/None
    items: tuple[str | None, ...] = ()  # dotted text of the elements of a tuple/list literal


@dataclass(slots=True)
class Call(_Fact):
    """A call site. ``held`` lists indices into the function's ``acquires`` held here."""

    callee: str  # dotted text, "" when the callee is not a dotted chain
    loc: Loc
    held: tuple[int, ...]
    args: tuple[Arg, ...]
    loop: str | None  # innermost enclosing loop in this function: "while" | "for" | None
    awaited: bool = False
    discarded: bool = False  # an expression statement: the result is dropped
    target: str | None = None  # dotted text of the name/attribute the result is assigned to
    in_test: bool = False  # part of an ``if``/``while`` test
    sink: str | None = None  # where the result flows, beyond ``target`` (see ``Function.uses``)


@dataclass(slots=True)
class Acquire(_Fact):
    """A lock-like acquisition: a ``with`` item or an ``acquire()`` call."""

    lock: str  # dotted text of the context expression / receiver
    loc: Loc
    held: tuple[int, ...]  # acquisitions already held (indices into the same list)
    kind: str  # "with" | "async-with" | "acquire" | "try-acquire"
    # A manual acquire that this function releases later: the lock is used as a mutex here.
    # One never released here is handed off (a signal, or a wrapper like ``__enter__``).
    paired: bool = False
    end: Loc = 0  # a ``with``: the last ordinal inside its body (where the block is left)

    @property
    def structured(self) -> bool:
        """Held like a mutex: by ``with``, or by ``acquire()`` with a later ``release()``."""
        return self.kind in ("with", "async-with") or self.paired


@dataclass(frozen=True, slots=True)
class ReleaseIssue(_Fact):
    """An ``acquire()`` whose ``release()`` is not guaranteed (found by the flow check)."""

    lock: str
    loc: Loc
    reason: str
    related: Loc | None = None


# The test of an ``if``/``while``, reduced to what rank and flow analyses need: a small tree
# of tuples. ("and"|"or", a, b), ("not", a), ("cmp", op, left, right), and the terms
# ("atom", dotted text, string constants inside it), ("const", value),
# ("consts", values of a literal tuple/list/set), ("?",) for anything else.
Test = tuple


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see ``_Fact``
class Branch(_Fact):
    """A point where control splits, with the ordinal ranges of its arms.

    Every node numbered while its arm was walked has an ordinal in ``(start, end]``.
    ``kind``: "if", "while", "for", "except" (a handler), "finally", "case".
    """

    kind: str
    loc: Loc
    test: Test | None
    body: tuple[Loc, Loc]
    orelse: tuple[Loc, Loc] | None = None


@dataclass(slots=True)
class Access(_Fact):
    """A use of possibly shared state inside a function, for the race rules.

    Only three kinds of variable are recorded: an attribute of the method's own receiver
    (``self.x``/``cls.x``, also from a nested function or lambda that closes over it), a
    module-level name of this module, and a local of an enclosing function captured by a
    nested one (closure state). ``space`` says which; ``var`` names it: "Cls.attr" with the
    class qualname, the global's name, or "<owner qualname>:<name>".
    """

    space: str  # "attr" | "global" | "closure"
    var: str
    # "read" | "iter" (iterated by a for loop or comprehension) | "write" (rebound or deleted)
    # | "mutate" (item/attribute store, ``del x[k]``, a mutating method) | "update" (a
    # read-modify-write: ``x += 1``, ``d[k] = d.get(k, 0) + 1``, ``self.n = self.n + 1``)
    kind: str
    loc: Loc  # the statement (or lambda) it is part of
    held: tuple[int, ...]
    method: str = ""  # a mutation: the method called ("append"...), "[]" item, "." attribute
    checked: Loc = 0  # a write under (or after the early exit of) an ``if`` testing the same
    # variable: that ``if`` statement's ordinal (check-then-act)


@dataclass(frozen=True, slots=True)
class Guard(_Fact):
    """A ``# conclint: guarded-by=<lock>`` declaration on an assignment."""

    space: str  # "attr" | "global"
    var: str  # as in ``Access.var``
    lock: str  # dotted text of the lock as written
    loc: Loc
    scope: str  # qualname of the function the declaration is in ("<module>" at top level)


@dataclass(slots=True)
class Function(_Fact):
    """A function, method, lambda, or the module's top-level code (``<module>``)."""

    qualname: str  # within the module: "Cache.get", "main.<locals>.worker", "f.<lambda:12>"
    name: str
    cls: str | None  # qualname of the class for methods
    params: tuple[str, ...]
    decorators: tuple[str, ...]
    is_async: bool
    loc: Loc
    calls: Sequence[Call] = field(default_factory=list)
    acquires: Sequence[Acquire] = field(default_factory=list)
    locals: Mapping[str, str] = field(default_factory=dict)  # name -> dotted text of its value
    local_locs: Mapping[str, Loc] = field(default_factory=dict)
    nested: Mapping[str, str] = field(default_factory=dict)  # local def name -> its qualname
    escaping: Collection[str] = field(default_factory=set)  # call-bound locals used other than as a lock
    leaves_held: tuple[int, ...] = ()  # manual acquisitions still held when it returns
    yield_held: tuple[int, ...] = ()  # acquisitions held at its first ``yield``
    release_issues: Sequence[ReleaseIssue] = field(default_factory=list)
    # Suspension points other than awaited calls (``await fut``, ``async for``), each with
    # the acquisitions held there (awaited calls are ``Call``s with ``awaited``).
    suspends: Sequence[tuple[Loc, tuple[int, ...]]] = field(default_factory=list)
    branches: Sequence[Branch] = field(default_factory=list)  # in source order
    exits: Sequence[tuple[Loc, str]] = field(default_factory=list)  # return/raise/break/continue
    # Where parameters, assigned names and ``self.x`` are used *as values* (not as receivers):
    # "=T" assigned to T, "[T" element of a container assigned to T, "(N" argument of the call
    # at ordinal N, "return", "yield", "with", "for:N" iterated by the loop at N, "^" used by a
    # nested function, "global" declared global/nonlocal, "?" any other flow.
    uses: Mapping[str, Collection[str]] = field(default_factory=dict)
    loop_vars: Sequence[tuple[str, str, Loc]] = field(default_factory=list)  # (target, container, loop)
    loop_spans: Sequence[tuple[Loc, Loc]] = field(default_factory=list)  # (first, last) of loops
    attr_sets: Mapping[str, str] = field(default_factory=dict)  # "t.daemon" -> value (not on self)
    catches_all: bool = False  # the whole body is one ``try`` with an ``except Exception:``
    # ``if`` statements whose branches exclude each other: (first, body's last, last) ordinals;
    # "last" is a huge number when the body cannot fall through (return/raise/break).
    exclusive_ifs: Sequence[tuple[Loc, Loc, Loc]] = field(default_factory=list)
    accesses: Sequence[Access] = field(default_factory=list)
    # ordinal ranges [start, end) of statements right before a ``return``/``raise`` of the
    # same block: a call there is the last thing the function does on that path
    tails: Sequence[tuple[Loc, Loc]] = field(default_factory=list)


@dataclass(slots=True)
class ClassDef(_Fact):
    """A class: its bases and the values assigned to its attributes (class body or ``self.x``)."""

    qualname: str
    name: str
    bases: tuple[str, ...]
    loc: Loc
    attrs: Mapping[str, str] = field(default_factory=dict)  # attribute -> dotted text of the value
    attr_scope: Mapping[str, str] = field(default_factory=dict)  # attribute -> function qualname it was set in
    attr_locs: Mapping[str, Loc] = field(default_factory=dict)


@dataclass(slots=True)
class ModuleFacts(_Fact):
    """Everything the whole-program phase needs to know about one file."""

    path: str
    module: str
    is_package: bool = False
    imports: Mapping[str, str] = field(default_factory=dict)  # local alias -> qualified name
    globals: Mapping[str, str] = field(default_factory=dict)  # module-level name -> dotted value text
    global_locs: Mapping[str, Loc] = field(default_factory=dict)
    functions: Sequence[Function] = field(default_factory=list)
    classes: Sequence[ClassDef] = field(default_factory=list)
    star_imports: Sequence[str] = field(default_factory=list)  # ``from pkg.mod import *``: "pkg.mod"
    main_guards: Sequence[tuple[Loc, Loc]] = field(default_factory=list)  # ``if __name__ == "__main__":``
    guards: Sequence[Guard] = field(default_factory=list)
    # The last names of its callees and arguments, its import aliases and the last names
    # they import: what decides which call sites the call graph resolves (``extract.names``).
    names: Collection[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class FileError(_Fact):
    """Why a file yielded no facts. ``kind``: "parse" (cannot be read, decoded or parsed:
    CL001), "timeout" (over the time limit: CL001), "internal" (an exception in conclint:
    CL002) or "crash" (the worker process died: CL002). Only "parse" depends on nothing but
    the file's bytes, so only it is cached."""

    path: str
    kind: str
    message: str
    line: int = 1
    column: int = 1
    detail: str = ""  # a traceback, shown only under --verbose


ExtractResult = ModuleFacts | FileError
