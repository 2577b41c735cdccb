"""Benchmark conclint against libcst's own parse time, in one run, at one job count.

    python benchmarks/bench.py                      # the stdlib, with and without test/
    python benchmarks/bench.py path/to/src -j 2 -n 5 --json out.json

For each corpus (copied to a temporary folder so one file can be edited) it measures, with
the same number of processes: the libcst parse-only floor; conclint cold (``--no-cache``);
warm with nothing changed; warm after a change to the code of one file (a new function:
every rule runs again); warm after a comment changed (same facts: earlier findings reused,
only that file is located again); the peak memory of the largest process of each; and the whole-program phase's share of the cold run (from ``--profile``).
Optional peers (ruff, pylint, flake8 with flake8-async) are timed when installed. Medians
over ``-n`` runs; ratios are taken within this run, so a noisy machine still compares fairly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

SKIP_DIRS = {"site-packages", "__pycache__"}
TEST_DIRS = {"test", "tests", "idle_test"}

TARGETS = {
    "cold / parse floor": 1.5,
    "warm unchanged / cold": 0.08,
    "warm one change / cold": 0.12,
    "whole-program share of cold": 0.10,
    "peak memory / parse floor": 2.0,
}

_FLOOR = r"""
import sys, time
from concurrent.futures import ProcessPoolExecutor
import libcst

def parse(paths):
    for path in paths:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            libcst.parse_module(data)
        except Exception:
            pass
    return len(paths)

if __name__ == "__main__":
    paths = open(sys.argv[1]).read().split("\n")
    jobs = int(sys.argv[2])
    chunks = [paths[i::jobs * 8] for i in range(jobs * 8)]
    if jobs == 1:
        parse(paths)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(parse, chunks))
"""


def python_files(root: Path, with_tests: bool) -> list[Path]:
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and (with_tests or d not in TEST_DIRS)
        )
        found.extend(Path(directory, f) for f in sorted(filenames) if f.endswith(".py"))
    return found


def copy_corpus(files: list[Path], root: Path, into: Path) -> list[Path]:
    copied = []
    for path in files:
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def run_measured(command: list[str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the largest process, stderr."""
    # Python may cache bytecode, as it does for any installed tool (some sandboxes set
    # PYTHONDONTWRITEBYTECODE, and every run would then compile conclint's modules again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=env)
    stderr = process.stderr.read() if process.stderr else ""
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return time.perf_counter() - start, usage.ru_maxrss, stderr


def whole_program_share(profile: str) -> float:
    seconds = {m.group(1).strip(): float(m.group(2))
               for m in re.finditer(r"^(.{34}) +([0-9.]+) +[0-9.]+%$", profile, re.MULTILINE)}
    total = sum(seconds.values())
    # Per-file stages around the whole-program phase: finding, reading and parsing files,
    # locating the reported nodes, filtering by suppression comments, printing.
    outside = sum(v for k, v in seconds.items()
                  if k in ("extract", "discover", "configuration", "report", "locate findings",
                           "filter", "cache: identify files"))
    return (total - outside) / total if total else 0.0


