"""CL2xx: leaked threads, processes, pools and executors; lost exceptions; spawn/fork pitfalls."""

from __future__ import annotations

from collections.abc import Iterator

from conclint.analyses.context import Analyses
from conclint.analyses.flows import LEAKED, is_name
from conclint.analyses.handles import Handle
from conclint.analyses.lifecycle import argument, has_workers, releases_of, start_loc
from conclint.checks.base import finding
from conclint.diagnostics import Finding, Step
from conclint.extract.facts import Arg, Call
from conclint.knowledge_lifecycle import (
    DATALOADER_CALLABLES, DATALOADERS, DURABLE_WRITES, FED_QUEUES, FORKS, FUTURE_MAKERS,
    GET_CONTEXT, LAZY_MAPS, PARTIALS, PICKLE_HOOKS, PICKLED_CALLABLES, SET_START_METHOD,
    UNPICKLABLE_TYPES,
)
from conclint.program.index import Where
from conclint.program.values import BoundLock, External, Func, Instance, NewLock

_CODES = {"thread": "CL201", "process": "CL202", "pool": "CL203", "executor": "CL203",
          "manager": "CL203"}
_ITEMS = {"thread": "threads", "process": "processes", "pool": "pools", "executor": "executors",
          "manager": "managers"}
_VERBS = {"thread": ("joined", "joins {it}"), "process": ("joined", "joins {it}"),
          "pool": ("closed", "closes {it}"), "executor": ("shut down", "shuts {it} down"),
          "manager": ("shut down", "shuts {it} down")}


def _what(handle: Handle) -> str:
    """"this thread", "this `Worker` thread", "this `Timer`", "this `Pool`"..."""
    if handle.cls is not None:
        return f"this `{handle.cls.rpartition('.')[2]}` {handle.kind}"
    name = handle.api.rpartition(".")[2]
    return f"this {handle.kind}" if name.lower() == handle.kind else f"this `{name}`"


def not_released(analyses: Analyses) -> Iterator[Finding]:
    """CL201/CL202/CL203: a handle that no path releases."""
    handles = analyses.handles
    for handle in handles.handles:
        if handle.call.discarded:  # ``Pool(0)`` alone: a test that the constructor fails
            continue
        if handle.kind in ("thread", "process") and handle.where.function.name == "<module>":
            continue  # a script's threads and processes are joined when the interpreter exits
        if handle.kind == "thread" and handles.daemon_flag(handle) is not False:
            continue
        fate = handles.creation_fate(handle, releases_of(handle, handles))
        if fate.status != LEAKED:
            continue
        if handle.kind in ("thread", "process") and not handles.is_started(handle):
            continue
        verb, verbs = _VERBS[handle.kind]
        why = fate.note.format(verb=verb, verbs_it=verbs.format(it="it"),
                               verbs_them=verbs.format(it="them"), items=_ITEMS[handle.kind])
        if handle.kind == "thread":
            message = (f"{_what(handle)} is started but never joined: {why}; nothing "
                       "waits for it to finish or notices it die (keep the handle and `join()` "
                       "it, or make it a daemon if it may be abandoned at exit)")
        elif handle.kind == "process":
            message = (f"{_what(handle)} is started but never joined: {why}; it "
                       "lingers as a zombie and its exit code is never checked (`join()` it)")
        else:
            message = (f"{_what(handle)} is never {verb}: {why}; its workers outlive their "
                       "use (create it in a `with` block, or release it in a `finally`)")
        where = handle.where
        yield finding(_CODES[handle.kind], where.module.path, handle.call.loc, message,
                      fate.steps)


