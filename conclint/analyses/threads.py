"""Execution contexts: which functions can run on which thread, or in a child process.

A context is started by a *site*: ``Thread(target=f)``, ``Timer``, an executor's
``submit``/``map``, a thread pool's methods, ``loop.run_in_executor``, ``asyncio.to_thread``,
``Future.add_done_callback`` (threads); ``Process(target=f)``, a process pool, a DataLoader
with workers (child processes); or the construction of a ``Thread``/``Process`` subclass
whose ``run`` is analysed. Every function reachable from the started callable runs in that
context. Everything reachable from a function nobody in the analysed code calls (module
code, ``main``, public API, ``atexit``/``signal`` handlers, callbacks of unknown APIs) runs
in the main context. A context started in a loop, by a ``map``, or from several sites runs
concurrently with itself.

Reachability also tracks whose ``self`` a method works on: an object created in the
context itself (``h = Handler(); h.handle()``, a constructor) is fresh, no other thread
sees it; a module-level object is the same one in every run ("global"); the receiver the
context was started on is shared with the starter, and with the other runs when they are
all started on it ("root"); an object that came in as an argument is shared with whoever
passed it, but is not known to be the same in every run ("param").

Order: within the function that starts a context, what runs before the start, or after
the join (``t.join()``, ``executor.shutdown()``, the end of ``with executor:``, a blocking
``pool.map``, an awaited ``to_thread``), does not run concurrently with it; the same holds
in its callers around the call, in functions called only from such ordered points, and in
another method of the class after it joins the thread kept in an attribute
(``close()``: ``self._thread.join()``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from conclint.analyses.calls import CallGraph, Edge
from conclint.extract.facts import Arg, Call
from conclint.knowledge import canonical
from conclint.knowledge_races import (
    DATA_LOADERS, DATASET_CLASSES, DATASET_WORKER_METHODS, JOIN_METHODS, JOINS,
    LOADER_WORKER_CALLBACKS, PROCESS_CLASSES, PROCESS_STARTERS, THREAD_CLASSES,
    THREAD_STARTERS, Starter,
)
from conclint.program.index import CallTarget, Program, Where, split
from conclint.program.values import Class, Func, Instance

MAIN = "<main>"
FRESH, PARAM, ROOT, GLOBAL = "fresh", "param", "root", "global"  # whose ``self`` (see above)
_NO_STATES: frozenset[str] = frozenset()


@functools.cache
def _with_state(states: frozenset[str], state: str) -> frozenset[str]:
    """``states`` plus ``state``: one shared set per combination of the four kinds (the
    reach table has an entry per function and context)."""
    return states | {state}
_CALLER_DEPTH = 3  # how far up the callers a start or a join is followed
_ORDER_DEPTH = 4

Interval = tuple[int, int | None]  # (start, join) ordinals in one function; None: never joined


@dataclass(frozen=True, slots=True)
class Site:
    """One place that starts a context."""

    spawner: str  # qualified name of the function making the call
    path: str
    loc: int
    api: str  # what starts it: "threading.Thread", "DataLoader workers", a subclass name
    spec: Starter | None  # how the call passes the callable and its arguments
    bound: bool  # the callable is a method bound to an object (its ``self`` is not passed)
    many: bool  # this site starts several concurrent runs (a loop, a ``map``)
    self_many: bool  # ... all on the same receiver object
    join: int | None  # ordinal in the spawner after which every run has finished
    handle: str | None  # the name the thread/future is assigned to
    waited: bool = False  # the spawner waits for the run right there (``submit(f).result()``)


@dataclass
class Context:
    """A thread or child-process entry point and the sites that start it."""

    root: str  # qualified name of the function that runs first
    kind: str  # "thread" | "process"
    sites: list[Site] = field(default_factory=list)

    @property
    def many(self) -> bool:
        """Runs concurrently with itself: a site starts several runs, or several sites
        start runs that they do not wait for on the spot."""
        return any(s.many for s in self.sites) or sum(not s.waited for s in self.sites) > 1

    @property
    def self_many(self) -> bool:
        """Runs concurrently with itself on one and the same receiver object."""
        return any(s.self_many for s in self.sites)


class ThreadContexts:
    """Contexts, what runs in each (with whether ``self`` is shared), and their ordering."""

    def __init__(self, program: Program, calls: CallGraph) -> None:
        self.program = program
        self.calls = calls
        self.contexts: dict[str, Context] = {}
        self.shared_classes: set[str] = set()  # classes whose objects are handed to threads
        self._escaped: dict[str, set[str]] = {}  # function -> locals handed to a context
        self._thread_classes: dict[str, tuple[str, str]] = {}  # class -> (run, kind)
        # method -> the methods overriding it in subclasses (a call may run any of them)
        self._overrides: dict[str, list[str]] = {}
        self._overriding: set[str] = set()  # overrides of a method a context runs
        self._datasets: set[str] = set()  # classes deriving from a Dataset
        self._loaders: list[tuple[Where, Call]] = []  # DataLoader calls with worker processes
        self._find_overrides()
        self._find_subclasses()
        subclass_names = frozenset(q.rpartition(".")[2] for q in self._thread_classes)
        starters = {*DATA_LOADERS, *THREAD_STARTERS, *PROCESS_STARTERS}
        for where in calls.functions_calling(starters, subclass_names):
            self._find_sites(where, subclass_names)
        self._find_loaders()
        # function -> context -> the kinds of ``self`` it is reached with
        self.reach: dict[str, dict[str, frozenset[str]]] = {}
        self._members: dict[str, set[str]] = {}  # context -> the functions it reaches
        for ctx in self.contexts.values():
            self._visit(ctx.root, [(ctx.root, ROOT)])
        # overrides of what a thread or child process runs: reached from there, not roots
        self._overriding = {
            override for method, overrides in self._overrides.items()
            if set(self.reach.get(method, ())) - {MAIN} for override in overrides
        }
        roots = [
            q for q in program.functions
            if not calls.callers(q) and q not in self.contexts and q not in self._overriding
        ]
        self._visit(MAIN, [(q, ROOT) for q in roots])
        # Most functions are reached alike (from the main context, with its ``self``): one
        # table for all of those instead of one each.
        tables: dict[tuple[tuple[str, frozenset[str]], ...], dict[str, frozenset[str]]] = {}
        for function, contexts in self.reach.items():
            self.reach[function] = tables.setdefault(tuple(contexts.items()), contexts)
        self._intervals: dict[str, dict[str, list[Interval]]] = {}
        self._joined: dict[str, dict[str, int]] = {}  # context -> function -> join ordinal
        self._methods_memo: dict[tuple[str, str], list[Where]] | None = None
        for key, ctx in self.contexts.items():
            self._intervals[key] = self._lifetimes(ctx)
            self._joined[key] = self._handle_joins(ctx)
        self._ordered_memo: dict[tuple[str, str], bool] = {}
        self._region_memo: dict[str, set[str]] = {}

    # ------------------------------------------------------------ queries
    def contexts_of(self, function: str, shared_self: bool = False) -> dict[str, Context | None]:
        """The contexts ``function`` may run in (``MAIN`` maps to None); with
        ``shared_self``, only those where its ``self`` may be seen by other threads."""
        out: dict[str, Context | None] = {}
        for key, selves in self.reach.get(function, {}).items():
            if shared_self and selves == {FRESH}:
                continue
            out[key] = self.contexts.get(key)
        return out

    def with_itself(self, key: str, function: str, attribute: bool) -> bool:
        """Whether ``function`` can run in two runs of context ``key`` at once, on the same
        data: any two runs for globals, the same ``self`` for an attribute."""
        ctx = self.contexts.get(key)
        if ctx is None:
            return False
        if not attribute:
            return ctx.many
        selves = self.reach.get(function, {}).get(key, set())
        return (GLOBAL in selves and ctx.many) or (ROOT in selves and ctx.self_many)

    def ordered(self, key: str, function: str, loc: int) -> bool:
        """Whether the code at ``loc`` in ``function`` runs surely before context ``key``
        starts or after it has finished (program order in the starting function)."""
        if key == MAIN or key not in self._intervals:
            return False
        return self._ordered_at(key, function, loc, 0)

    def overlaps(self, key: str, function: str, loc: int) -> bool:
        """Whether the code at ``loc`` in ``function`` surely runs while context ``key`` may
        be running: after the start and before the join in the function that starts it, after
        the call in a caller (when it is not joined), or in anything called from there."""
        intervals = self._intervals.get(key, {}).get(function)
        if intervals and any(start < loc and (end is None or loc < end)
                             for start, end in intervals):
            return True
        return function in self._region(key)

    def _region(self, key: str) -> set[str]:
        """The functions called while context ``key`` runs, from where it was started."""
        found = self._region_memo.get(key)
        if found is not None:
            return found
        pending: list[str] = []
        for function, intervals in self._intervals.get(key, {}).items():
            for edge in self.calls.out_edges.get(function, []):
                loc = edge.call.loc
                if any(start < loc and (end is None or loc < end) for start, end in intervals):
                    pending.append(edge.callee)
        found = set()
        while pending:
            function = pending.pop()
            if function not in found:
                found.add(function)
                pending.extend(e.callee for e in self.calls.out_edges.get(function, []))
        self._region_memo[key] = found
        return found

    def before_start(self, key: str, function: str, loc: int) -> bool:
        """Whether the code at ``loc`` in ``function`` surely runs before context ``key``
        is started (in the function that starts it, or a caller around the call)."""
        intervals = self._intervals.get(key, {}).get(function)
        return bool(intervals) and all(loc < start for start, _ in intervals)

    def passed(self, root: str, param: str) -> list[tuple[Where, str]]:
        """What the sites starting ``root`` pass for its parameter ``param``, as dotted text
        in the spawner (``Thread(target=f, args=(q, lock))``, ``ex.submit(f, q, lock)``)."""
        ctx = self.contexts.get(root)
        fn = self.program.where(root).function
        if ctx is None or param not in fn.params:
            return []
        out: list[tuple[Where, str]] = []
        for site in ctx.sites:
            spec = site.spec
            if spec is None:
                continue
            index = fn.params.index(param) - (1 if site.bound and fn.cls is not None else 0)
            spawner = self.program.where(site.spawner)
            call = next((c for c in spawner.function.calls if c.loc == site.loc), None)
            if call is None or index < 0:
                continue
            text = _passed_text(call, spec, index)
            if text is not None:
                out.append((spawner, text))
        return out

    # ------------------------------------------------------------ sites
    def _find_subclasses(self) -> None:
        program = self.program
        for name in program.classes:
            bases = class_names(program, name)
            if bases & DATASET_CLASSES:
                self._datasets.add(name)
            kind = "thread" if bases & THREAD_CLASSES else "process" if bases & PROCESS_CLASSES \
                else None
            if kind is None or canonical(name) in THREAD_CLASSES | PROCESS_CLASSES:
                continue
            run = program.method(name, "run")
            if run is not None and canonical(run.rpartition(".")[0]) not in \
                    THREAD_CLASSES | PROCESS_CLASSES:
                self._thread_classes[name] = (run, kind)
                self.shared_classes.add(name)

    def _find_sites(self, where: Where, subclass_names: frozenset[str]) -> None:
        """Calls that start a thread or a process (``subclass_names``: the last names of the
        analysed Thread/Process subclasses); DataLoader calls are kept for later."""
        for call, target in self.calls.resolved(where.qualname):
            name = api_name(call, target)
            if name in DATA_LOADERS and _has_workers(call):
                self._loaders.append((where, call))
            if name in THREAD_STARTERS:
                self._add_call_site(where, call, target, name, THREAD_STARTERS[name], "thread")
            elif name in PROCESS_STARTERS:
                self._add_call_site(where, call, target, name, PROCESS_STARTERS[name], "process")
            elif call.callee.rpartition(".")[2] in subclass_names:
                value = self.program.resolve(where, call.callee)
                if isinstance(value, Class) and value.qualname in self._thread_classes:
                    run, kind = self._thread_classes[value.qualname]
                    site = Site(where.qualname, where.module.path, call.loc,
                                value.qualname.rpartition(".")[2], None, True,
                                self._repeated(where, call), False,
                                self._join(where, call, None), call.target)
                    self._add(run, kind, site)
                    if call.target and "." not in call.target:
                        self._escaped.setdefault(where.qualname, set()).add(call.target)

    def _add_call_site(
        self, where: Where, call: Call, target: CallTarget, api: str, spec: Starter, kind: str,
    ) -> None:
        arg = _argument(call, spec.position, spec.keyword)
        if arg is None:
            return
        found = self._callable(where, call, arg)
        if found is None:
            return
        root, receiver = found
        # a run waited for right away (``await``, ``submit(f).result()``) ends before the next
        waited = call.awaited or spec.waits or any(
            other.callee.startswith(call.callee + "().")
            and other.callee.rpartition(".")[2] in JOIN_METHODS
            for other in where.function.calls)
        many = spec.many or (self._repeated(where, call) and not waited)
        same = self._same_receiver(where, receiver)
        site = Site(where.qualname, where.module.path, call.loc, api, spec, bool(receiver),
                    many, many and same, self._join(where, call, spec), call.target, waited)
        self._add(root, kind, site)
        self._note_escapes(where, call, receiver)

    def _find_loaders(self) -> None:
        """DataLoader(dataset, num_workers=N>0): the dataset's item methods and collate_fn."""
        program, datasets = self.program, self._datasets
        for where, call in self._loaders:
            site = Site(where.qualname, where.module.path, call.loc, "DataLoader workers",
                        None, True, True, False, None, call.target)
            dataset = _argument(call, 0, "dataset")
            if dataset is not None and dataset.text is not None:
                value = program.resolve(where, dataset.text)
                if isinstance(value, Instance) and value.type in datasets:
                    for method in DATASET_WORKER_METHODS:
                        found = program.method(value.type, method)
                        if found is not None:
                            self._add(found, "process", site)
                    self.shared_classes.add(value.type)
                    head = split(dataset.text)[0]
                    self._escaped.setdefault(where.qualname, set()).add(head)
            for keyword in LOADER_WORKER_CALLBACKS:
                arg = _argument(call, None, keyword)
                found = self._callable(where, call, arg) if arg is not None else None
                if found is not None:
                    self._add(found[0], "process", site)

    def _add(self, root: str, kind: str, site: Site) -> None:
        ctx = self.contexts.setdefault(root, Context(root, kind))
        ctx.sites.append(site)
        owner = owner_class(self.program, self.program.where(root))
        if owner is not None:
            self.shared_classes.add(owner)

    def _callable(self, where: Where, call: Call, arg: Arg) -> tuple[str, str] | None:
        """The analysed function an argument stands for, and the receiver it is bound to."""
        if arg.kind == "call" and arg.text is not None:
            inner = next((c for c in where.function.calls
                          if c.loc > call.loc and c.callee == arg.text[:-2]), None)
            if inner is None or inner.callee.rpartition(".")[2] != "partial":
                return None
            first = _argument(inner, 0, "func")
            return self._callable(where, inner, first) if first is not None else None
        if arg.kind not in ("name", "lambda") or arg.text is None:
            return None
        value = self.program.resolve(where, arg.text)
        if not isinstance(value, Func):
            return None
        return value.qualname, arg.text.rpartition(".")[0] if arg.kind == "name" else ""

    def _same_receiver(self, where: Where, receiver: str) -> bool:
        """The started callable works on an object that every run shares: the spawner's
        ``self``, a module global, or (a plain or nested function) none of its own."""
        if not receiver:
            return True
        head = split(receiver)[0]
        fn = where.function
        if fn.cls is not None and fn.params and head == fn.params[0]:
            return True
        return module_level(self.program, where, head)

    def _note_escapes(self, where: Where, call: Call, receiver: str) -> None:
        """Locals handed to another context are shared from then on."""
        names = self._escaped.setdefault(where.qualname, set())
        if receiver:
            names.add(split(receiver)[0])
        for arg in call.args:
            for text in (arg.text, *arg.items):
                if text:
                    names.add(split(text)[0])
                    value = self.program.resolve(where, text)
                    if isinstance(value, Instance) and value.in_tree:
                        self.shared_classes.add(value.type)

    def _repeated(self, where: Where, call: Call) -> bool:
        """The call runs several times: in a loop here or (a few levels up) in a caller."""
        if call.loop is not None:
            return True
        seen = {where.qualname}
        frontier = [where.qualname]
        for _ in range(_CALLER_DEPTH):
            nxt = []
            for function in frontier:
                for edge in self.calls.callers(function):
                    if edge.call.loop is not None:
                        return True
                    if edge.caller not in seen:
                        seen.add(edge.caller)
                        nxt.append(edge.caller)
            frontier = nxt
        return False

    def _join(self, where: Where, call: Call, spec: Starter | None) -> int | None:
        """Where, in the spawner, the runs started by ``call`` have surely finished."""
        if call.awaited or (spec is not None and spec.waits):
            return call.loc
        fn = where.function
        receiver = call.callee.rpartition(".")[0]
        head = split(receiver)[0] if receiver else ""
        if head and head in fn.local_locs:  # ``with Executor() as ex: ex.submit(f)``
            for acquire in fn.acquires:
                if acquire.loc == fn.local_locs[head] and acquire.end >= call.loc:
                    return acquire.end
        handles = {h for h in (call.target,) if h}
        if receiver and isinstance(self.program.resolve(where, receiver), Instance):
            handles.add(receiver)  # ``ex.submit(f)`` ... ``ex.shutdown()``
        best: int | None = None
        for other, target in self.calls.resolved(where.qualname):
            if other.loc <= call.loc or not _is_join(other, target):
                continue
            other_receiver = other.callee.rpartition(".")[0]
            if other_receiver in handles:
                return other.loc
            known = api_name(other, target)
            if (known is None and split(other_receiver)[0] not in fn.locals) or (
                known in JOINS and call.target is None
            ):  # ``for t in threads: t.join()``: not the handle, but the last such join
                best = other.loc if best is None else max(best, other.loc)
        return best

    # ------------------------------------------------------------ reachability
    def _visit(self, key: str, start: list[tuple[str, str]]) -> None:
        members = self._members.setdefault(key, set())
        pending = list(start)
        while pending:
            function, state = pending.pop()
            contexts = self.reach.setdefault(function, {})
            states = contexts.get(key, _NO_STATES)
            if state in states:
                continue
            contexts[key] = _with_state(states, state)
            members.add(function)
            for edge in self.calls.out_edges.get(function, []):
                after = self._self_after(key, edge, state)
                pending.append((edge.callee, after))
                if after != FRESH:  # the object's exact class is unknown
                    for override in self._overrides.get(edge.callee, ()):
                        pending.append((override, after))

    def _find_overrides(self) -> None:
        """Class hierarchy analysis: ``self.step()`` in a base class may run a subclass's
        ``step`` (the template-method pattern of ``Thread``/``Process`` subclasses)."""
        program = self.program
        for qualname, where in program.functions.items():
            fn = where.function
            if fn.cls is None:
                continue
            owner = f"{where.module.module}.{fn.cls}"
            for base in program.mro(owner)[1:]:
                method = f"{base}.{fn.name}"
                if method in program.functions:
                    self._overrides.setdefault(method, []).append(qualname)

    def _self_after(self, key: str, edge: Edge, state: str) -> str:
        """Whose ``self`` the callee works on, given the caller's (see the module doc)."""
        if edge.via_self:
            return state
        callee = self.program.where(edge.callee).function
        text = edge.call.callee
        if callee.name in ("__init__", "__new__") and not text.endswith(callee.name):
            return FRESH  # a constructor: a new object
        receiver = text.rpartition(".")[0]
        if not receiver:  # a nested function keeps the closure's ``self``
            return state if edge.callee.startswith(edge.caller + ".") else GLOBAL
        caller = self.program.where(edge.caller)
        fn = caller.function
        head = split(receiver)[0]
        if fn.cls is not None and fn.params and head == fn.params[0]:
            return state  # ``self.part.method()``: part of our own object
        if head in fn.params:
            return PARAM
        if head in fn.locals:
            if head in self._escaped.get(edge.caller, ()):
                return PARAM
            value = self.program.resolve(caller, head)
            if isinstance(value, Instance) and value.in_tree and fn.locals[head].endswith("()") \
                    and not self.shared_classes.intersection(self.program.mro(value.type)):
                return FRESH  # made here, and not of a class that hands itself to threads
            return PARAM
        if module_level(self.program, caller, head):
            if key != MAIN:  # a global object used by a thread: its class is shared
                value = self.program.resolve(caller, head)
                if isinstance(value, Instance) and value.in_tree:
                    self.shared_classes.add(value.type)
            return GLOBAL
        return PARAM

    # ------------------------------------------------------------ order
    def _lifetimes(self, ctx: Context) -> dict[str, list[Interval]]:
        """For each function that starts ``ctx`` (or calls one that does), where it runs."""
        out: dict[str, list[Interval]] = {}
        reach = self._members.get(ctx.root, set())
        # (function, interval in it, whether the context outlives the function)
        frontier: list[tuple[str, Interval, bool]] = [
            (site.spawner, (site.loc, site.join), site.join is None) for site in ctx.sites
        ]
        for _ in range(_CALLER_DEPTH + 1):
            nxt: list[tuple[str, Interval, bool]] = []
            for function, interval, outlives in frontier:
                if function in reach:
                    continue
                out.setdefault(function, []).append(interval)
                for edge in self.calls.callers(function):
                    loc = edge.call.loc
                    caller = self.program.where(edge.caller).function
                    last = any(start <= loc < end for start, end in caller.tails)
                    nxt.append((edge.caller, (loc, None if outlives and not last else loc),
                                outlives))
            frontier = nxt
        return out

    def _handle_joins(self, ctx: Context) -> dict[str, int]:
        """Joins of a thread kept in an attribute (``self._thread = Thread(...)``) by another
        method of the class (``close()``: ``self._thread.join()``): what follows them there
        runs after the thread has finished."""
        out: dict[str, int] = {}
        for site in ctx.sites:
            spawner = self.program.where(site.spawner)
            fn = spawner.function
            if site.handle is None or fn.cls is None or not fn.params or \
                    not site.handle.startswith(fn.params[0] + "."):
                continue
            attr = site.handle[len(fn.params[0]) + 1:]
            for where in self._methods().get((spawner.module.module, fn.cls), ()):
                method = where.function
                join = f"{method.params[0]}.{attr}.join"
                for call in method.calls:
                    if call.callee == join and not call.args:  # no timeout: surely finished
                        known = out.get(where.qualname)
                        out[where.qualname] = call.loc if known is None else min(known, call.loc)
        return out

    def _methods(self) -> dict[tuple[str, str], list[Where]]:
        """The methods (with a ``self``) of every class, by (module, class qualname)."""
        if self._methods_memo is None:
            self._methods_memo = {}
            for where in self.program.iter_functions():
                fn = where.function
                if fn.cls is not None and fn.params:
                    self._methods_memo.setdefault((where.module.module, fn.cls), []).append(where)
        return self._methods_memo

    def _ordered_function(self, key: str, function: str, depth: int) -> bool:
        """Every call of ``function`` from outside context ``key`` is ordered with it."""
        memo = self._ordered_memo.get((key, function))
        if memo is not None:
            return memo
        if depth > _ORDER_DEPTH or function in self.calls.referenced:
            return False
        self._ordered_memo[(key, function)] = False  # recursion: not proven
        callers = [e for e in self.calls.callers(function)
                   if set(self.reach.get(e.caller, {})) - {key}]
        result = bool(callers) and all(
            self._ordered_at(key, e.caller, e.call.loc, depth + 1) for e in callers)
        self._ordered_memo[(key, function)] = result
        return result

    def _ordered_at(self, key: str, function: str, loc: int, depth: int) -> bool:
        joined = self._joined[key].get(function)
        if joined is not None and loc > joined:
            return True
        intervals = self._intervals[key].get(function)
        if intervals:
            return all(loc < start or (end is not None and loc > end)
                       for start, end in intervals)
        return self._ordered_function(key, function, depth)

    def sequential(self, a: str, b: str) -> bool:
        """Both started in one function, one joined before the other starts."""
        ia, ib = self._intervals.get(a, {}), self._intervals.get(b, {})
        for function in set(ia) & set(ib):
            first, second = ia[function], ib[function]
            if all(e is not None for _, e in first) and \
                    max(e for _, e in first) < min(s for s, _ in second):  # type: ignore[type-var]
                return True
            if all(e is not None for _, e in second) and \
                    max(e for _, e in second) < min(s for s, _ in first):  # type: ignore[type-var]
                return True
        return False


