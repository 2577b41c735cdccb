"""What stalls an event loop: blocking calls inside ``async def``, directly or through the
analysed sync functions a coroutine calls, and callables handed to an executor as results.

Only code that runs on the loop thread counts: the body of an ``async def`` (a nested
``def`` or ``lambda`` is a function of its own, so work passed to ``asyncio.to_thread`` in
one is not on the loop) and, through the call graph, the sync functions it calls directly.
A call of an ``async def`` only makes a coroutine, so blocking never propagates through
one. Framework startup/shutdown hooks and test code are skipped: nothing else is being
served while they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conclint.analyses.blocking import bounded_queue
from conclint.analyses.calls import CallGraph, Edge
from conclint.analyses.lockgraph import call_step
from conclint.analyses.reach import Reach, iter_keys
from conclint.diagnostics import Step
from conclint.extract.facts import Arg, Call
from conclint.knowledge import api_name, canonical
from conclint.knowledge_async import (
    CALLABLE_SLOTS, DEVICE_SYNC_METHODS, FROM_PRETRAINED, LOOP_BLOCKERS, PRETRAINED_LIBRARIES,
    SAME_DEVICE_METHODS, STARTUP_DECORATORS, STARTUP_EVENTS, STARTUP_KEYWORDS, STARTUP_SIGNALS,
    TENSOR_FACTORIES, TO_THREAD, LoopBlocker,
)
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import External, Func

_MAX_DEVICE_DEPTH = 4


@dataclass(frozen=True, slots=True)
class LoopBlock:
    """A blocking call as a message names it, and what to write instead."""

    what: str
    instead: str


@dataclass(frozen=True, slots=True)
class BlockingSite:
    """A call in an ``async def`` that blocks the loop, with the chain that proves it."""

    where: Where
    call: Call
    block: LoopBlock
    chain: tuple[Step, ...]  # empty for a direct call; else the steps down to the blocking call
    callee: str | None  # the analysed sync function called, for an indirect block


@dataclass(frozen=True, slots=True)
class MisplacedCall:
    """``to_thread(f())``: a callable slot given the result of a call made right here."""

    where: Where
    call: Call  # the executor/scheduling call
    api: str  # its canonical name
    inner: Call  # the call whose result is passed
    reason: str  # why the inner call is surely not a callable factory
    position: int  # where the API takes the callable
    coroutine: bool = False  # the inner call is of an ``async def``


class LoopBlocking:
    """Blocking sites per coroutine, the reach of blocking through sync calls, CL404 sites."""

    def __init__(self, program: Program, calls: CallGraph, declared: frozenset[str]) -> None:
        self.program = program
        self.calls = calls
        self.declared = declared
        self._async = {w.qualname for w in program.iter_functions() if w.function.is_async}
        self.startup = _startup_hooks(program) if self._async else set()
        self._opaque_memo: dict[str, bool] = {}
        slot_calls = list(self._slot_calls())
        roots = [q for q in self._async
                 if q not in self.startup and not _test_module(program.where(q).module.module)]
        roots += [s[4].function for s in slot_calls
                  if s[4].function is not None and not self._opaque(s[4].function)]
        self._targets: dict[str, list[tuple[Call, CallTarget]]] = {}
        direct: dict[str, dict[LoopBlock, Step]] = {}
        for qualname in self._closure(roots):
            where = program.where(qualname)
            found: dict[LoopBlock, Step] = {}
            for call, target in self._resolved(where):
                block = self.classify(where, call, target)
                if block is not None:
                    found.setdefault(block, Step(where.module.path, call.loc,
                                                 f"calls {block.what}"))
            if found:
                direct[qualname] = found
        self.reach: Reach[LoopBlock] = Reach(calls, direct, self._propagate,
                                             lambda edge: call_step(program, edge))
        self.misplaced = [m for m in (self._misplaced(*s) for s in slot_calls) if m is not None]
        offloaded = {id(m.inner) for m in self.misplaced}
        self.sites: list[BlockingSite] = []
        for qualname in sorted(roots):
            if qualname in self._async:
                self.sites.extend(self._sites(program.where(qualname), offloaded))

    # ----------------------------------------------------------- the call graph part
    def _opaque(self, qualname: str) -> bool:
        """A method of a known API class analysed as code (the standard library's own
        ``threading.Thread.start``): the tables say whether it blocks, its body doesn't."""
        known = self._opaque_memo.get(qualname)
        if known is None:
            owner = canonical(qualname).rpartition(".")[0]
            known = self._opaque_memo[qualname] = owner in self.program.known_classes
        return known

    def _propagate(self, edge: Edge, key: LoopBlock) -> LoopBlock | None:
        """Blocking reaches a caller through a sync callee called from sync code only."""
        if edge.callee in self._async or edge.caller in self._async or self._opaque(edge.callee):
            return None
        return key

    def _closure(self, roots: list[str]) -> list[str]:
        """The roots and every sync function they reach through sync calls."""
        seen = set(roots)
        order = list(roots)
        pending = list(roots)
        while pending:
            for edge in self.calls.out_edges.get(pending.pop(), []):
                callee = edge.callee
                if callee not in seen and callee not in self._async and not self._opaque(callee):
                    seen.add(callee)
                    order.append(callee)
                    pending.append(callee)
        return order

    def _resolved(self, where: Where) -> list[tuple[Call, CallTarget]]:
        """Every call of the function resolved, including the ones the call graph skips
        because no rule cares about their name in general (``pipe(text)``, ``x.item()``)."""
        cached = self._targets.get(where.qualname)
        if cached is None:
            cached = []
            for call, target in self.calls.resolved(where.qualname):
                if target.function is None and target.external is None and call.callee:
                    target = self.program.resolve_call(where, call)
                cached.append((call, target))
            self._targets[where.qualname] = cached
        return cached

    def _sites(self, where: Where, offloaded: set[int]) -> Iterator[BlockingSite]:
        callees: dict[int, list[str]] = {}
        for edge in self.calls.out_edges.get(where.qualname, []):
            if edge.callee not in self._async and not self._opaque(edge.callee):
                callees.setdefault(id(edge.call), []).append(edge.callee)
        for call, target in self._resolved(where):
            if id(call) in offloaded:
                continue
            block = self.classify(where, call, target)
            if block is not None:
                yield BlockingSite(where, call, block, (), None)
                continue
            for callee in callees.get(id(call), []):
                reached = self.reach.reached(callee)
                if reached:
                    key = next(iter(iter_keys(reached)))
                    yield BlockingSite(where, call, key,
                                       tuple(self.reach.witness(callee, key)), callee)
                    break

    # ----------------------------------------------------------- one call
    def classify(self, where: Where, call: Call, target: CallTarget) -> LoopBlock | None:
        """The blocking a call does on the thread that makes it, if any (not awaited)."""
        if call.awaited:
            return None
        name = api_name(target.external, target.function)
        declared = name if name in self.declared else target.function
        if declared in self.declared:
            return LoopBlock(f"`{call.callee}()` (declared blocking in `blocking-calls`)",
                             TO_THREAD)
        if name is not None:
            spec = LOOP_BLOCKERS.get(name)
            if spec is None and name.endswith(".from_pretrained") and name.startswith(
                    PRETRAINED_LIBRARIES):
                spec = FROM_PRETRAINED
            if spec is not None and not _quiet(call, spec):
                receiver = call.callee if name.endswith(".__call__") else (
                    target.receiver or name.rpartition(".")[0])
                if not (name.endswith((".result", ".exception", "AsyncResult.get"))
                        and _settled(where, call, receiver)) and not (
                        name.startswith("socket.socket.") and _nonblocking(where, call, receiver)
                ) and not (name.endswith("Queue.put")
                           and not bounded_queue(self.program, where, receiver)):
                    return LoopBlock(spec.what.format(recv=receiver),
                                     spec.instead.format(recv=receiver))
        method = call.callee.rpartition(".")[2]
        if method in DEVICE_SYNC_METHODS and "." in call.callee:
            receiver = call.callee.rpartition(".")[0]
            if self._on_cuda(where, receiver, call.loc, 0):
                return LoopBlock(
                    f"`{receiver}.{method}()` (copies a CUDA tensor to the host: waits for "
                    "every queued GPU kernel)", TO_THREAD)
        return None

    def _on_cuda(self, where: Where, text: str, before: int, depth: int) -> bool:
        """``text`` is visibly a CUDA tensor: ``x.cuda()``, ``x.to("cuda")``,
        ``torch.zeros(..., device="cuda")``, a reduction of one, or a local bound to one."""
        if depth > _MAX_DEVICE_DEPTH:
            return False
        fn = where.function
        if not text.endswith("()"):
            value = fn.locals.get(text)
            if value is None:
                return False
            made = self.program.assignment_call(where.qualname, text)
            if made is not None and made.callee + "()" == value:
                before = made.loc + 1  # the call that made it, not a later one alike
            return self._on_cuda(where, value, before, depth + 1)
        callee = text[:-2]
        receiver, _, method = callee.rpartition(".")
        if method == "cuda":
            return True
        made = _latest_call(where, callee, before)
        if made is None:
            return False
        if method == "to":
            return any(self._names_cuda(where, arg, before) for arg in made.args
                       if arg.keyword in (None, "device"))
        if receiver and method in SAME_DEVICE_METHODS:
            return self._on_cuda(where, receiver, before, depth + 1)
        resolved = self.program.resolve(where, callee)
        if isinstance(resolved, External) and resolved.name in TENSOR_FACTORIES:
            return any(self._names_cuda(where, arg, before) for arg in made.args
                       if arg.keyword == "device")
        return False

    def _names_cuda(self, where: Where, arg: Arg, before: int) -> bool:
        """``"cuda"``, ``"cuda:1"``, ``torch.device("cuda")`` or a local bound to one."""
        if arg.kind == "const":
            return isinstance(arg.const, str) and arg.const.startswith("cuda")
        text = arg.text
        if text is not None and arg.kind == "name" and "." not in text:
            text = where.function.locals.get(text)
        if text is None or not text.endswith("()"):
            return False
        made = _latest_call(where, text[:-2], before)
        resolved = self.program.resolve(where, text[:-2])
        return (made is not None and isinstance(resolved, External)
                and resolved.name == "torch.device" and bool(made.args)
                and self._names_cuda(where, made.args[0], before))

    # ----------------------------------------------------------- CL404
    def _slot_calls(self) -> Iterator[tuple[Where, Call, str, Call, CallTarget, int]]:
        """Every call of an API taking a callable whose callable argument is a call."""
        for where in self.calls.functions_calling(CALLABLE_SLOTS):
            calls = where.function.calls
            for index, (call, target) in enumerate(self.calls.resolved(where.qualname)):
                if not call.args or (target.external is None and target.function is None):
                    continue
                api = api_name(target.external, target.function) or ""
                slot = CALLABLE_SLOTS.get(api)
                if slot is None:
                    continue
                arg = _slot_arg(call, *slot)
                if arg is None or arg.kind != "call" or not arg.text:
                    continue
                inner = next((c for c in calls[index + 1:]
                              if c.callee + "()" == arg.text), None)
                if inner is not None:
                    yield (where, call, api, inner,
                           self.program.resolve_call(where, inner), slot[0])

    def _misplaced(self, where: Where, call: Call, api: str, inner: Call,
                   target: CallTarget, position: int) -> MisplacedCall | None:
        """Only when the inner call surely does not return a callable: it is a coroutine
        function, or it blocks (the very work that was meant to run elsewhere)."""
        block = self.classify(where, inner, target)
        if block is not None:
            return MisplacedCall(where, call, api, inner, f"it is {block.what}", position)
        if target.function is not None:
            callee = self.program.where(target.function).function
            if callee.is_async:
                return MisplacedCall(where, call, api, inner, "it makes a coroutine", position,
                                     coroutine=True)
            reached = self.reach.reached(target.function)
            if reached and not callee.nested:
                key = next(iter(iter_keys(reached)))
                return MisplacedCall(where, call, api, inner,
                                     f"`{inner.callee}()` blocks (it reaches {key.what})",
                                     position)
        return None


