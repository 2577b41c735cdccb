"""CL3xx: shared state and data races, as queries over thread contexts and resolved accesses.

Two accesses race when they touch the same variable, at least one writes, they run in
contexts that can overlap (two threads, a thread and the main thread, or one entry point
started several times), and no lock is held at both. Main-thread code overlaps a thread
when it runs between the start and the join (in the function that starts it, its callers
after the call, and what they call there); when the owner of the variable (its class, its
module) owns a lock, it is meant to be used from several threads through any of its API,
and any main-thread code not before the start or after the join counts. The variable must
be shared: a module global, closure state handed to a thread, or an attribute of an object
that shows it is meant to be shared (its class starts a thread on itself, owns a lock, is
passed to a thread or held in a global used by one). Single atomic operations (``d[k] = v``,
``append``) only count against a loop over the container or a rebinding of it.

One access gets at most one finding, the most specific: CL306 > CL303/CL304 > CL302 >
CL301; CL305 is about child processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conclint.analyses.context import Analyses
from conclint.analyses.shared_state import SharedState, Use
from conclint.analyses.threads import MAIN, Context, ThreadContexts
from conclint.checks.base import finding, short
from conclint.diagnostics import Finding, Step
from conclint.knowledge_races import (
    ATOMIC_CONTAINER_OPS, ATOMIC_METHODS, PROCESS_SHARED_PREFIXES, SYNCHRONIZED_TYPES,
    THREAD_SAFE_TYPES,
)
from conclint.program.index import Where
from conclint.program.values import BoundLock

_TOLERANT = frozenset({"pop-default", "discard", "setdefault"})
_MAX_USES = 400  # a variable touched in more places than this is left alone (cost bound)
_VERBS = {"read": "read", "iter": "iterated", "write": "assigned", "mutate": "modified",
          "update": "updated"}
_FREE_THREADED = ("; without the GIL (free-threaded CPython) this race is real, not just "
                  "unlikely")


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two uses that can run at the same time: ``first`` in context ``a``, ``other`` in ``b``."""

    first: Use
    a: str
    other: Use
    b: str