def bench_corpus(name: str, files: list[Path], root: Path, jobs: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="conclint-bench-") as temporary:
        work = Path(temporary)
        corpus = copy_corpus(files, root, work / "corpus")
        listing = work / "files.txt"
        listing.write_text("\n".join(str(p) for p in corpus))
        floor_script = work / "floor.py"
        floor_script.write_text(_FLOOR)
        lines = sum(p.read_bytes().count(b"\n") for p in corpus)
        conclint = [sys.executable, "-m", "conclint", "--exit-zero", "--format", "json",
                    "-j", str(jobs)]
        cache = work / "cache"
        changed = corpus[len(corpus) // 2]
        samples: dict[str, list[float]] = {}
        memory: dict[str, int] = {}
        shares = []

        def sample(key: str, command: list[str]) -> str:
            seconds, rss, err = run_measured(command, work)
            samples.setdefault(key, []).append(seconds)
            memory[key] = max(memory.get(key, 0), rss)
            return err

        for _ in range(runs):
            sample("libcst parse floor", [sys.executable, str(floor_script), str(listing),
                                          str(jobs)])
            profile = sample("conclint cold", [*conclint, "--no-cache", "--profile",
                                               str(work / "corpus")])
            shares.append(whole_program_share(profile))
            shutil.rmtree(cache, ignore_errors=True)
            sample("(fill cache)", [*conclint, "--cache-dir", str(cache), str(work / "corpus")])
            sample("conclint warm, unchanged",
                   [*conclint, "--cache-dir", str(cache), str(work / "corpus")])
            # A change to the code (a new function): every rule runs again.
            stamp = str(time.time()).replace(".", "_")
            with changed.open("a", encoding="utf-8") as out:
                out.write(f"\n\ndef _benchmark_edit_{stamp}():\n    return {stamp}\n")
            sample("conclint warm, one file changed",
                   [*conclint, "--cache-dir", str(cache), str(work / "corpus")])
            # Only a comment: the facts are those of the last run, so are the findings.
            with changed.open("a", encoding="utf-8") as out:
                out.write(f"# benchmark comment {stamp}\n")
            sample("conclint warm, one comment changed",
                   [*conclint, "--cache-dir", str(cache), str(work / "corpus")])
        for tool, command in peers(work / "corpus", jobs).items():
            for _ in range(runs):
                sample(tool, command)
        samples.pop("(fill cache)", None)
        medians = {k: statistics.median(v) for k, v in samples.items()}
        floor = medians["libcst parse floor"]
        cold = medians["conclint cold"]
        ratios = {
            "cold / parse floor": cold / floor,
            "warm unchanged / cold": medians["conclint warm, unchanged"] / cold,
            "warm one change / cold": medians["conclint warm, one file changed"] / cold,
            "whole-program share of cold": statistics.median(shares),
            "peak memory / parse floor": memory["conclint cold"] / memory["libcst parse floor"],
        }
        return {"corpus": name, "files": len(corpus), "lines": lines, "jobs": jobs,
                "runs": runs, "seconds": medians, "samples": samples,
                "peak_rss_mib": {k: v / 1024 for k, v in memory.items() if k in medians},
                "ratios": ratios}


def peers(corpus: Path, jobs: int) -> dict[str, list[str]]:
    found = {}
    if shutil.which("ruff"):
        found["ruff --select ALL"] = ["ruff", "check", "--select", "ALL", "--no-cache",
                                      "--exit-zero", "--quiet", str(corpus)]
    if shutil.which("pylint"):
        found["pylint"] = ["pylint", f"-j{jobs}", "--exit-zero", "--recursive=y", str(corpus)]
    if shutil.which("flake8"):
        found["flake8 (+flake8-async)"] = ["flake8", f"-j{jobs}", "--exit-zero", str(corpus)]
    return found


def print_report(results: list[dict]) -> None:
    for result in results:
        print(f"\n{result['corpus']}: {result['files']} files, {result['lines']:,} lines, "
              f"{result['jobs']} jobs, median of {result['runs']}")
        print(f"  {'measurement':<34} {'seconds':>9} {'peak MiB':>9}  {'runs (min-max s)':>16}")
        for key, seconds in result["seconds"].items():
            rss = result["peak_rss_mib"].get(key, 0.0)
            runs = result["samples"][key]
            print(f"  {key:<34} {seconds:9.2f} {rss:9.0f}  {min(runs):7.2f}-{max(runs):<8.2f}")
        print(f"  {'ratio':<34} {'value':>9} {'target':>9}")
        for key, value in result["ratios"].items():
            target = TARGETS[key]
            mark = "ok" if value <= target else "MISSED"
            print(f"  {key:<34} {value:9.3f} {target:9.2f}  {mark}")
    if len(results) == 2:
        small, large = results
        print(f"\nscaling: {large['lines'] / small['lines']:.2f}x the lines cost "
              f"{large['seconds']['conclint cold'] / small['seconds']['conclint cold']:.2f}x "
              "the cold time (target: at most 2.9x for 2.6x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a folder (default: this Python's stdlib)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.corpus:
        root = Path(args.corpus).resolve()
        corpora = [(root.name, python_files(root, with_tests=True), root)]
    else:
        root = Path(sysconfig.get_paths()["stdlib"])
        corpora = [("stdlib without tests", python_files(root, with_tests=False), root),
                   ("stdlib with tests", python_files(root, with_tests=True), root)]
    results = [bench_corpus(name, files, base, args.jobs, args.runs)
               for name, files, base in corpora]
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