def _slot_arg(call: Call, position: int, keyword: str) -> Arg | None:
    for arg in call.args:
        if arg.keyword == keyword:
            return arg
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) > position and all(a.kind != "starred" for a in positional[:position]):
        return positional[position]
    return None


def _quiet(call: Call, spec: LoopBlocker) -> bool:
    """The arguments ask for the non-blocking form (``block=False``, ``timeout=0``)."""
    positional = [a for a in call.args if a.keyword is None]
    for quiet in spec.quiet:
        arg = next((a for a in call.args if a.keyword == quiet.keyword), None)
        if arg is None and quiet.position is not None and len(positional) > quiet.position:
            arg = positional[quiet.position]
        if arg is None:
            continue
        if arg.kind == "const" and any(arg.const == v and type(arg.const) in (bool, int, float)
                                       for v in quiet.values):
            return True
        if arg.text is not None and any(arg.text == n or arg.text.endswith("." + n)
                                        for n in quiet.names):
            return True
    return False


def _settled(where: Where, call: Call, receiver: str) -> bool:
    """A future already checked with ``done()`` or awaited earlier in the function."""
    for other in where.function.calls:
        if other.loc >= call.loc:
            break
        if other.callee == f"{receiver}.done":
            return True
        if other.awaited and any(a.text == receiver or receiver in a.items for a in other.args):
            return True
    return False


