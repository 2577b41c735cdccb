"""The call graph: which analysed function each call site reaches.

Besides direct calls, a function passed to something that calls it before returning
(``map``, ``sorted(key=...)``) counts as called at that site. Deferred callables
(``Thread(target=...)``, ``executor.submit``) are not calls: they run elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import groupby

from conclint.analyses.call_index import CallIndex
from conclint.analyses.call_memory import CallMemory, ModuleRecord
from conclint.extract.facts import Call
from conclint.forked import Forked, can_fork
from conclint.knowledge import IMMEDIATE_CALLERS, api_names
from conclint.program.index import CallTarget, Program, Reads, Where
from conclint.program.values import Func


_NOTHING = CallTarget(None, None, False, "")
_CALLS_WORTH_A_PROCESS = 20_000  # resolving fewer call sites is quicker than forking
Resolved = tuple[tuple[CallTarget, ...], tuple[tuple[str, int, bool], ...], tuple[str, ...]]


@dataclass(slots=True)  # not frozen (see program.values); holds unhashable facts
class Edge:
    """One call site in ``caller`` that may run ``callee``."""

    caller: str
    callee: str
    call: Call
    via_self: bool


class CallGraph:
    """Resolved call sites per function, with the edges in both directions."""

    def __init__(self, program: Program, extra_names: frozenset[str] = frozenset(),
                 memory: CallMemory | None = None, processes: int = 1) -> None:
        """``extra_names``: last segments of user-declared API names, resolved like known ones;
        ``memory``: an earlier run's call graph, reused for the modules it still holds for;
        ``processes``: with more than one, a forked child resolves part of the modules."""
        self.program = program
        # per function: its call sites and, in parallel, what each of them calls
        self._targets: dict[str, tuple[Sequence[Call], tuple[CallTarget, ...]]] = {}
        self.out_edges: dict[str, list[Edge]] = {}
        self.in_edges: dict[str, list[Edge]] = {}
        self.referenced: set[str] = set()  # functions used as values (callbacks, targets)
        self._defined = program.defined_names()
        relevant = self._defined | api_names() | extra_names
        # ``from asyncio import create_task as spawn``: the alias is as relevant as the name.
        self._relevant = relevant | {
            alias for facts in program.modules.values() for alias, name in facts.imports.items()
            if name.rpartition(".")[2] in relevant
        }
        self._aliases: dict[str, frozenset[str]] = {}  # per module: ``import X as Y`` of API names
        modules = [(name, list(wheres))
                   for name, wheres in groupby(program.iter_functions(), lambda w: w.module.module)]
        found: list[list[Resolved] | None] = [None] * len(modules)
        if memory is not None:
            memory.prepare(program, self._relevant, self._defined)
            for index, (name, wheres) in enumerate(modules):
                earlier = memory.recall(name)
                found[index] = self._decode(wheres, earlier[1]) if earlier else None
                if earlier and found[index] is not None:
                    memory.remember(name, earlier[0], earlier[1], reused=True)
        self._added = 0  # modules entered so far: always in the program's order
        self._resolve_modules(modules, found, memory, processes)

    def _add_ready(self, modules: list[tuple[str, list[Where]]],
                   found: list[list[Resolved] | None]) -> None:
        """Enter the next modules whose call sites are known, in order (the edges into a
        function are listed in the order of the program, however the work was shared)."""
        while self._added < len(modules) and found[self._added] is not None:
            for where, item in zip(modules[self._added][1], found[self._added] or ()):
                self._add(where, *item)
            self._added += 1

    def _resolve_modules(self, modules: list[tuple[str, list[Where]]],
                         found: list[list[Resolved] | None], memory: CallMemory | None,
                         processes: int) -> None:
        """Resolve the modules not ``found`` yet: a forked child takes the last part of a
        big remainder (it sends back records, as the memory keeps them)."""
        todo = [i for i, resolved in enumerate(found) if resolved is None]
        apart = _second_half(todo, modules) if processes > 1 and can_fork() else []
        child = Forked(partial(self._records, modules, apart, memory is not None)) \
            if apart else None
        try:
            self._resolve_here(modules, todo[:len(todo) - len(apart)], found, memory)
            sent = child.result() if child else []
        finally:
            if child:
                child.stop()
        for index, record, reads in sent or ():
            found[index] = self._decode(modules[index][1], record)
            if memory is not None:
                memory.remember(modules[index][0], reads, record, reused=False)
        # what the child could not do (it died, or sent what does not fit) is done here
        self._resolve_here(modules, [i for i in apart if found[i] is None], found, memory)
        self._add_ready(modules, found)

    def _resolve_here(self, modules: list[tuple[str, list[Where]]], indices: list[int],
                      found: list[list[Resolved] | None], memory: CallMemory | None) -> None:
        """Resolve these modules in this process, entering each as soon as it can be (so
        that the edges are built while a child works)."""
        for index, resolved, reads in self._resolve(modules, indices, memory is not None):
            found[index] = resolved
            if memory is not None:
                memory.remember(modules[index][0], reads, _record(resolved), reused=False)
            self._add_ready(modules, found)

    def _resolve(self, modules: list[tuple[str, list[Where]]], indices: list[int],
                 track: bool) -> Iterator[tuple[int, list[Resolved], Reads]]:
        """Each module's call sites resolved, with the modules the resolution read (when
        ``track``: what the memory keys its record by)."""
        program = self.program
        program.track_reads(track)
        for index in indices:
            if not track:  # nothing to remember: no read sets to keep either
                yield index, [self._resolve_function(w) for w in modules[index][1]], frozenset()
                continue
            program.start_reading()
            try:
                resolved = [self._resolve_function(where) for where in modules[index][1]]
            finally:
                reads = program.stop_reading()
            yield index, resolved, reads
        program.track_reads(False)

    def _records(self, modules: list[tuple[str, list[Where]]], indices: list[int],
                 track: bool) -> list[tuple[int, ModuleRecord, Reads]]:
        """In a forked child: the modules' call sites as records, to send back."""
        return [(index, _record(resolved), reads)
                for index, resolved, reads in self._resolve(modules, indices, track)]

    def _module_aliases(self, where: Where) -> frozenset[str]:
        """Local names that import a relevant name under another name (``Thread as T``)."""
        module = where.module
        aliases = self._aliases.get(module.module)
        if aliases is None:
            aliases = self._aliases[module.module] = frozenset(
                alias for alias, name in module.imports.items()
                if name.rpartition(".")[2] in self._relevant and alias not in self._relevant)
        return aliases

    def _resolve_function(self, where: Where) -> Resolved:
        """What each call site calls; the functions passed to an immediate caller, as
        (function, index of the call site, via_self); the functions passed as values."""
        resolved: list[CallTarget] = []
        passed: list[tuple[str, int, bool]] = []
        referenced: list[str] = []
        aliases = self._module_aliases(where)
        relevant_names, resolve_call = self._relevant, self.program.resolve_call
        for index, call in enumerate(where.function.calls):
            last = call.callee.rpartition(".")[2]
            relevant = last in relevant_names or last in aliases
            target = resolve_call(where, call) if relevant else _NOTHING
            resolved.append(target)
            if not call.args:
                continue
            immediate = target.external in IMMEDIATE_CALLERS or call.callee.endswith(".sort")
            for text, function in self._function_args(where, call):
                if immediate:
                    passed.append((function, index, text.startswith("self.")))
                else:
                    referenced.append(function)
        return tuple(resolved), tuple(passed), tuple(referenced)

    def _decode(self, wheres: list[Where], record: ModuleRecord) -> list[Resolved] | None:
        """A module's call sites from a record; None when it does not fit them."""
        decoded = []
        try:
            table, functions = record
            targets = [CallTarget(*t) for t in table]
            if len(functions) != len(wheres):
                return None
            target = targets.__getitem__
            for where, (indices, passed, referenced) in zip(wheres, functions):
                calls = len(where.function.calls)
                if len(indices) != calls:
                    return None
                if passed:
                    places = [index for _, index, _ in passed]
                    if places != sorted(places) or any(not 0 <= i < calls for i in places):
                        return None
                decoded.append((tuple(map(target, indices)), passed, referenced))
        except (TypeError, ValueError, IndexError):  # not a record this version wrote
            return None
        return decoded

    def _add(self, where: Where, resolved: tuple[CallTarget, ...],
             passed: Sequence[tuple[str, int, bool]], referenced: Sequence[str]) -> None:
        """Enter a function's call sites, and its edges in call-site order (a call's own
        target before the functions passed to it)."""
        caller, calls = where.qualname, where.function.calls
        self._targets[caller] = (calls, resolved)
        if passed:
            out = []
            extra = iter(passed)
            pending = next(extra, None)
            for index, (call, target) in enumerate(zip(calls, resolved)):
                if target.function is not None:
                    out.append(Edge(caller, target.function, call, target.via_self))
                while pending is not None and pending[1] == index:
                    out.append(Edge(caller, pending[0], call, pending[2]))
                    pending = next(extra, None)
        else:
            out = [Edge(caller, target.function, call, target.via_self)
                   for call, target in zip(calls, resolved) if target.function is not None]
        self.out_edges[caller] = out
        for edge in out:
            self.in_edges.setdefault(edge.callee, []).append(edge)
        self.referenced.update(referenced)

    def _function_args(self, where: Where, call: Call) -> Iterator[tuple[str, str]]:
        """The analysed functions passed as arguments (by name or as a lambda)."""
        for arg in call.args:
            if arg.text is None or arg.kind not in ("name", "lambda"):
                continue
            if arg.kind == "name" and arg.text.rpartition(".")[2] not in self._defined:
                continue
            value = self.program.resolve(where, arg.text)
            if isinstance(value, Func):
                yield arg.text, value.qualname

    def targets(self, qualname: str) -> tuple[CallTarget, ...]:
        """What each call site of function ``qualname`` calls, in source order."""
        found = self._targets.get(qualname)
        return found[1] if found is not None else ()

    @cached_property
    def index(self) -> CallIndex:
        """The functions by the APIs they call."""
        return CallIndex(self)

    def functions_calling(self, apis: Iterable[str] = (),
                          last_names: Collection[str] = ()) -> list[Where]:
        """The functions worth a look for call sites of ``apis`` or callees named one of
        ``last_names``, in program order (see ``conclint.analyses.call_index``)."""
        return self.index.functions_calling(apis, last_names)

    def resolved(self, qualname: str) -> Iterator[tuple[Call, CallTarget]]:
        """The call sites of function ``qualname`` in source order, each with its target."""
        found = self._targets.get(qualname)
        return zip(*found) if found is not None else iter(())

    def callers(self, qualname: str) -> list[Edge]:
        return self.in_edges.get(qualname, [])


def _second_half(todo: list[int], modules: list[tuple[str, list[Where]]]) -> list[int]:
    """The last modules of ``todo`` holding about half its call sites; none when there
    are too few call sites to be worth a process."""
    sizes = [sum(len(w.function.calls) for w in modules[i][1]) for i in todo]
    total = sum(sizes)
    if total < _CALLS_WORTH_A_PROCESS:
        return []
    taken = 0
    for cut in range(len(todo) - 1, 0, -1):
        taken += sizes[cut]
        if taken * 2 >= total:
            return todo[cut:]
    return []


def _record(found: list[Resolved]) -> ModuleRecord:
    """A module's call sites for the memory: its distinct targets once, then per function
    the index of each call site's target, the functions passed, the functions referenced."""
    table: dict[tuple[str | None, str | None, bool, str], int] = {}
    functions = tuple(
        (tuple(table.setdefault((t.function, t.external, t.via_self, t.receiver), len(table))
               for t in resolved), passed, referenced)
        for resolved, passed, referenced in found)
    return tuple(table), functions