def future_exception_lost(analyses: Analyses) -> Iterator[Finding]:
    """CL204: futures and async results nobody checks; ``Executor.map`` never consumed."""
    handles, lifecycle = analyses.handles, analyses.lifecycle
    for where in lifecycle.with_api_calls():
        for call, _, api in lifecycle.api_calls(where):
            if api in FUTURE_MAKERS:
                if any(a.keyword == "error_callback" for a in call.args) \
                        or _handles_its_errors(analyses, where, call):
                    continue
                fate = handles.creation_fate(Handle(where, call, api, "future"),
                                             FUTURE_MAKERS[api])
                if fate.status != LEAKED:
                    continue
                why = "it is discarded" if call.discarded else fate.note.format(
                    verb="checked", verbs_it="checks it", verbs_them="checks them",
                    items="results")
                if api.startswith("multiprocessing"):
                    advice = "call `.get()` on it, or pass `error_callback=`"
                else:
                    advice = ("call `.result()`, or hand the futures to "
                              "`concurrent.futures.wait()`/`as_completed()`")
                yield finding(
                    "CL204", where.module.path, call.loc,
                    f"the result of `{call.callee}()` is never checked: {why}; an exception "
                    f"raised by the task is swallowed silently ({advice})", fate.steps)
            elif api in LAZY_MAPS and not _consumed(where, call):
                instead = "`map()`" if api.startswith("multiprocessing") else "`submit()`"
                yield finding(
                    "CL204", where.module.path, call.loc,
                    f"the iterator returned by `{call.callee}()` is never consumed; the tasks "
                    "run, but their exceptions surface only while iterating the results, so "
                    f"they are lost (iterate it, e.g. `for _ in ...: pass`, or use {instead})")


def _handles_its_errors(analyses: Analyses, where: Where, call: Call) -> bool:
    """The submitted function wraps its whole body in ``try: ... except Exception:``."""
    task = argument(call, 0, "fn") or argument(call, 0, "func")
    value = analyses.program.resolve(where, task.text) if task and task.text else None
    return isinstance(value, Func) and analyses.program.functions[value.qualname].function \
        .catches_all


def _consumed(where: Where, call: Call) -> bool:
    if call.discarded:
        return False
    name = call.target
    if name is None or not is_name(name):
        return True
    fn = where.function
    return bool(fn.uses.get(name)) or any(c == name for _, c, _ in fn.loop_vars) or any(
        c.callee.startswith(name + ".") for c in fn.calls)


def join_before_drain(analyses: Analyses) -> Iterator[Finding]:
    """CL205: a child that puts to a multiprocessing queue is joined before it is drained."""
    lifecycle = analyses.lifecycle
    for where in lifecycle.with_api_calls():
        fn = where.function
        queues = {
            call.target: call for call, _, api in lifecycle.api_calls(where)
            if api in FED_QUEUES and call.target and is_name(call.target)
            and not _via_manager(fn.locals, call.callee)
        }
        if not queues:
            continue
        for handle in lifecycle.handles_in(where):
            if handle.kind != "process":
                continue
            for queue, put in _queues_put_by_child(analyses, handle, queues):
                gets = [c.loc for c in fn.calls if c.callee in (f"{queue}.get",
                                                                 f"{queue}.get_nowait")]
                joins = _joins(analyses, handle)
                if not joins or not gets:
                    continue
                join = min(joins)
                if min(gets) < join:
                    continue
                path = where.module.path
                yield finding(
                    "CL205", path, join,
                    f"this `join()` waits for a process that puts to `{queue}` before the "
                    f"parent reads `{queue}`: a child does not exit until its queued data is "
                    "flushed to the pipe, so once the data exceeds the pipe buffer both wait "
                    f"forever (drain `{queue}` first, then join)",
                    (Step(path, queues[queue].loc, f"`{queue}` is a multiprocessing queue"),
                     Step(path, handle.call.loc, "the child process is created here"),
                     put,
                     Step(path, min(gets), f"`{queue}` is read only here, after the join")))


def _via_manager(locals_: dict[str, str], callee: str) -> bool:
    """``manager.Queue()``: a manager's queue has no feeder thread, so joining is safe."""
    text = callee
    for _ in range(4):
        if "Manager()" in text:
            return True
        head = text.split(".", 1)[0].split("(", 1)[0]
        text = locals_.get(head, "")
    return False


def _queues_put_by_child(analyses: Analyses, handle: Handle,
                         queues: dict[str, Call]) -> Iterator[tuple[str, Step]]:
    """Queues of ``queues`` passed to the child's target, which puts to them."""
    where, call = handle.where, handle.call
    target = argument(call, 1, "target")
    args = argument(call, 2, "args")
    if target is None or target.text is None or args is None:
        return
    value = analyses.program.resolve(where, target.text)
    if not isinstance(value, Func):
        return
    child = analyses.program.functions[value.qualname]
    offset = 1 if child.function.cls is not None and "." in target.text \
        and "staticmethod" not in child.function.decorators else 0
    for index, item in enumerate(args.items):
        if item in queues and index + offset < len(child.function.params):
            put = _puts(analyses, child, child.function.params[index + offset], 0)
            if put is not None:
                yield item, put