class _Races:
    """The shared machinery of the rules: contexts of uses and conflicts between them."""

    def __init__(self, analyses: Analyses) -> None:
        self.program = analyses.program
        self.threads: ThreadContexts = analyses.threads
        self.state: SharedState = analyses.shared_state
        self.free_threaded = analyses.free_threaded
        self.done: set[tuple[str, int, str]] = set()
        self._contexts: dict[tuple[str, bool], dict[str, Context | None]] = {}

    # ------------------------------------------------------------ contexts
    def contexts(self, use: Use, kind: str = "thread") -> dict[str, Context | None]:
        """The contexts of ``kind`` ("thread": threads and main; "process") ``use`` runs in,
        where the variable is shared."""
        attr = self.state.space[use.key] == "attr"
        memo_key = (use.where.qualname, attr)
        found = self._contexts.get(memo_key)
        if found is None:
            found = self._contexts[memo_key] = self.threads.contexts_of(
                use.where.qualname, shared_self=attr)
        if kind == "process":
            return {k: c for k, c in found.items() if c is not None and c.kind == "process"}
        return {k: c for k, c in found.items() if c is None or c.kind == "thread"}

    def shared(self, key: str) -> bool:
        """Whether the variable can be seen by several threads at all."""
        kind = self.state.kind_of(key)
        if kind == "lock" or kind in THREAD_SAFE_TYPES:
            return False
        if self.state.space[key] != "attr":
            return True
        owner = key.rpartition(".")[0]
        mro = self.program.mro(owner)
        return any(c in self.threads.shared_classes or c in self.state.lock_owners for c in mro)

    def atomic(self, use: Use) -> bool:
        """A call of a documented thread-safe method (``deque.append``...)."""
        methods = ATOMIC_METHODS.get(self.state.kind_of(use.key) or "")
        return bool(methods) and use.access.method in methods

    @staticmethod
    def single_op(use: Use) -> bool:
        """One item store or container method call, which the interpreter does atomically."""
        return use.access.kind == "mutate" and use.access.method in ATOMIC_CONTAINER_OPS

    @staticmethod
    def structural(use: Use) -> bool:
        """Changes the container the variable holds (an item, a method), not the variable."""
        return use.access.kind in ("mutate", "update") and use.access.method not in ("", ".")

    def conflict(self, first: Use, other: Use, locks: bool = True) -> Conflict | None:
        """How ``first`` and ``other`` can overlap, if they can."""
        if not (first.writes or other.writes) or first.owned or other.owned:
            return None
        if locks and first.locks & other.locks:
            return None
        for a in self.contexts(first):
            for b in self.contexts(other):
                if self._overlap(first, a, other, b):
                    return Conflict(first, a, other, b)
        return None

    def _overlap(self, u: Use, a: str, v: Use, b: str) -> bool:
        """Whether ``u`` running in context ``a`` can happen while ``v`` runs in ``b``."""
        threads = self.threads
        if self.state.space[u.key] == "closure" and not (
            self.closure_thread(u.key, a) or (a != b and self.closure_thread(u.key, b))
        ):
            return False  # another call of the owner has its own cell
        if a == b:
            attribute = self.state.space[u.key] == "attr"
            return threads.with_itself(a, u.where.qualname, attribute) and \
                threads.with_itself(a, v.where.qualname, attribute)
        if u is v:
            return False
        if MAIN in (a, b):
            main, thread = (u, b) if a == MAIN else (v, a)
            function, loc = main.where.qualname, main.access.loc
            if self.intent(u):  # meant to be shared: any time but before start / after join
                return not threads.ordered(thread, function, loc)
            return threads.overlaps(thread, function, loc)
        if threads.sequential(a, b):
            return False
        return not (threads.ordered(b, u.where.qualname, u.access.loc)
                    or threads.ordered(a, v.where.qualname, v.access.loc))

    def closure_thread(self, key: str, context: str) -> bool:
        """Context ``context`` runs a function nested in the owner of closure variable
        ``key``: only such threads share the owner's cell (each call has its own)."""
        ctx = self.threads.contexts.get(context)
        return ctx is not None and ctx.root.startswith(key.partition(":")[0] + ".")

    def intent(self, use: Use) -> bool:
        """The owner of the variable (its class, module, or the function whose local it is)
        owns a lock: it is meant to be used by several threads, through any of its API."""
        owners = self.state.lock_owners
        space = self.state.space[use.key]
        if space == "attr":
            return any(c in owners for c in self.program.mro(use.key.rpartition(".")[0]))
        if space == "closure":
            return use.key.partition(":")[0] in owners
        return use.where.module.module in owners

    def in_thread(self, use: Use) -> bool:
        return any(k != MAIN for k in self.contexts(use))

    # ------------------------------------------------------------ explaining
    def describe(self, key: str) -> str:
        if key == MAIN:
            return "the main thread"
        ctx = self.threads.contexts[key]
        many = " (several at once)" if ctx.many else ""
        return f"{ctx.kind} `{self.function_name(ctx.root)}()`{many}"

    def function_name(self, qualname: str) -> str:
        """``Cls.method`` / ``func`` / ``outer.inner``: the name within its module."""
        return self.program.where(qualname).function.qualname.replace(".<locals>", "")

    def locks_text(self, use: Use) -> str:
        if not use.locks:
            return "no lock held"
        return "holding " + ", ".join(f"`{short(name)}`" for name in sorted(use.locks))

    def step(self, use: Use, context: str | None, what: str | None = None) -> Step:
        verb = what or _VERBS[use.access.kind]
        where = f" in {self.describe(context)}" if context is not None else ""
        return Step(use.path, use.access.loc,
                    f"`{self.state.display(use.key)}` {verb}{where}, {self.locks_text(use)}")

    def located(self, use: Use) -> list[Step]:
        """The use, in the thread it runs in when one is known, with where that starts."""
        thread = next((k for k in self.contexts(use) if k != MAIN), None)
        if thread is None:
            return [self.step(use, None)]
        return [self.step(use, thread), *self.starts(thread)]

    def starts(self, *keys: str) -> list[Step]:
        steps: list[Step] = []
        for key in dict.fromkeys(keys):
            if key == MAIN:
                continue
            ctx = self.threads.contexts[key]
            name = self.function_name(ctx.root)
            for site in ctx.sites[:2]:
                steps.append(Step(site.path, site.loc,
                                  f"`{name}()` is started here ({site.api.rpartition('.')[2]})"))
        return steps

    def explain(self, conflict: Conflict) -> list[Step]:
        steps = [self.step(conflict.first, conflict.a)]
        if conflict.other is not conflict.first:
            steps.append(self.step(conflict.other, conflict.b))
        return steps + self.starts(conflict.a, conflict.b)

    def claimed(self, use: Use) -> bool:
        """``use`` already has a finding (or is the other half of one)."""
        return (use.path, use.access.loc, use.key) in self.done

    def mark(self, use: Use) -> bool:
        """Claim ``use`` for a finding; False when it already has one."""
        key = (use.path, use.access.loc, use.key)
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def severity(self, code: str) -> str | None:
        return "error" if self.free_threaded and code in ("CL301", "CL303", "CL304") else None

    def gil_note(self) -> str:
        return _FREE_THREADED if self.free_threaded else ""