def _argument(call: Call, position: int | None, keyword: str | None) -> Arg | None:
    for arg in call.args:
        if keyword is not None and arg.keyword == keyword:
            return arg
    if position is None:
        return None
    positional = [a for a in call.args if a.keyword is None]
    if position < len(positional) and positional[position].kind != "starred" and not any(
        a.kind == "starred" for a in positional[:position]
    ):
        return positional[position]
    return None


def _passed_text(call: Call, spec: Starter, index: int) -> str | None:
    """The text of the ``index``-th argument a start call passes to its callable."""
    if spec.rest:
        positional = [a for a in call.args if a.keyword is None]
        start = (spec.position or 0) + 1
        if any(a.kind == "starred" for a in positional[:start + index + 1]):
            return None
        if start + index < len(positional):
            return positional[start + index].text
        return None
    packed = _argument(call, spec.args_position, spec.args_keyword)
    if packed is None or index >= len(packed.items):
        return None
    return packed.items[index]


def _has_workers(call: Call) -> bool:
    """``num_workers`` given and not a literal 0."""
    arg = _argument(call, 5, "num_workers")
    return arg is not None and not (arg.kind == "const" and not arg.const)


def _is_join(call: Call, target: CallTarget) -> bool:
    name = api_name(call, target)
    if name in JOINS:
        return not any(a.keyword == "wait" and a.const is False for a in call.args)
    if name is not None:
        return False
    method = call.callee.rpartition(".")[2]
    if method not in JOIN_METHODS or "." not in call.callee:
        return False
    if any(a.keyword == "wait" and a.const is False for a in call.args):
        return False
    positional = [a for a in call.args if a.keyword is None]
    return all(a.kind == "const" and isinstance(a.const, (int, float)) for a in positional)