def _puts(analyses: Analyses, where: Where, param: str, depth: int) -> Step | None:
    """Where ``where`` (or a function it passes ``param`` to) puts to ``param``."""
    for call, target in analyses.calls.resolved(where.qualname):
        if call.callee in (f"{param}.put", f"{param}.put_nowait"):
            return Step(where.module.path, call.loc, "the child puts to the queue here")
        if depth < 3 and target.function is not None and any(
            a.text == param and a.keyword is None for a in call.args
        ):
            callee = analyses.program.functions[target.function]
            index = [a.text for a in call.args if a.keyword is None].index(param)
            offset = 1 if callee.function.cls is not None and target.receiver else 0
            if index + offset < len(callee.function.params):
                found = _puts(analyses, callee, callee.function.params[index + offset],
                              depth + 1)
                if found is not None:
                    return found
    return None


def _joins(analyses: Analyses, handle: Handle) -> list[int]:
    """Unbounded ``join()`` calls on the process in its function (directly or in a loop)."""
    where, call = handle.where, handle.call
    fn = where.function
    names: set[str] = set()
    if call.target is not None and is_name(call.target):
        names.add(call.target)
        sinks = fn.uses.get(call.target, set())
    else:
        sinks = {call.sink} if call.sink else set()
    containers = set()
    for sink in sinks:
        if sink[0] == "[":
            containers.add(sink[1:])
        elif sink[0] == "(":
            found = analyses.handles.call_at(where, int(sink[1:]))
            if found is not None and found[0].callee.endswith(".append"):
                containers.add(found[0].callee.rpartition(".")[0])
    names.update(var for var, source, _ in fn.loop_vars if source in containers)
    return [c.loc for c in fn.calls
            if c.callee.endswith(".join") and c.callee[:-5] in names and not c.args]


def missing_main_guard(analyses: Analyses) -> Iterator[Finding]:
    """CL206: module-level code that starts processes, outside the ``__main__`` guard."""
    program, lifecycle = analyses.program, analyses.lifecycle
    tail = ("; a spawned or forkserver child re-imports this module and runs it again "
            "(RuntimeError: bootstrapping phase, or a fork bomb) -- move it under "
            "`if __name__ == \"__main__\":`")
    for module in program.modules.values():
        top = program.where(f"{module.module}.<module>")
        guards = module.main_guards

        def guarded(loc: int) -> bool:
            return any(first < loc <= last for first, last in guards)

        for event in lifecycle.process_events(top):
            if not guarded(event.loc):
                yield finding("CL206", module.path, event.loc,
                              f"module-level code {event.what} at import time{tail}")
        for edge in analyses.calls.out_edges.get(top.qualname, []):
            if guarded(edge.call.loc):
                continue
            reached = lifecycle.process_starts.reached(edge.callee)
            if not reached:
                continue
            what = sorted(reached)[0]
            name = edge.callee.rpartition(".")[2]
            yield finding(
                "CL206", module.path, edge.call.loc,
                f"`{name}()` is called at import time and {what}{tail}",
                lifecycle.process_starts.witness(edge.callee, what))


def unpicklable_process_callable(analyses: Analyses) -> Iterator[Finding]:
    """CL207: lambdas, nested functions and unpicklable bound methods sent to a child."""
    lifecycle = analyses.lifecycle
    fork_contexts = _fork_choices(analyses)
    if "<program>" in fork_contexts:
        return
    for where in lifecycle.with_api_calls():
        if where.qualname in fork_contexts or f"{where.module.module}.<module>" in fork_contexts:
            continue
        for call, _, api in lifecycle.api_calls(where):
            spec = PICKLED_CALLABLES.get(api)
            if spec is not None:
                args = [argument(call, *spec)]
            elif api in DATALOADERS and has_workers(call) and not _fork_loader(call):
                args = [argument(call, *position) for position in DATALOADER_CALLABLES]
            else:
                continue
            for arg in args:
                reason = _unpicklable(analyses, where, call, arg, 0) if arg else None
                if reason is None:
                    continue
                yield finding(
                    "CL207", where.module.path, call.loc,
                    f"{reason} is passed to `{call.callee}()`, which pickles it to send it to "
                    "a child process; under the spawn and forkserver start methods (macOS, "
                    "Windows, and Linux from Python 3.14) this fails with a pickling error "
                    "(use a module-level function, or `functools.partial` of one)")


