"""Code that runs in a forked child: DataLoader worker code and process/pool targets.

For each ``DataLoader(...)``: whether it may start worker processes by fork (``num_workers``
not a literal 0, no spawn/forkserver context, no program-wide ``set_start_method`` away
from fork), which analysed dataset classes it is given (through locals, attributes and the
callers' arguments), its ``collate_fn`` and ``worker_init_fn``. For each
``Process(target=f)`` and ``pool.map(f, ...)``: the start method of the context it comes
from and the function it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from conclint import knowledge_ml as ml
from conclint.analyses.calls import CallGraph
from conclint.extract.facts import Arg, Call
from conclint.program.index import Program, Where
from conclint.program.values import Func, Instance, Param

# DataLoader's positional parameters, in order (torch.utils.data.DataLoader.__init__).
_LOADER_PARAMS = ("dataset", "batch_size", "shuffle", "sampler", "batch_sampler",
                  "num_workers", "collate_fn", "pin_memory", "drop_last", "timeout",
                  "worker_init_fn", "multiprocessing_context")


@dataclass(frozen=True, slots=True)
class Loader:
    """A DataLoader that may run its dataset in worker processes."""

    where: Where
    call: Call
    workers: str  # how the message shows num_workers: "num_workers=4", "num_workers=args.workers"
    datasets: tuple[str, ...]  # analysed classes of the dataset objects it is given
    collate_fn: str | None
    worker_init_fn: str | None
    has_worker_init: bool  # a worker_init_fn is given (resolved or not)
    fork: bool  # the workers are started by fork (they inherit the parent's CUDA state)
    count: int | None = None  # num_workers when it is a literal


@dataclass(frozen=True, slots=True)
class ForkSite:
    """A function started in a forked child: ``Process(target=f)`` or ``pool.map(f, ...)``."""

    where: Where
    call: Call  # the Process(...) or submitting call
    target: str  # qualified name of the function the child runs
    pool: bool
    creation: Call | None  # the Pool/executor creation, when found
    has_initializer: bool


def arg(call: Call, name: str, position: int | None) -> Arg | None:
    for item in call.args:
        if item.keyword == name:
            return item
    positional = [a for a in call.args if a.keyword is None]
    if position is not None and position < len(positional) and all(
            a.kind != "starred" for a in positional[:position + 1]):
        return positional[position]
    return None


def _loader_arg(call: Call, name: str) -> Arg | None:
    return arg(call, name, _LOADER_PARAMS.index(name))


class Workers:
    """Every DataLoader and fork site of the program, computed once."""

    def __init__(self, program: Program, calls: CallGraph) -> None:
        self.program = program
        self.calls = calls
        self._not_fork = self._not_fork_roots()
        self.loaders: list[Loader] = []
        self.forks: list[ForkSite] = []
        for where in calls.functions_calling({ml.DATALOADER, ml.PROCESS, *ml.POOL_SUBMITS}):
            for call, target in calls.resolved(where.qualname):
                name = target.external
                if name == ml.DATALOADER:
                    loader = self._loader(where, call)
                    if loader is not None:
                        self.loaders.append(loader)
                elif name == ml.PROCESS:
                    self._process(where, call)
                elif name in ml.POOL_SUBMITS:
                    self._submit(where, call, target.receiver, name.startswith("concurrent."))

    # ------------------------------------------------------------ start methods
    def _not_fork_roots(self) -> tuple[str, ...]:
        """Directories whose code runs under another default start method: the root of the
        package (or the folder of the script) that calls ``set_start_method("spawn")``."""
        roots = []
        for where in self.calls.functions_calling({ml.SET_START_METHOD}):
            for call, target in self.calls.resolved(where.qualname):
                if target.external == ml.SET_START_METHOD:
                    method = arg(call, "method", 0)
                    if method is None or method.const != "fork":
                        roots.append(_root_dir(where))
        return tuple(sorted(set(roots)))

    def start_method(self, where: Where, receiver: str) -> str:
        """"fork", "spawn", "forkserver", "default" or "unknown" for objects made from
        ``receiver`` (``multiprocessing``, ``ctx``, ``mp.get_context("spawn")``)."""
        if receiver.endswith("get_context()"):
            return self._context_call(where, receiver[:-2])
        found = self._assigned(where, receiver)
        if found is not None:
            scope, text = found
            if text.endswith("get_context()"):
                call = self.program.assignment_call(scope.qualname, receiver) or next(
                    (c for c in scope.function.calls if c.callee == text[:-2]), None)
                return _method_of(call) if call is not None else "unknown"
            return "unknown"
        return "default"

    def _context_call(self, where: Where, callee: str) -> str:
        call = next((c for c in where.function.calls if c.callee == callee), None)
        return _method_of(call) if call is not None else "unknown"

    def _assigned(self, where: Where, name: str) -> tuple[Where, str] | None:
        """Where ``name`` (a local, global or ``self`` attribute) was assigned, and the text."""
        fn = where.function
        if name in fn.locals:
            return where, fn.locals[name]
        head, _, attr = name.partition(".")
        if attr and fn.cls is not None and fn.params and head == fn.params[0]:
            cls_name = f"{where.module.module}.{fn.cls}"
            for owner in self.program.mro(cls_name):
                module, cls = self.program.classes[owner]
                if attr in cls.attrs:
                    scope = self.program.functions.get(
                        f"{module.module}.{cls.attr_scope[attr]}")
                    return (scope, cls.attrs[attr]) if scope is not None else None
            return None
        module = where.module
        if name in module.globals:
            return self.program.functions[f"{module.module}.<module>"], module.globals[name]
        return None

    def default_forks(self, where: Where) -> bool:
        """Fork is the default start method (Linux, Python < 3.14) unless the program that
        this code belongs to sets another one."""
        path = os.path.abspath(where.module.path)
        return not any(path.startswith(root) for root in self._not_fork)

    def is_fork(self, method: str, where: Where) -> bool:
        return method == "fork" or (method == "default" and self.default_forks(where))

    # ---------------------------------------------------------------- loaders
    def _loader(self, where: Where, call: Call) -> Loader | None:
        workers = _loader_arg(call, ml.NUM_WORKERS)
        starred = any(a.kind == "starred" for a in call.args)
        if workers is None and not starred:
            return None  # the default: no worker processes
        if workers is not None and workers.kind == "const":
            if not (isinstance(workers.const, int) and workers.const > 0):
                return None
            shown = f"num_workers={workers.const}"
        elif workers is not None:
            shown = f"num_workers={workers.text or '...'}"
        else:
            shown = "num_workers from `**kwargs`"
        context = _loader_arg(call, ml.MP_CONTEXT)
        method = "default"
        if context is not None and not (context.kind == "const" and context.const is None):
            if context.kind == "const":
                method = context.const if isinstance(context.const, str) else "unknown"
            elif context.text is not None:
                method = self.start_method(where, context.text)
                method = "unknown" if method == "default" else method
            else:
                method = "unknown"
        dataset = _loader_arg(call, "dataset")
        classes = tuple(self._classes(where, dataset.text, 0)) if dataset and dataset.text \
            else ()
        collate = self._function(where, _loader_arg(call, ml.COLLATE_FN))
        init_arg = _loader_arg(call, ml.WORKER_INIT_FN)
        init = self._function(where, init_arg)
        has_init = init_arg is not None and not (init_arg.kind == "const")
        count = workers.const if workers is not None and workers.kind == "const" else None
        return Loader(where, call, shown, classes, collate, init, has_init,
                      self.is_fork(method, where), count)

    def _classes(self, where: Where, text: str, depth: int) -> list[str]:
        """Analysed classes of the object ``text`` names (through one level of callers)."""
        value = self.program.resolve(where, text)
        if isinstance(value, Instance) and value.in_tree:
            return [value.type]
        if isinstance(value, Param) and depth == 0:
            out: list[str] = []
            for caller, passed in self.passed(value):
                for cls in self._classes(caller, passed, depth + 1):
                    if cls not in out:
                        out.append(cls)
            return out
        return []

    def passed(self, param: Param) -> list[tuple[Where, str]]:
        """What the analysed callers pass for ``param`` (as text in the caller)."""
        where = self.program.where(param.function)
        fn = where.function
        offset = 1 if fn.cls is not None and "staticmethod" not in fn.decorators else 0
        name = fn.params[param.index]
        out = []
        for edge in self.calls.callers(param.function):
            given = arg(edge.call, name, param.index - offset)
            if given is not None and given.text is not None and given.kind != "starred":
                out.append((self.program.where(edge.caller), given.text))
        return out

    def _function(self, where: Where, given: Arg | None) -> str | None:
        if given is None or given.text is None or given.kind not in ("name", "lambda"):
            return None
        value = self.program.resolve(where, given.text)
        return value.qualname if isinstance(value, Func) else None

    # ------------------------------------------------------------- processes
    def _process(self, where: Where, call: Call) -> None:
        target = self._function(where, arg(call, "target", 1))
        if target is None:
            return
        receiver = call.callee.rpartition(".")[0]
        method = self.start_method(where, receiver) if receiver else "default"
        if self.is_fork(method, where):
            self.forks.append(ForkSite(where, call, target, False, None, False))

    def _submit(self, where: Where, call: Call, receiver: str, executor: bool) -> None:
        target = self._function(where, arg(call, "func", 0) or arg(call, "fn", 0))
        if target is None or not receiver:
            return
        creation, scope = self._creation(where, receiver)
        if creation is None:
            method = "unknown"
        else:
            maker = creation.callee.rpartition(".")[0]
            method = self.start_method(scope, maker) if maker else "default"
            context = arg(creation, "mp_context", 1) if executor else arg(creation, "context", 4)
            if context is not None and context.text is not None:
                method = self.start_method(scope, context.text)
        if not self.is_fork(method, where):
            return
        has_init = creation is not None and arg(
            creation, "initializer", 2 if executor else 1) is not None
        self.forks.append(ForkSite(where, call, target, True, creation, has_init))

    def _creation(self, where: Where, receiver: str) -> tuple[Call | None, Where]:
        """The call that made the pool ``receiver`` names, and the function it is in."""
        found = self._assigned(where, receiver)
        if found is None:
            return None, where
        scope, text = found
        if not text.endswith("()"):
            return None, scope
        call = self.program.assignment_call(scope.qualname, receiver) or next(
            (c for c in scope.function.calls if c.callee == text[:-2]), None)
        return call, scope


def _method_of(call: Call) -> str:
    method = arg(call, "method", 0)
    if method is None:
        return "default"
    return method.const if method.kind == "const" and isinstance(method.const, str) \
        else "unknown"


def _root_dir(where: Where) -> str:
    """The folder of the top-level package of a module (of the file, for a script)."""
    module = where.module
    directory = os.path.dirname(os.path.abspath(module.path))
    depth = module.module.split("@")[0].count(".") + (1 if module.is_package else 0)
    for _ in range(depth):
        directory = os.path.dirname(directory)
    return directory + os.sep