def owner_class(program: Program, where: Where) -> str | None:
    """The class whose ``self`` a method, or a function nested in a method, works on."""
    fn = where.function
    while fn.cls is None or not fn.params or "staticmethod" in fn.decorators:
        if fn.cls is not None:
            return None
        outer = enclosing(program, where)
        if outer is None or outer.function.qualname == "<module>":
            return None
        where, fn = outer, outer.function
    return f"{where.module.module}.{fn.cls}"


def enclosing(program: Program, where: Where) -> Where | None:
    return program._enclosing(where)  # noqa: SLF001 - the closure scope, as resolution sees it


def module_level(program: Program, where: Where, name: str) -> bool:
    """``name`` in ``where`` means a module-level name (not a parameter or local of it or
    of an enclosing function)."""
    current: Where | None = where
    while current is not None and current.function.qualname != "<module>":
        fn = current.function
        if name in fn.params or name in fn.locals or name in fn.nested:
            return False
        current = enclosing(program, current)
    module = where.module
    return name in module.globals or name in module.imports


def api_name(call: Call, target: CallTarget) -> str | None:
    """The canonical API a call reaches, also when the API's own module is analysed (the
    standard library checked as a project: ``threading.Thread(...)`` then resolves to the
    analysed class, not to an external name)."""
    if target.external is not None:
        return target.external
    if target.function is None:
        return None
    name = target.function
    if name.endswith(".__init__") and not call.callee.endswith("__init__"):
        name = name[:-len(".__init__")]
    return canonical(name)


def class_names(program: Program, cls: str) -> set[str]:
    """Canonical names of a class and of everything it derives from, analysed or not."""
    names = {canonical(c) for c in program.mro(cls)}
    names.update(program.external_bases(cls))
    return names
