"""Fuzzing: generated programs and mutated fixtures never crash conclint, and what it
finds does not depend on the order of the files.

The budget is small and fixed (derandomised: the same examples every run, so CI is never
flaky); set ``CONCLINT_FUZZ_EXAMPLES=2000`` for a long, randomised exploration.
"""

from __future__ import annotations

import ast
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conclint.analyses.context import Analyses
from conclint.checks import ALL_CHECKS
from conclint.discover import discover
from conclint.checks.runner import run_checks
from conclint.engine import analyse
from conclint.extract.cache import FactsCache
from conclint.extract.facts import FileError, ModuleFacts
from conclint.extract.source import extract_source
from conclint.program.index import Program
from conclint.timings import Timings
from tests.helpers import ALL, FIXTURES

LONG = os.environ.get("CONCLINT_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(LONG) if LONG else 30, derandomize=not LONG, deadline=None,
                database=None, suppress_health_check=list(HealthCheck))


def whole_program_errors(facts: list[ModuleFacts]) -> list[str]:
    """Tracebacks of every rule that failed on these facts."""
    analyses = Analyses(Program(facts))
    return [trace for item in run_checks(analyses, ALL, ALL_CHECKS, Timings())
            if isinstance(item, tuple) for trace in item[1:]]


@FUZZ
@given(source=hypothesmith.from_grammar())
def test_any_valid_program_is_extracted_and_checked_without_error(source: str) -> None:
    result = extract_source("fuzz.py", source, "fuzz", False)
    assert not (isinstance(result, FileError) and result.kind != "parse"), result
    if isinstance(result, ModuleFacts):
        assert whole_program_errors([result]) == []


# --------------------------------------------------------------- concurrency programs
NAMES = st.sampled_from(["a", "b", "c"])


@st.composite
def statement(draw: st.DrawFn, depth: int, module: int, modules: int) -> list[str]:
    """One statement of a function body, lock-heavy: nested ``with``, manual acquire and
    release, calls within and across modules, blocking calls, condition waits, threads."""
    lock = draw(st.sampled_from(["LOCK_a", "LOCK_b", "self_lock", "COND"] +
                                [f"m{draw(st.integers(0, modules - 1))}.LOCK_a"]))
    lock = "self._lock" if lock == "self_lock" else lock
    callee = draw(st.sampled_from([f"f_{draw(NAMES)}", f"m{(module + 1) % modules}.f_a",
                                   f"m{(module + 1) % modules}.f_{draw(NAMES)}",
                                   "self.method", "Worker().method"]))
    kind = draw(st.sampled_from(["with", "call", "acquire", "block", "wait", "thread",
                                 "if", "loop", "lambda", "pass"] if depth < 3 else
                                ["call", "block", "wait", "pass"]))
    indent = "    " * (depth + 1)
    if kind in ("with", "if", "loop"):
        head = {"with": f"with {lock}:", "if": "if flag:", "loop": "while flag:"}[kind]
        body = [line for _ in range(draw(st.integers(1, 3)))
                for line in draw(statement(depth + 1, module, modules))]
        return [indent + head, *body]
    return [indent + {
        "call": f"{callee}()",
        "acquire": f"{lock}.acquire()\n{indent}try:\n{indent}    {callee}()\n"
                   f"{indent}finally:\n{indent}    {lock}.release()"
                   if draw(st.booleans()) else f"{lock}.acquire()",
        "block": draw(st.sampled_from(["Q.get()", "Q.put(1)", "time.sleep(1)",
                                       "EVENT.wait()", "Q.get(timeout=1)"])),
        "wait": "COND.wait()" if draw(st.booleans()) else "COND.notify()",
        "thread": f"threading.Thread(target={callee}).start()",
        "lambda": f"sorted(items, key=lambda x: {callee}())",
        "pass": "pass",
    }[kind]]


@st.composite
def program(draw: st.DrawFn) -> list[str]:
    """Two to four modules of threads, locks and calls between them."""
    modules = draw(st.integers(2, 4))
    sources = []
    for m in range(modules):
        lines = ["import queue", "import threading", "import time", "",
                 *(f"import m{o}" for o in range(modules) if o != m), "",
                 "LOCK_a = threading.Lock()", "LOCK_b = threading.RLock()",
                 "COND = threading.Condition(LOCK_a)", "EVENT = threading.Event()",
                 "Q = queue.Queue(maxsize=2)", "flag = True", "items = []", ""]
        for name in ("a", "b", "c"):
            lines += [f"def f_{name}():", *draw(statement(0, m, modules)), ""]
        lines += ["class Worker:", "    def __init__(self):",
                  "        self._lock = threading.Lock()", "",
                  "    def method(self):", *("    " + s for s in draw(statement(0, m, modules))),
                  ""]
        sources.append("\n".join(lines) + "\n")
    return sources


def write(folder: Path, sources: list[str]) -> list:
    for old in folder.glob("*.py"):
        old.unlink()
    for index, source in enumerate(sources):
        (folder / f"m{index}.py").write_text(source, encoding="utf-8")
    return discover([str(folder)])


@FUZZ
@given(sources=program(), seed=st.integers(0, 2**16))
def test_generated_lock_programs_never_crash_and_do_not_depend_on_file_order(
        sources: list[str], seed: int) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        files = write(Path(temporary), sources)
        shuffled = list(files)
        random.Random(seed).shuffle(shuffled)
        first = analyse(files, ALL).diagnostics
        assert not [d for d in first if d.code in ("CL001", "CL002")], first
        assert analyse(list(reversed(files)), ALL).diagnostics == first
        assert analyse(shuffled, ALL).diagnostics == first


# --------------------------------------------------------------- mutated fixtures
MUTANTS_PER_FILE = int(LONG) // 100 + 2 if LONG else 2
FILES_SAMPLED = None if LONG else 10


def mutate(lines: list[str], rng: random.Random) -> list[str]:
    """Delete, duplicate, swap or move a random line, one to three times."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        if len(lines) < 2:
            break
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        operation = rng.choice(["delete", "duplicate", "swap", "move"])
        if operation == "delete":
            del lines[i]
        elif operation == "duplicate":
            lines.insert(j, lines[i])
        elif operation == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, lines.pop(i))
    return lines


def cpython_accepts(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "mutant.py", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError:
        return False
    return True


def test_mutated_fixtures_never_crash_and_only_invalid_code_is_cl001(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, tree)
    rng = random.Random(20240601)
    targets = sorted(tree.rglob("*.py"))
    if FILES_SAMPLED is not None and len(targets) > FILES_SAMPLED:
        targets = sorted(rng.sample(targets, FILES_SAMPLED))
    cache = FactsCache(str(tmp_path / "cache"), key=b"f" * 32)
    checked = invalid = 0
    for target in targets:
        original = target.read_text(encoding="utf-8")
        family = tree / target.relative_to(tree).parts[0]
        files = discover([str(family)])
        for _ in range(MUTANTS_PER_FILE):
            mutant = "\n".join(mutate(original.split("\n"), rng))
            target.write_text(mutant, encoding="utf-8")
            found = analyse(files, ALL, cache=cache).diagnostics
            broken = [d for d in found if d.code in ("CL001", "CL002")]
            valid = cpython_accepts(mutant)
            expected = [] if valid else [(str(target), "CL001")]
            assert [(d.path, d.code) for d in broken] == expected, (target, mutant, broken)
            checked += 1
            invalid += not valid
        target.write_text(original, encoding="utf-8")
    assert checked >= 10 and 0 < invalid < checked
