"""The rule catalogue in code: every code, its name, family, severity and default."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = {
    "0": "the tool itself",
    "1": "deadlocks and lock misuse",
    "2": "thread, process and pool lifecycle",
    "3": "shared state and data races",
    "4": "asyncio",
    "5": "ML frameworks",
}


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: str
    summary: str
    default: bool = True

    @property
    def family(self) -> str:
        return FAMILIES[self.code[2]]


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("CL001", "parse-error", "error", "a file could not be read, decoded or parsed"),
        Rule("CL002", "internal-error", "error", "conclint failed on one file or rule"),
        Rule("CL003", "unknown-suppression", "warning",
             "a suppression comment names an unknown rule or is malformed or misplaced"),
        Rule("CL004", "unused-suppression", "warning",
             "a suppression comment suppresses nothing (with `--warn-unused-ignores`)",
             default=False),
        Rule("CL101", "lock-order-inversion", "error",
             "two or more locks are acquired in opposite orders (a cycle in the lock graph)"),
        Rule("CL102", "self-deadlock", "error",
             "a non-reentrant lock is acquired again while already held"),
        Rule("CL103", "acquire-without-release", "warning",
             "`acquire()` whose `release()` is not guaranteed on every path"),
        Rule("CL104", "blocking-call-under-lock", "warning",
             "a call that can block indefinitely is made while holding a lock"),
        Rule("CL105", "condition-wait-not-in-loop", "warning",
             "`Condition.wait()` outside a predicate loop, or wait/notify without the lock"),
        Rule("CL106", "useless-lock", "warning",
             "a lock created where it is used protects nothing"),
        # asyncio (conclint/checks/coroutines.py)
        Rule("CL401", "blocking-call-in-async", "warning",
             "a call that blocks the event loop inside `async def`, directly or through calls"),
        Rule("CL402", "dangling-task", "warning",
             "the task made by `create_task`/`ensure_future` is dropped"),
        Rule("CL403", "thread-lock-in-coroutine", "error",
             "a threading lock held across `await`, or taken in a coroutine while a thread "
             "holds it across a blocking call"),
        Rule("CL404", "executor-given-call-result", "error",
             "an executor or `to_thread` is given the result of a call instead of a function"),
        # ML frameworks
        Rule("CL501", "rank-conditional-collective", "error",
             "a torch.distributed collective reached on some ranks only (rank-dependent "
             "branch or early exit)"),
        Rule("CL502", "cuda-in-forked-worker", "error",
             "CUDA used in a DataLoader worker or a fork-started child process"),
        Rule("CL503", "worker-rng-duplication", "warning",
             "every worker process draws the same random numbers (a copied or "
             "constant-seeded RNG)"),
        Rule("CL504", "process-group-not-destroyed", "warning",
             "`init_process_group()` without `destroy_process_group()` on every path"),
        Rule("CL505", "iterable-dataset-not-sharded", "warning",
             "an IterableDataset that yields everything in every DataLoader worker"),
    )
}

# --- lifecycle and multiprocessing (CL2xx) ---------------------------------------------
RULES.update({
    rule.code: rule
    for rule in (
        Rule("CL201", "thread-not-joined", "error",
             "a non-daemon thread is started and no path joins it"),
        Rule("CL202", "process-not-joined", "error",
             "a process is started and never joined"),
        Rule("CL203", "pool-not-shutdown", "error",
             "a pool, executor or manager is never closed or shut down"),
        Rule("CL204", "future-exception-lost", "error",
             "a future or async result whose exception is never retrieved"),
        Rule("CL205", "join-before-queue-drained", "error",
             "a process that puts to a queue is joined before the queue is drained"),
        Rule("CL206", "missing-main-guard", "error",
             "processes started at import time, outside `if __name__ == \"__main__\":`"),
        Rule("CL207", "unpicklable-process-callable", "error",
             "a lambda, nested function or unpicklable bound method sent to a child process"),
        Rule("CL208", "fork-with-threads", "warning",
             "the process forks while threads it started may still run"),
        Rule("CL209", "daemon-thread-unflushed-write", "warning",
             "a daemon thread writes durable data that nobody waits for before exit"),
    )
})

# CL3xx: shared state and data races (checks/races.py).
RULES.update({
    rule.code: rule
    for rule in (
        Rule("CL301", "unguarded-shared-state", "warning",
             "a variable written in one thread and used in another with no common lock"),
        Rule("CL302", "inconsistent-locking", "warning",
             "state written under its owner's lock in one place and without it in another"),
        Rule("CL303", "check-then-act", "warning",
             "shared state tested, then changed, without a lock held across both"),
        Rule("CL304", "non-atomic-update", "warning",
             "`x += 1` or another read-modify-write of shared state without a lock"),
        Rule("CL305", "lost-update-in-child-process", "warning",
             "a child process changes state that the parent reads: the change never arrives"),
        Rule("CL306", "guarded-by-violation", "error",
             "state declared `# conclint: guarded-by=<lock>` used without that lock"),
    )
})

BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES.values()}
