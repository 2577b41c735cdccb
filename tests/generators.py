"""Generators of hostile inputs: huge, deeply nested and pathological programs.

Each writes files into a folder and returns them, so the tests (and the soak script) can
check that conclint stays within bounded time and memory on code no person would write
but a generator, a fuzzer or a vendored blob might.
"""

from __future__ import annotations

import random
from pathlib import Path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def big_file(folder: Path, megabytes: float = 10.0) -> Path:
    """A generated module of about ``megabytes`` MB of ordinary code."""
    parts = ["import threading\n\n_LOCK = threading.Lock()\n\n"]
    size, index = 0, 0
    while size < megabytes * 1024 * 1024:
        chunk = (
            f"def f{index}(x):\n    with _LOCK:\n        y = x + {index}\n"
            f"        return [y * k for k in range(10)]\n\n\n"
            f"class C{index}:\n    def m(self):\n        return f{index}(self)\n\n\n"
        )
        parts.append(chunk)
        size += len(chunk)
        index += 1
    return write(folder, "generated_big.py", "".join(parts))


def deep_nesting(folder: Path, depth: int = 5000) -> dict[str, Path]:
    """Expressions and blocks nested ``depth`` deep, each kind in its own file."""
    blocks = "".join(" " * d + "if x:\n" for d in range(depth)) + " " * depth + "pass\n"
    return {
        "parens": write(folder, "deep_parens.py", "x = " + "(" * depth + "1" + ")" * depth + "\n"),
        "lists": write(folder, "deep_lists.py", "x = " + "[" * depth + "]" * depth + "\n"),
        "calls": write(folder, "deep_calls.py", "x = " + "f(" * depth + ")" * depth + "\n"),
        "attributes": write(folder, "deep_attributes.py", "x = a" + ".b" * depth + "\n"),
        "blocks": write(folder, "deep_blocks.py", blocks),
    }


def dense_lock_graph(folder: Path, locks: int = 2000, extra_edges: int = 6000,
                     seed: int = 0) -> list[Path]:
    """``locks`` global locks in a ring (one big cycle) plus random nested pairs (many
    short cycles), directly and through calls, spread over a few modules."""
    rng = random.Random(seed)
    modules = 10
    per_module = locks // modules
    paths = [write(folder, "locks/__init__.py", "")]
    lock_module = {i: i // per_module for i in range(locks)}

    pairs = [(i, (i + 1) % locks) for i in range(locks)]
    pairs += [(rng.randrange(locks), rng.randrange(locks)) for _ in range(extra_edges)]
    for m in range(modules):
        lines = ["import threading", ""]
        lines += [f"from locks import m{o}" for o in range(modules) if o != m]
        lines += [f"L{i} = threading.Lock()" for i in range(m * per_module, (m + 1) * per_module)]
        for n, (a, b) in enumerate(pairs):
            if lock_module[a] != m or a == b:
                continue
            callee = f"take{b}" if lock_module[b] == m else f"m{lock_module[b]}.take{b}"
            lines += ["", f"def nest{n}():", f"    with L{a}:", f"        {callee}()"]
        for i in range(m * per_module, (m + 1) * per_module):
            lines += ["", f"def take{i}():", f"    with L{i}:", "        pass"]
        paths.append(write(folder, f"locks/m{m}.py", "\n".join(lines) + "\n"))
    return paths


def deep_call_graph(folder: Path, modules: int = 300, chain: int = 20,
                     layers: int = 40, width: int = 3) -> list[Path]:
    """Mutual recursion across ``modules`` modules (each calls the next and the previous),
    one chain ``modules * chain`` calls deep ending in a lock and a blocking call, and a
    layered graph (``width`` callers per function, ``layers`` deep: width**layers paths)
    ending in ``Condition.notify()``."""
    paths = [write(folder, "calls/__init__.py", "")]
    for m in range(modules):
        nxt, prv = (m + 1) % modules, (m - 1) % modules
        lines = ["import queue", "import threading", "",
                 f"from calls import mod{nxt}, mod{prv}", "",
                 "LOCK = threading.Lock()", "Q = queue.Queue(maxsize=1)", ""]
        for k in range(chain):
            if k + 1 < chain:
                call = f"step{k + 1}(n - 1)"
            elif m + 1 < modules:
                call = f"mod{nxt}.step0(n - 1)"
            else:
                call = "bottom()"
            lines += [f"def step{k}(n):", "    if n:", f"        {call}",
                      f"        mod{prv}.back{k}(n - 1)", "", f"def back{k}(n):",
                      f"    step{k}(n)", ""]
        if m == 0:
            lines += ["def entry():", "    with LOCK:", "        step0(10 ** 6)", ""]
        if m == modules - 1:
            lines += ["def bottom():", "    Q.put(1)", ""]
        paths.append(write(folder, f"calls/mod{m}.py", "\n".join(lines) + "\n"))
    lines = ["import threading", "", "COND = threading.Condition()", ""]
    for layer in reversed(range(layers)):  # callees first: no lucky memo order
        for w in range(width):
            body = ("    COND.notify()" if layer == layers - 1 else
                    "\n".join(f"    f{layer + 1}_{v}()" for v in range(width)))
            lines += [f"def f{layer}_{w}():", body, ""]
    lines += ["def start():", "    with COND:", *(f"        f0_{w}()" for w in range(width)), ""]
    # a lock handed down as an argument through every layer: held-lock resolution asks
    # the callers of a parameter, width**depth ways
    for layer in reversed(range(layers)):
        for w in range(width):
            body = ("    with lock:\n        pass" if layer == layers - 1 else
                    "\n".join(f"    g{layer + 1}_{v}(lock)" for v in range(width)))
            lines += [f"def g{layer}_{w}(lock):", body, ""]
    lines += ["def begin():", *(f"    g0_{w}(COND)" for w in range(width)), ""]
    paths.append(write(folder, "calls/layered.py", "\n".join(lines) + "\n"))
    return paths


def diamond_hierarchy(folder: Path, depth: int = 400, chain: int = 3000) -> list[Path]:
    """A tower of ``depth`` diamonds (each level's two classes share the level below) and a
    single-inheritance chain ``chain`` classes long; methods use ``self._lock``."""
    lines = ["import threading", "",
             "def use():  # first, so nothing is resolved before the deepest class",
             f"    Chain{chain}().run()", f"    Top{depth}().work()", "",
             "class Base:", "    def __init__(self):",
             "        self._lock = threading.Lock()", "",
             "    def work(self):", "        with self._lock:", "            self.more()", "",
             "    def more(self):", "        pass", "", "class Top0(Base):", "    pass", ""]
    for d in range(1, depth + 1):
        lines += [f"class Left{d}(Top{d - 1}):", "    def more(self):",
                  "        super().more()", "",
                  f"class Right{d}(Top{d - 1}):", "    def more(self):",
                  "        with self._lock:", "            pass", "",
                  f"class Top{d}(Left{d}, Right{d}):", "    pass", ""]
    lines += ["class Chain0(Base):", "    pass", ""]
    for c in range(1, chain + 1):
        lines += [f"class Chain{c}(Chain{c - 1}):", "    def run(self):",
                  "        self.work()", ""]
    return [write(folder, "diamonds.py", "\n".join(lines) + "\n")]
