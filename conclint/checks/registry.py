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
    )
}

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