def race_checks(analyses: Analyses) -> Iterator[Finding]:
    races = _Races(analyses)
    state = races.state
    guards = _guards(analyses, races)
    yield from guards.pop(None, [])  # declarations naming an unknown lock
    for key in sorted(state.uses):
        uses = state.uses[key]
        if len(uses) > _MAX_USES:
            continue
        if key in guards:
            yield from guards[key]
            continue
        if races.shared(key):
            yield from _check_then_act(races, uses)
            yield from _non_atomic_update(races, uses)
            yield from _inconsistent_locking(races, key, uses)
            yield from _unguarded(races, uses)
        yield from _lost_update(races, key, uses)


# ---------------------------------------------------------------- CL306
def _guards(analyses: Analyses, races: _Races) -> dict[str | None, list[Finding]]:
    """CL306 findings by variable (None: declarations naming a lock that is not one)."""
    program, state = analyses.program, races.state
    out: dict[str | None, list[Finding]] = {}
    for facts in program.modules.values():
        for guard in facts.guards:
            scope = program.functions.get(f"{facts.module}.{guard.scope}")
            if scope is None:
                continue
            key = state.key(scope, guard.space, guard.var)
            lock = _guard_lock(analyses, scope, guard.space, guard.var, guard.lock)
            if key is None or lock is None:
                out.setdefault(None, []).append(finding(
                    "CL306", facts.path, guard.loc,
                    f"`guarded-by={guard.lock}` does not name a lock conclint can find "
                    "(a `threading.Lock`/`RLock`/`Condition` attribute or global); the "
                    "declaration is not checked",
                ))
                continue
            found = out.setdefault(key, [])
            for use in state.uses.get(key, []):
                if use.owned or lock in use.locks or (
                    use.path == facts.path and use.access.loc == guard.loc
                ):
                    continue
                if not races.mark(use):
                    continue
                verb = _VERBS[use.access.kind]
                found.append(finding(
                    "CL306", use.path, use.access.loc,
                    f"`{state.display(key)}` is declared `guarded-by={guard.lock}` but is "
                    f"{verb} here without holding `{short(lock)}`",
                    [Step(facts.path, guard.loc, f"declared guarded by `{guard.lock}` here"),
                     *races.located(use)],
                ))
    return out


def _guard_lock(analyses: Analyses, scope: Where, space: str, var: str, text: str) -> str | None:
    """The lock a declaration names: as written, or as an attribute of the object."""
    program = analyses.program
    candidates = [text]
    fn = scope.function
    if space == "attr" and not text.startswith(("self.", "cls.")):
        if fn.cls is not None and fn.params:
            candidates.insert(0, f"{fn.params[0]}.{text}")
        else:
            candidates.insert(0, f"{var.rpartition('.')[0]}.{text}")
    for candidate in candidates:
        value = program.resolve(scope, candidate)
        if isinstance(value, BoundLock):
            return value.lock.name
    return None


