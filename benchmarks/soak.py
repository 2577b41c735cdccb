"""Soak test: analyse the installed CPython standard library, test suite included.

    python benchmarks/soak.py                       # this Python's stdlib, 2 jobs
    python benchmarks/soak.py PATH -j 2 --max-rss-mib 1536

Run by ``.ci/run``, outside the test suite (it takes minutes). It fails (exit 1) when
conclint crashes, skips a file, reports an internal error (CL002) or a time-limit CL001, or
its largest process exceeds the memory bound. It prints the files, lines, seconds and peak
memory, and why each CL001 file was refused: the test suite has deliberately broken files
(Python 2 code, bad encodings), and a few valid files use syntax libcst cannot parse yet
(listed as such, not a failure: conclint says so in the report).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
import warnings
from collections import Counter
from pathlib import Path

from conclint.discover import SKIPPED_DIRS


def python_files(root: Path) -> list[Path]:
    """The files conclint's discovery finds (it skips ``venv``, ``build``, ... by name)."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        found.extend(Path(directory, f) for f in sorted(filenames) if f.endswith(".py"))
    return found


def cpython_parses(path: Path) -> bool:
    """Whether this interpreter's own parser accepts the file (never executed)."""
    try:
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, str(path), "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--max-rss-mib", type=int, default=1536)
    args = parser.parse_args()
    root = Path(args.root).resolve()
    files = python_files(root)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    megabytes = sum(p.stat().st_size for p in files) / 2**20
    command = [sys.executable, "-m", "conclint", "--no-cache", "--no-project", "--exit-zero",
               "--format", "json", "-j", str(args.jobs), "--timeout", str(args.timeout),
               "--profile", str(root)]
    start = time.perf_counter()
    ran = subprocess.run(command, capture_output=True, text=True, cwd=root.parent)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"corpus: {root}: {len(files)} files, {lines:,} lines, {megabytes:.1f} MB")
    print(f"conclint -j {args.jobs}: {seconds:.1f} s, peak RSS of the largest process "
          f"{peak_mib:.0f} MiB, exit code {ran.returncode}")
    problems = []
    if ran.returncode != 0:
        problems.append(f"exit code {ran.returncode}: {ran.stderr[-2000:]}")
        print("\n".join(problems))
        return 1
    report = json.loads(ran.stdout)
    diagnostics = report["diagnostics"]
    print("findings per rule:", dict(sorted(Counter(d["code"] for d in diagnostics).items())))
    print("where the time went:\n" + "\n".join(
        "  " + line for line in ran.stderr.splitlines()
        if line.split() and not line.endswith(" 0.0%")))
    if report["summary"]["files"] != len(files):
        problems.append(f"analysed {report['summary']['files']} files of {len(files)}")
    for d in diagnostics:
        where = f"{d['path']}:{d['line']}: {d['code']} {d['message']}"
        if d["code"] == "CL002" or "took longer than" in d["message"]:
            problems.append(where)
        elif d["code"] == "CL001":
            path = root.parent / d["path"] if not os.path.isabs(d["path"]) else Path(d["path"])
            accepted = cpython_parses(path)
            print(f"  {'libcst limitation' if accepted else 'invalid for CPython too'}: "
                  f"{where}")
    if peak_mib > args.max_rss_mib:
        problems.append(f"peak RSS {peak_mib:.0f} MiB over the bound of {args.max_rss_mib}")
    for problem in problems:
        print("PROBLEM:", problem)
    print("soak: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
