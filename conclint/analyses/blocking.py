"""Calls that can block the thread indefinitely, per function and through call chains."""

from __future__ import annotations

from dataclasses import dataclass

from conclint.analyses.calls import CallGraph
from conclint.analyses.held import HeldLocks
from conclint.analyses.lockgraph import call_step
from conclint.analyses.reach import Reach
from conclint.diagnostics import Step
from conclint.extract.facts import Call
from conclint.knowledge import BLOCKING, Blocking
from conclint.program.index import CallTarget, Program, Where
from conclint.program.values import BoundLock


@dataclass(frozen=True, slots=True)
class BlockKey:
    """What blocks; ``releases`` names the Condition whose ``wait()`` releases it meanwhile."""

    what: str
    releases: str | None = None


def bounded_queue(program: Program, where: Where, receiver: str) -> bool:
    """Created with a positive ``maxsize`` (the first argument): only then can put block."""
    created = program.creation(where, receiver) if receiver else None
    if created is None:
        return False
    size = next((a for a in created.args if a.keyword == "maxsize"), None)
    if size is None and created.args and created.args[0].keyword is None:
        size = created.args[0]
    if size is None:
        return False
    return not (size.kind == "const" and isinstance(size.const, int) and size.const <= 0)


def bounded(call: Call, spec: Blocking) -> bool:
    """True when the arguments bound the wait (a timeout) or make it non-blocking."""
    positional = [a for a in call.args if a.keyword is None]
    for arg in call.args:
        if arg.keyword in spec.nonblocking_keywords:
            return True
        if spec.block_flag is not None and arg.keyword == spec.block_flag and arg.const is False:
            return True
    if spec.timeout_position is not None and len(positional) > spec.timeout_position:
        return True
    if spec.block_flag is not None and len(positional) > spec.block_position:
        flag = positional[spec.block_position]
        if flag.kind == "const" and flag.const is False:
            return True
    return False


class BlockingCalls:
    """Direct blocking calls and the ``Reach`` summary of them."""

    def __init__(self, program: Program, calls: CallGraph, held: HeldLocks,
                 declared: frozenset[str] = frozenset()) -> None:
        """``declared``: names the user declared blocking (``blocking-calls``)."""
        self.program = program
        self.held = held
        self.declared = declared
        direct: dict[str, dict[BlockKey, Step]] = {}
        self.sites: dict[str, list[tuple[Call, BlockKey]]] = {}
        for where in program.iter_functions():
            found: dict[BlockKey, Step] = {}
            sites = []
            for call, target in calls.resolved(where.qualname):
                key = self.classify(where, call, target)
                if key is not None:
                    sites.append((call, key))
                    found.setdefault(key, Step(where.module.path, call.loc, f"calls {key.what}"))
            if found:
                direct[where.qualname] = found
                self.sites[where.qualname] = sites
        self.reach: Reach[BlockKey] = Reach(
            calls, direct, lambda edge, key: key, lambda e: call_step(program, e))

    def classify(self, where: Where, call: Call, target: CallTarget) -> BlockKey | None:
        name = target.external
        declared = name if name in self.declared else target.function
        if declared in self.declared:
            return BlockKey(f"`{declared}()` (declared blocking in `blocking-calls`)")
        if name is None:
            return None
        receiver = target.receiver or name.rpartition(".")[0]
        if name.endswith((".wait", ".wait_for")) and ".Condition." in name:
            if len(call.args) > (1 if name.endswith("wait_for") else 0) or any(
                a.keyword == "timeout" for a in call.args
            ):
                return None
            value = self.program.resolve(where, target.receiver) if target.receiver else None
            lock = value.lock.name if isinstance(value, BoundLock) else None
            return BlockKey(f"`{receiver}.{name.rpartition('.')[2]}()`", lock)
        spec = BLOCKING.get(name)
        if spec is None or bounded(call, spec):
            return None
        if name.endswith(".put") and not bounded_queue(self.program, where, target.receiver):
            return None  # an unbounded queue never blocks a put
        return BlockKey(spec.what.format(recv=receiver))