# ---------------------------------------------------------------- CL303
def _check_then_act(races: _Races, uses: list[Use]) -> Iterator[Finding]:
    """One finding per test: at the first change that depends on it."""
    state = races.state
    seen: set[tuple[str, int]] = set()
    for use in uses:
        checked = use.access.checked
        if not checked or not use.writes or use.owned or not races.in_thread(use):
            continue
        if (use.where.qualname, checked) in seen:
            races.mark(use)
            continue
        if use.access.method in _TOLERANT:
            continue  # ``pop(k, None)``, ``discard``, ``setdefault``: fine either way
        # the read in the ``if`` test, or the one a tested local was assigned from
        reads = [u for u in uses if u.where is use.where and u.access.loc <= checked
                 and not u.writes]
        test = max(reads, key=lambda u: u.access.loc, default=None)
        if test is None or _held_across(races, test, use):
            continue
        conflict = next((c for v in uses if v.writes
                         for c in [races.conflict(use, v, locks=False)] if c), None)
        if conflict is None or not races.mark(use):
            continue
        seen.add((use.where.qualname, checked))
        name = state.display(use.key)
        related = [races.step(test, conflict.a, "tested"), *races.explain(conflict)]
        other = "another run of it" if conflict.a == conflict.b else races.describe(conflict.b)
        yield finding(
            "CL303", use.path, use.access.loc,
            f"check-then-act on `{name}`: it is tested and then {_VERBS[use.access.kind]} "
            f"in {races.describe(conflict.a)} without a lock held across both; "
            f"{other} can change it in between{races.gil_note()}",
            related, severity=races.severity("CL303"),
        )


def _held_across(races: _Races, test: Use, act: Use) -> bool:
    """A lock taken once and held from the test to the act (or for the whole function)."""
    where = act.where
    if races.state.entry.at_entry(where.qualname):
        return True
    acquired = races.state.held.acquired(where)
    for index in set(test.access.held) & set(act.access.held):
        if acquired[index] or where.function.acquires[index].lock.endswith(".get_lock()"):
            return True
    return False


# ---------------------------------------------------------------- CL304
def _non_atomic_update(races: _Races, uses: list[Use]) -> Iterator[Finding]:
    for use in uses:
        if use.access.kind != "update" or use.owned or use.locks:
            continue
        conflict = next((c for v in uses if v.writes and not races.atomic(v)
                         for c in [races.conflict(use, v)] if c), None)
        if conflict is None or not races.mark(use):
            continue
        name = races.state.display(use.key)
        with_itself = conflict.other is use
        other = "another run of this same line" if with_itself else \
            f"a write in {races.describe(conflict.b)}"
        yield finding(
            "CL304", use.path, use.access.loc,
            f"non-atomic read-modify-write of `{name}` in {races.describe(conflict.a)} "
            f"without a lock: {other} can come in between the read and the write, and an "
            f"update is lost{races.gil_note()}",
            races.explain(conflict), severity=races.severity("CL304"),
        )


# ---------------------------------------------------------------- CL302
def _inconsistent_locking(races: _Races, key: str, uses: list[Use]) -> Iterator[Finding]:
    """Writes without the lock that guards most uses (SpotBugs IS2: the uses under the lock
    must weigh at least two thirds, writes counting double), in the class or module that
    owns the lock."""
    state, program = races.state, races.program
    if state.space[key] == "attr":
        owners = set(program.mro(key.rpartition(".")[0]))
        if any(program.method(c, "acquire") and program.method(c, "release") for c in owners):
            return  # a lock implementation: its state is guarded across acquire/release
    else:
        owners = {key.rpartition(".")[0] if state.space[key] == "global"
                  else key.partition(":")[0]}
    shared = [u for u in uses if not u.owned]
    weights: dict[str, int] = {}
    witness: dict[str, Use] = {}
    for use in shared:
        for lock in use.locks:
            if lock.rpartition(".")[0] in owners:
                weights[lock] = weights.get(lock, 0) + (2 if use.writes else 1)
                if use.writes:
                    witness.setdefault(lock, use)
    total = sum(2 if u.writes else 1 for u in shared)
    if not witness:
        return
    lock = max(sorted(witness), key=lambda name: weights[name])
    if weights[lock] * 3 < total * 2:
        return
    iterated = any(u.access.kind == "iter" and lock in u.locks for u in shared)
    for use in shared:
        if not use.writes or lock in use.locks or races.atomic(use):
            continue
        if races.single_op(use) and not iterated:
            continue  # alone it is atomic; nothing under the lock walks the container
        if not races.mark(use):
            continue
        yield finding(
            "CL302", use.path, use.access.loc,
            f"`{state.display(key)}` is {_VERBS[use.access.kind]} here without "
            f"`{short(lock)}`, which guards it everywhere else; a thread holding the lock "
            "can see it change halfway",
            [*races.located(use), *races.located(witness[lock])],
        )