def _nonblocking(where: Where, call: Call, receiver: str) -> bool:
    """A socket put in non-blocking mode earlier in the function (``setblocking(False)``)."""
    made = _latest_call(where, f"{receiver}.setblocking", call.loc)
    return made is not None and bool(made.args) and made.args[0].const in (False, 0)


def _latest_call(where: Where, callee: str, before: int) -> Call | None:
    """The last call of ``callee`` before ordinal ``before`` in the function; else the first
    one after it (the receiver ``x.max()`` of ``x.max().item()`` is numbered after it)."""
    found = None
    for call in where.function.calls:
        if call.callee != callee:
            continue
        if call.loc < before:
            found = call
        elif found is None:
            return call
        else:
            break
    return found


def _test_module(module: str) -> bool:
    """Test code (``test_*.py``, ``*_test.py``, ``conftest.py``, or in a ``tests`` package):
    its loop serves only the test, and a test that blocks its own server hangs visibly.
    Judged by the package-relative module name, never by the directories above it."""
    parts = module.split(".")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test") or name == "conftest"
            or any(part in ("tests", "test") for part in parts[:-1]))


def _startup_hooks(program: Program) -> set[str]:
    """Coroutines a web framework runs before serving or after it stopped:
    ``FastAPI(lifespan=f)``, ``Starlette(on_startup=[f])``, ``@app.on_event("startup")``,
    aiohttp's ``app.on_startup.append(f)``."""
    hooks: set[str] = set()
    for where in program.iter_functions():
        for call in where.function.calls:
            texts: list[str | None] = []
            for arg in call.args:
                if arg.keyword in STARTUP_KEYWORDS:
                    texts.extend([arg.text, *arg.items])
            owner, _, method = call.callee.rpartition(".")
            if method in ("append", "insert") and owner.rpartition(".")[2] in STARTUP_SIGNALS:
                texts.extend(a.text for a in call.args)
            for text in texts:
                value = program.resolve(where, text) if text else None
                if isinstance(value, Func):
                    hooks.add(value.qualname)
        hooks.update(_event_decorated(where))
    return hooks


def _event_decorated(where: Where) -> Iterator[str]:
    """Functions of this scope's module decorated ``@app.on_event("startup")``: the
    decorator call is the first call of that text numbered after the ``def``."""
    if where.function.qualname != "<module>":
        return
    module = where.module
    decorated = [(fn, d[:-2]) for fn in module.functions for d in fn.decorators
                 if d.endswith("()") and d[:-2].rpartition(".")[2] in STARTUP_DECORATORS]
    if not decorated:
        return
    every = sorted((c for f in module.functions for c in f.calls), key=lambda c: c.loc)
    for fn, callee in decorated:
        made = next((c for c in every if c.loc > fn.loc and c.callee == callee), None)
        if made is not None and made.args and made.args[0].const in STARTUP_EVENTS:
            yield f"{module.module}.{fn.qualname}"

