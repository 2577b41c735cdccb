"""Is every blocking ``X.acquire()`` statement followed by a guaranteed ``X.release()``?

Runs only on functions that call ``acquire`` (the walker flags them), over the statement
lists of one function body. Acceptable shapes: ``X.acquire()`` followed by ``try:`` whose
``finally`` releases X; the acquire inside a ``try`` body whose ``finally`` releases X; a
straight run to ``X.release()`` with nothing in between that can raise or leave. A function
that never releases X is a lock wrapper (``__enter__``), not a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import libcst as cst

from conclint.extract.facts import Loc, ReleaseIssue
from conclint.extract.text import is_try_acquire, lock_method_call

LocOf = Callable[[cst.CSTNode], Loc]
_SCOPES = frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda})
_EXITS = frozenset({cst.Return, cst.Raise, cst.Break, cst.Continue})


def check_releases(body: cst.BaseSuite, loc_of: LocOf) -> list[ReleaseIssue]:
    """Issues for the blocking ``acquire()`` statements of one function body.

    Only an acquire whose next operation on the same lock in the function is a
    ``release()`` uses the lock as a mutex. One followed by nothing hands the lock off (a
    wrapper such as ``__enter__``, a re-acquire that restores ownership); one followed by
    another ``acquire()`` waits for a different thread to release it (a signal).
    """
    ops = sorted(
        (loc_of(call), method, text)
        for method in ("acquire", "release")
        for text, call in _lock_calls(body, method)
    )
    issues: list[ReleaseIssue] = []
    if any(method == "release" for _, method, _ in ops):
        _check_block(_statements(body), (), frozenset(), frozenset(), ops, loc_of, issues)
    return issues


def _used_as_mutex(ops: list[tuple[Loc, str, str]], lock: str, at: Loc) -> bool:
    following = next((method for loc, method, text in ops if loc > at and text == lock), None)
    return following == "release"


def _statements(suite: cst.BaseSuite) -> Sequence[cst.BaseStatement]:
    if type(suite) is cst.IndentedBlock:
        return suite.body
    return [cst.SimpleStatementLine(body=suite.body)] if type(suite) is cst.SimpleStatementSuite else []


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under ``node`` that runs in the same function (nested scopes skipped)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in reversed(current.children) if type(c) not in _SCOPES)


def _lock_calls(node: cst.CSTNode, method: str) -> Iterator[tuple[str, cst.Call]]:
    """``X.method(...)`` calls under ``node``: (receiver text, call)."""
    for sub in _walk(node):
        if isinstance(sub, cst.BaseExpression):
            found = lock_method_call(sub, method)
            if found is not None:
                yield found


def _released(node: cst.CSTNode) -> frozenset[str]:
    return frozenset(text for text, _ in _lock_calls(node, "release"))


def _blocking_acquire(stmt: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    if type(stmt) is not cst.SimpleStatementLine or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if type(small) is not cst.Expr:
        return None
    acquired = lock_method_call(small.value, "acquire")
    return None if acquired is None or is_try_acquire(acquired[1]) else acquired


def _finally_releases(stmt: cst.CSTNode) -> frozenset[str]:
    if type(stmt) in (cst.Try, cst.TryStar) and stmt.finalbody is not None:
        return _released(stmt.finalbody)
    return frozenset()


def _else_releases(stmt: cst.CSTNode) -> frozenset[str]:
    """``try: X.acquire() except ...: ... else: X.release()`` releases what the body took."""
    if type(stmt) in (cst.Try, cst.TryStar) and stmt.orelse is not None:
        return _released(stmt.orelse)
    return frozenset()


def _is_release_of(stmt: cst.BaseStatement, lock: str) -> bool:
    if type(stmt) is cst.SimpleStatementLine:
        return any(type(s) is cst.Expr and lock in _released(s) for s in stmt.body)
    return False


def _check_block(
    stmts: Sequence[cst.BaseStatement],
    after: Sequence[cst.BaseStatement],
    protected: frozenset[str],
    last_ok: frozenset[str],
    ops: list[tuple[Loc, str, str]],
    loc_of: LocOf,
    issues: list[ReleaseIssue],
) -> None:
    """``after``: what runs once this block falls through (the rest of the enclosing
    blocks); ``protected``: released by an enclosing ``finally``; ``last_ok``: released by
    the ``else`` of the ``try`` whose body this is, if the acquire is its last statement."""
    for i, stmt in enumerate(stmts):
        acquired = _blocking_acquire(stmt)
        if acquired is not None:
            lock, call = acquired
            at = loc_of(call)
            if lock in protected or (i == len(stmts) - 1 and lock in last_ok):
                continue
            if not _used_as_mutex(ops, lock, at):
                continue
            following = stmts[i + 1] if i + 1 < len(stmts) else None
            if following is None or lock not in _finally_releases(following):
                issue = _diagnose(lock, call, [*stmts[i + 1:], *after], loc_of)
                if issue is not None:
                    issues.append(issue)
            continue
        inner = protected | _finally_releases(stmt)
        rest = [*stmts[i + 1:], *after]
        for suite, else_released in _suites(stmt):
            _check_block(_statements(suite), rest, inner, else_released, ops, loc_of, issues)


def _suites(stmt: cst.BaseStatement) -> Iterator[tuple[cst.BaseSuite, frozenset[str]]]:
    """The blocks nested in a compound statement (same function), each with what the
    ``else`` of its ``try`` releases."""
    none: frozenset[str] = frozenset()
    if type(stmt) is cst.If:
        yield stmt.body, none
        if type(stmt.orelse) is cst.If:
            yield from _suites(stmt.orelse)
        elif stmt.orelse is not None:
            yield stmt.orelse.body, none
    elif type(stmt) in (cst.For, cst.While):
        yield stmt.body, none
        if stmt.orelse is not None:
            yield stmt.orelse.body, none
    elif type(stmt) is cst.With:
        yield stmt.body, none
    elif type(stmt) in (cst.Try, cst.TryStar):
        yield stmt.body, _else_releases(stmt)
        for handler in stmt.handlers:
            yield handler.body, none
        if stmt.orelse is not None:
            yield stmt.orelse.body, none
        if stmt.finalbody is not None:
            yield stmt.finalbody.body, none
    elif type(stmt) is cst.Match:
        for case in stmt.cases:
            yield case.body, none


def _diagnose(
    lock: str, call: cst.Call, rest: Sequence[cst.BaseStatement], loc_of: LocOf
) -> ReleaseIssue | None:
    loc = loc_of(call)

    def where(node: cst.CSTNode) -> Loc:
        return loc_of(node.body[0] if type(node) is cst.SimpleStatementLine else node)

    for j, stmt in enumerate(rest):
        if _is_release_of(stmt, lock) or lock in _finally_releases(stmt):
            between = rest[:j]
            for node in (n for s in between for n in _walk(s)):
                if type(node) in _EXITS:
                    keyword = type(node).__name__.lower()
                    return ReleaseIssue(
                        lock, loc,
                        f"`{keyword}` before `{lock}.release()` leaves the lock held",
                        where(node),
                    )
            for node in (n for s in between for n in _walk(s)):
                if type(node) is cst.Call:
                    return ReleaseIssue(
                        lock, loc,
                        f"an exception raised between `{lock}.acquire()` and `{lock}.release()` "
                        "leaves the lock held; use `with` or try/finally",
                        where(stmt),
                    )
            return None
        if lock in _released(stmt):
            return ReleaseIssue(
                lock, loc,
                f"`{lock}.release()` is not reached on every path (it is inside a branch)",
                where(stmt),
            )
    return ReleaseIssue(
        lock, loc, f"`{lock}.release()` does not follow on this path", None
    )
