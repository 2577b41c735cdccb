"""CL4xx: asyncio, as queries over the event-loop blocking analysis and the held locks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conclint.analyses.context import Analyses
from conclint.checks.base import finding, short
from conclint.diagnostics import Finding, Step
from conclint.knowledge import api_name
from conclint.knowledge_async import TASK_CREATORS
from conclint.extract.facts import Call
from conclint.program.index import Where
from conclint.program.values import Func


def blocking_call_in_async(analyses: Analyses) -> Iterator[Finding]:
    for site in analyses.loop_blocking.sites:
        fn, path = site.where.function, site.where.module.path
        start = Step(path, fn.loc, f"`async def {fn.name}` runs on the event loop")
        if site.callee is None:
            yield finding(
                "CL401", path, site.call.loc,
                f"{site.block.what} in `async def {fn.name}` blocks the event loop: no other "
                f"coroutine on this loop runs until it returns; use {site.block.instead}",
                [start],
            )
            continue
        callee = site.call.callee
        yield finding(
            "CL401", path, site.call.loc,
            f"`{callee}()` in `async def {fn.name}` blocks the event loop: it reaches "
            f"{site.block.what}, and no other coroutine on this loop runs meanwhile; run it "
            f"with `await asyncio.to_thread({callee}, ...)` or make it async",
            [start, Step(path, site.call.loc, f"calls `{callee}()`"), *site.chain],
        )


def dangling_task(analyses: Analyses) -> Iterator[Finding]:
    for where in analyses.calls.functions_calling(TASK_CREATORS):
        for call, target in analyses.calls.resolved(where.qualname):
            if call.awaited or not (call.discarded or call.target == "_"):
                continue
            api = api_name(target.external, target.function)
            if api not in TASK_CREATORS:
                continue
            if api == "asyncio.ensure_future" and not _makes_coroutine(analyses, where, call):
                continue  # ``ensure_future(fut)`` of an existing future makes no task
            yield finding(
                "CL402", where.module.path, call.loc,
                f"the task made by `{call.callee}()` is dropped: the event loop keeps only a "
                "weak reference to it, so it can be garbage-collected before it finishes, and "
                "its exception is never retrieved; keep a reference (add it to a set and "
                "`add_done_callback(the_set.discard)`) or create it in an `asyncio.TaskGroup`",
            )


def _makes_coroutine(analyses: Analyses, where: Where, call: Call) -> bool:
    """The first argument is a coroutine made right here, or a local bound to a call of
    an ``async def``: ``ensure_future`` wraps it in a new task."""
    if not call.args:
        return False
    arg = call.args[0]
    if arg.kind == "call":
        return True
    value = where.function.locals.get(arg.text or "") if arg.kind == "name" else None
    if value is None or not value.endswith("()"):
        return False
    made = analyses.program.resolve(where, value[:-2])
    return isinstance(made, Func) and analyses.program.where(made.qualname).function.is_async


@dataclass(frozen=True, slots=True)
class _Suspension:
    loc: int
    held: tuple[int, ...]
    message: str


def _suspensions(where: Where) -> list[_Suspension]:
    fn = where.function
    found = [_Suspension(c.loc, c.held, f"suspends at `await {c.callee}()` holding it")
             for c in fn.calls if c.awaited]
    found += [_Suspension(loc, held, "suspends here (`await` or `async for`) holding it")
              for loc, held in fn.suspends]
    found += [_Suspension(a.loc, a.held, f"suspends entering `async with {a.lock}` holding it")
              for a in fn.acquires if a.kind == "async-with"]
    return sorted(found, key=lambda s: s.loc)


def thread_lock_in_coroutine(analyses: Analyses) -> Iterator[Finding]:
    slow: dict[str, tuple[str, list[Step]]] | None = None  # built on first need
    for where in analyses.program.iter_functions():
        fn, path = where.function, where.module.path
        if not fn.is_async or not fn.acquires:
            continue
        acquired = analyses.held.acquired(where)
        suspensions = _suspensions(where)
        for index, acquire in enumerate(fn.acquires):
            locks = [h.lock for h in acquired[index] if h.lock.kind.family == "thread"]
            if not locks:
                continue
            lock = locks[0]
            name, factory = short(lock.name), lock.kind.factory
            step = Step(path, acquire.loc, f"`{name}` ({factory}) acquired here")
            across = next((s for s in suspensions if index in s.held), None)
            if across is not None:
                yield finding(
                    "CL403", path, acquire.loc,
                    f"`{name}` is a {factory} held across an `await` in `async def {fn.name}`: "
                    "while this coroutine is suspended, another coroutine taking it blocks the "
                    "event loop thread, so this one never resumes to release it (a deadlock); "
                    f"use an `{_async_twin(factory)}` with `async with`, or release it before "
                    "awaiting",
                    [step, Step(path, across.loc, across.message)],
                )
                continue
            if acquire.kind == "try-acquire":
                continue
            if slow is None:
                slow = _slow_holders(analyses)
            if lock.name in slow:
                what, steps = slow[lock.name]
                yield finding(
                    "CL403", path, acquire.loc,
                    f"`{name}` is a {factory}: taking it in `async def {fn.name}` blocks the "
                    "event loop for as long as another thread holds it, and a thread holds it "
                    f"across {what}; use `await asyncio.to_thread(...)` for the locked section, "
                    "or keep the slow call outside the lock",
                    [step, *steps],
                )


def _async_twin(factory: str) -> str:
    """``threading.Semaphore`` -> ``asyncio.Semaphore``; an RLock has no twin: a Lock."""
    kind = factory.rpartition(".")[2]
    return f"asyncio.{kind if kind in ('Semaphore', 'BoundedSemaphore', 'Condition') else 'Lock'}"


def _slow_holders(analyses: Analyses) -> dict[str, tuple[str, list[Step]]]:
    """Thread locks that code running off the loop holds while it blocks: lock name ->
    (what blocks, the steps from the acquisition to the blocking call)."""
    program, held, blocking = analyses.program, analyses.held, analyses.blocking
    loop = analyses.loop_blocking
    out: dict[str, tuple[str, list[Step]]] = {}
    for qualname in sorted(_off_loop(analyses)):
        where = program.where(qualname)
        fn, path = where.function, where.module.path
        direct = {id(call): key for call, key in blocking.sites.get(qualname, [])}
        callees: dict[int, list[str]] = {}
        for edge in analyses.calls.out_edges.get(qualname, []):
            callees.setdefault(id(edge.call), []).append(edge.callee)
        for call, target in analyses.calls.resolved(qualname):
            holding = [(i, h) for i, h in held.held_at(where, call.held)
                       if h.lock.kind.family == "thread"]
            if not holding:
                continue
            what, chain = None, []
            key = direct.get(id(call))
            block = loop.classify(where, call, program.resolve_call(where, call))
            if key is not None or block is not None:
                what = key.what if key is not None else block.what  # type: ignore[union-attr]
            else:
                for callee in callees.get(id(call), []):
                    for reached in blocking.reach.reached(callee):
                        what, chain = reached.what, blocking.reach.witness(callee, reached)
                        break
                    if what:
                        break
            if what is None:
                continue
            for index, h in holding:
                steps = [Step(path, fn.acquires[index].loc,
                              f"`{short(h.lock.name)}` held here by `{fn.name}()`, which runs "
                              "off the event loop"),
                         Step(path, call.loc, f"calls {what}" if not chain
                              else f"calls `{call.callee}()`"), *chain]
                out.setdefault(h.lock.name, (what, steps))
    return out


def _off_loop(analyses: Analyses) -> set[str]:
    """Sync functions that run on other threads: callables handed to threads, executors
    or callbacks (``Thread(target=f)``, ``to_thread(f)``), ``Thread.run`` overrides, and
    whatever sync code they call."""
    program, calls = analyses.program, analyses.calls
    roots = set(calls.referenced)
    for cls_name in program.classes:
        if "threading.Thread" in program.external_bases(cls_name):
            run = program.method(cls_name, "run")
            if run is not None:
                roots.add(run)
    seen: set[str] = set()
    pending = [r for r in roots if not program.where(r).function.is_async]
    while pending:
        qualname = pending.pop()
        if qualname in seen:
            continue
        seen.add(qualname)
        for edge in calls.out_edges.get(qualname, []):
            if not program.where(edge.callee).function.is_async:
                pending.append(edge.callee)
    return seen


def executor_given_call_result(analyses: Analyses) -> Iterator[Finding]:
    for misplaced in analyses.loop_blocking.misplaced:
        where, call, inner = misplaced.where, misplaced.call, misplaced.inner
        here = "on the event loop" if where.function.is_async else "on the calling thread"
        instead = (f"pass the function and its arguments separately (`{call.callee}("
                   f"{'..., ' * misplaced.position}{inner.callee}, *args)`)")
        if misplaced.coroutine:
            message = (f"`{call.callee}()` is given `{inner.callee}(...)`, a coroutine object "
                       f"of an `async def`, not a function: it fails, and the coroutine never "
                       f"runs; await it, or schedule it with `asyncio.create_task()` (executors "
                       f"and loop callbacks run plain functions only)")
        else:
            message = (f"`{call.callee}()` is given the result of `{inner.callee}(...)`, not a "
                       f"function: that call runs right here, {here}, and {misplaced.reason}; "
                       f"{instead}")
        yield finding("CL404", where.module.path, inner.loc, message,
                      [Step(where.module.path, call.loc, f"`{call.callee}()` expects a callable")])


CHECKS = (
    (("CL401",), blocking_call_in_async),
    (("CL402",), dangling_task),
    (("CL403",), thread_lock_in_coroutine),
    (("CL404",), executor_given_call_result),
)