# ---------------------------------------------------------------- CL301
def _harmful(races: _Races, write: Use, other: Use) -> bool:
    """Races that break even though every single operation is atomic: a container changed
    while another thread iterates it (RuntimeError, skipped or repeated items), or rebound
    while another thread adds to it (the additions land in the old object and are lost)."""
    if races.atomic(write) or races.atomic(other):
        return False
    for a, b in ((write, other), (other, write)):
        if races.structural(a) and b.access.kind in ("iter", "write"):
            return True
    return False


def _unguarded(races: _Races, uses: list[Use]) -> Iterator[Finding]:
    """One finding per racing pair, at the loop that walks the container (where it fails),
    else at the rebinding, else at the change."""
    state = races.state
    order = sorted(uses, key=lambda u: (u.access.kind != "iter", u.access.kind != "write"))
    for use in order:
        if use.owned or (not use.writes and use.access.kind != "iter"):
            continue
        if races.claimed(use):
            continue
        conflict = next((c for v in uses if _harmful(races, use, v) and not races.claimed(v)
                         for c in [races.conflict(use, v)] if c), None)
        if conflict is None or not races.mark(use):
            continue
        races.mark(conflict.other)
        other = conflict.other
        name = state.display(use.key)
        where = f"in {races.describe(conflict.b)}" if other is not use else \
            "by another run of this same code"
        if use.access.kind == "iter":
            what = (f"`{name}` is iterated here in {races.describe(conflict.a)} while it is "
                    f"{_VERBS[other.access.kind]} {where}: the loop can fail (\"changed size "
                    "during iteration\") or skip and repeat items")
        elif use.access.kind == "write":
            what = (f"`{name}` is rebound here in {races.describe(conflict.a)} while it is "
                    f"{_VERBS[other.access.kind]} {where}: what is added to the old object "
                    "after it was taken is lost")
        else:
            what = (f"`{name}` is {_VERBS[use.access.kind]} here in "
                    f"{races.describe(conflict.a)} while it is "
                    f"{_VERBS[other.access.kind]} {where}")
        yield finding(
            "CL301", use.path, use.access.loc,
            f"data race: {what}; no lock is held at both{races.gil_note()}",
            races.explain(conflict), severity=races.severity("CL301"),
        )


# ---------------------------------------------------------------- CL305
def _lost_update(races: _Races, key: str, uses: list[Use]) -> Iterator[Finding]:
    state = races.state
    kind = state.kind_of(key) or ""
    if kind == "lock" or kind.startswith(PROCESS_SHARED_PREFIXES) or kind in SYNCHRONIZED_TYPES:
        return
    if state.space[key] == "attr" and not any(
        c in races.threads.shared_classes for c in races.program.mro(key.rpartition(".")[0])
    ):
        return
    for use in uses:
        if not use.writes or use.owned:
            continue
        children = races.contexts(use, "process")
        if not children:
            continue
        child = next(iter(children))
        reader = next((v for v in uses if v.access.kind != "write"
                       and races.contexts(v) and not races.threads.before_start(
                           child, v.where.qualname, v.access.loc)), None)
        if reader is None or not races.mark(use):
            continue
        name = state.display(key)
        ctx = races.threads.contexts[child]
        yield finding(
            "CL305", use.path, use.access.loc,
            f"`{name}` is {_VERBS[use.access.kind]} in a child process "
            f"(`{races.function_name(ctx.root)}()`), but the parent reads its own "
            "copy: the change never reaches it (return the value, or use a Queue, a Manager "
            "or shared memory)",
            [Step(use.path, use.access.loc, f"`{name}` {_VERBS[use.access.kind]} in the child"),
             Step(reader.path, reader.access.loc, f"`{name}` read in the parent"),
             *races.starts(child)],
        )


CHECKS = (
    (("CL301", "CL302", "CL303", "CL304", "CL305", "CL306"), race_checks),
)