def _fork_choices(analyses: Analyses) -> set[str]:
    """Functions that choose the fork start method explicitly (``get_context("fork")``);
    "<program>" when ``set_start_method("fork")`` is called anywhere."""
    chosen: set[str] = set()
    lifecycle = analyses.lifecycle
    for where in lifecycle.with_api_calls():
        for call, _, api in lifecycle.api_calls(where):
            if api in SET_START_METHOD | {GET_CONTEXT} and call.args \
                    and call.args[0].const == "fork":
                chosen.add("<program>" if api in SET_START_METHOD else where.qualname)
    return chosen


def _fork_loader(call: Call) -> bool:
    context = argument(call, None, "multiprocessing_context")
    return context is not None and (context.const == "fork" or "fork" in (context.text or ""))


def _unpicklable(analyses: Analyses, where: Where, call: Call, arg: Arg,
                 depth: int) -> str | None:
    """Why the callable ``arg`` cannot be pickled by reference (None: it can, or unknown)."""
    program = analyses.program
    if arg.kind == "lambda":
        return "a lambda"
    if arg.kind == "call" and arg.text and depth < 2:
        inner = next((c for c, _, api in analyses.lifecycle.api_calls(where)
                      if c.sink == f"({call.loc}" and f"{c.callee}()" == arg.text
                      and api in PARTIALS), None)
        if inner is not None and inner.args:
            reason = _unpicklable(analyses, where, inner, inner.args[0], depth + 1)
            return f"`functools.partial` of {reason}" if reason else None
        return None
    if arg.kind != "name" or not arg.text:
        return None
    value = program.resolve(where, arg.text)
    if not isinstance(value, Func):
        return None
    if "<lambda" in value.qualname:
        return f"`{arg.text}`, a lambda,"
    if "<locals>" in value.qualname:
        return f"the nested function `{arg.text}`"
    receiver = arg.text.rpartition(".")[0]
    method = program.functions[value.qualname].function
    if not receiver or method.cls is None or {"staticmethod", "classmethod"} & set(
        method.decorators
    ):
        return None
    owner = program.resolve(where, receiver)
    if not isinstance(owner, Instance) or not owner.in_tree:
        return None
    state = _unpicklable_state(analyses, owner.type)
    return f"the bound method `{arg.text}` (its object holds {state})" if state else None


def _unpicklable_state(analyses: Analyses, cls: str) -> str | None:
    """An attribute of ``cls`` pickle refuses (a thread lock, a thread, a socket...)."""
    program = analyses.program
    mro = program.mro(cls)
    if program.external_bases(cls) or any(
        program.method(owner, hook) for owner in mro for hook in PICKLE_HOOKS
    ):
        return None  # an external base may define how it pickles
    for owner in mro:
        module, klass = program.classes[owner]
        for attr, text in sorted(klass.attrs.items()):
            scope = program.functions.get(f"{module.module}.{klass.attr_scope[attr]}")
            if scope is None:
                continue
            value = program.resolve(scope, text)
            kind = value.kind.factory if isinstance(value, NewLock) else (
                value.lock.kind.factory if isinstance(value, BoundLock) else None)
            if kind is not None and kind.startswith("threading."):
                return f"`self.{attr}`, a `{kind}`"
            if isinstance(value, Instance) and value.type in UNPICKLABLE_TYPES:
                return f"`self.{attr}`, a `{value.type}`"
    return None


def fork_with_threads(analyses: Analyses) -> Iterator[Finding]:
    """CL208: ``os.fork()`` (or an explicit fork start) while started threads may run."""
    lifecycle, program = analyses.lifecycle, analyses.program
    fork_contexts = _fork_choices(analyses)
    for where in program.iter_functions():
        forks = [(call.loc, f"`{call.callee}()`")
                 for call, _, api in lifecycle.api_calls(where) if api in FORKS]
        if where.qualname in fork_contexts or "<program>" in fork_contexts:
            forks.extend((start_loc(h), "a process started with the fork method")
                         for h in lifecycle.handles_in(where)
                         if h.kind == "process" or h.api == "multiprocessing.pool.Pool")
        if not forks:
            continue
        threads = lifecycle.thread_events(where)
        branches = where.function.exclusive_ifs
        for loc, what in forks:
            steps = [Step(where.module.path, event.loc, f"{event.what} here")
                     for event, released in threads
                     if event.loc < loc and (released is None or released > loc)
                     and not _exclusive(branches, event.loc, loc)]
            for edge in analyses.calls.out_edges.get(where.qualname, []):
                if edge.call.loc < loc and not steps \
                        and not _exclusive(branches, edge.call.loc, loc):
                    reached = lifecycle.threads_left.reached(edge.callee)
                    if reached:
                        key = sorted(reached)[0]
                        steps = lifecycle.threads_left.witness(edge.callee, key)
            if steps:
                yield finding(
                    "CL208", where.module.path, loc,
                    f"{what} forks while a thread started earlier may still be running; the "
                    "child gets a copy of every lock that thread held, locked forever "
                    "(deadlocks in logging, allocators, tokenizers, CUDA), and Python 3.12+ "
                    "warns about it (fork before starting threads, or use spawn/forkserver)",
                    steps)


def _exclusive(branches: list[tuple[int, int, int]], earlier: int, later: int) -> bool:
    """Are the two points on different branches of one ``if`` (or is the earlier one in a
    branch that leaves the function)?"""
    return any(first < earlier <= middle < later <= last for first, middle, last in branches)


def daemon_thread_unflushed_write(analyses: Analyses) -> Iterator[Finding]:
    """CL209: a daemon thread that writes durable data and is never waited for."""
    handles, lifecycle = analyses.handles, analyses.lifecycle
    for handle in handles.handles:
        if handle.kind != "thread" or handles.daemon_flag(handle) is not True:
            continue
        if not handles.is_started(handle):
            continue
        if handles.creation_fate(handle, releases_of(handle, handles)).status != LEAKED:
            continue
        target = _thread_target(analyses, handle)
        if isinstance(target, External):  # Thread(target=torch.save, ...)
            if target.name not in DURABLE_WRITES:
                continue
            name, what, steps = target.name, f"writes with `{target.name}()`", []
        elif target is not None and not lifecycle.handshakes.reached(target):
            writes = lifecycle.writes.reached(target)
            if not writes:
                continue
            what = sorted(writes)[0]
            name, steps = target.rpartition(".")[2], lifecycle.writes.witness(target, what)
            what = f"which {what}"
        else:
            continue
        yield finding(
            "CL209", handle.where.module.path, handle.call.loc,
            f"this daemon thread runs `{name}()`, {what}, and nothing waits for it: at "
            "interpreter exit daemon threads are stopped abruptly, so a checkpoint or file "
            "may be left half-written (join it before exiting, e.g. in `close()` or an "
            "`atexit` hook)", steps)


def _thread_target(analyses: Analyses, handle: Handle) -> str | External | None:
    """What a thread runs: an analysed function (``target=``/``function=``, or ``run``), or
    an external API."""
    program = analyses.program
    keyword = "function" if handle.api == "threading.Timer" else "target"
    arg = argument(handle.call, 1, keyword) if handle.cls is None else None
    if arg is not None and arg.text is not None:
        value = program.resolve(handle.where, arg.text)
        if isinstance(value, Func):
            return value.qualname
        return value if isinstance(value, External) else None
    if handle.cls is not None:
        return program.method(handle.cls, "run")
    return None


CHECKS = (
    (("CL201", "CL202", "CL203"), not_released),
    (("CL204",), future_exception_lost),
    (("CL205",), join_before_drain),
    (("CL206",), missing_main_guard),
    (("CL207",), unpicklable_process_callable),
    (("CL208",), fork_with_threads),
    (("CL209",), daemon_thread_unflushed_write),
)
