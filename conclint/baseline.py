"""The baseline: findings accepted when adopting conclint, so that only new ones fail.

``--write-baseline FILE`` records every current finding as a fingerprint with a count
(a multiset: two identical findings need two entries); ``--baseline FILE`` hides as many
findings of each fingerprint as the file recorded and reports the rest. Paths are stored
relative to the baseline file, so the run may start from any directory. Parse and
internal errors (CL001, CL002) are never baselined: an unanalysed file must stay visible.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from conclint import __version__
from conclint.diagnostics import Diagnostic
from conclint.discover import UsageError
from conclint.fingerprint import fingerprint
from conclint.source import Sources

FORMAT = 1
NEVER_BASELINED = frozenset({"CL001", "CL002"})


@dataclass(frozen=True)
class BaselineOutcome:
    matched: int  # findings hidden because the baseline has them
    fixed: int  # baseline entries, in the files checked, that no longer occur


def _relative(path: str, base: str) -> str:
    return os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")


class Baseline:
    """Fingerprint counts loaded from (or written to) one baseline file."""

    def __init__(self, path: str, entries: dict[str, tuple[str, int]]) -> None:
        self.path = path
        self.base = os.path.dirname(os.path.abspath(path))
        self.entries = entries  # fingerprint -> (relative path, count)

    def key(self, d: Diagnostic, sources: Sources) -> str:
        return fingerprint(d, sources, _relative(d.path, self.base))

    @classmethod
    def load(cls, path: str) -> Baseline:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as err:
            raise UsageError(f"{path}: cannot read the baseline: {err.strerror}") from None
        except ValueError as err:
            raise UsageError(f"{path}: the baseline is not valid JSON: {err}") from None
        findings = data.get("findings") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or data.get("conclint-baseline") != FORMAT
                or not isinstance(findings, list) or not all(_valid(f) for f in findings)):
            raise UsageError(f"{path}: not a conclint baseline (format {FORMAT}); "
                             "write one with --write-baseline")
        return cls(path, {f["fingerprint"]: (f["path"], f["count"]) for f in findings})

    def apply(self, diagnostics: Iterable[Diagnostic], sources: Sources,
              checked: Iterable[str]) -> tuple[list[Diagnostic], BaselineOutcome]:
        """The findings that are new, and how many were matched or have been fixed."""
        remaining = Counter({key: count for key, (_, count) in self.entries.items()})
        new: list[Diagnostic] = []
        matched = 0
        for d in sorted(diagnostics, key=Diagnostic.sort_key):
            key = None if d.code in NEVER_BASELINED else self.key(d, sources)
            if key is not None and remaining[key] > 0:
                remaining[key] -= 1
                matched += 1
            else:
                new.append(d)
        files = {_relative(path, self.base) for path in checked}
        fixed = sum(count for key, count in remaining.items()
                    if count > 0 and self.entries[key][0] in files)
        return new, BaselineOutcome(matched, fixed)


def _valid(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("fingerprint"), str)
            and isinstance(entry.get("path"), str) and isinstance(entry.get("count"), int)
            and entry["count"] >= 1)


def write_baseline(path: str, diagnostics: Iterable[Diagnostic], sources: Sources) -> int:
    """Record the findings in ``path``; returns how many were recorded."""
    baseline = Baseline(path, {})
    counts: Counter[str] = Counter()
    first: dict[str, Diagnostic] = {}
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        if d.code not in NEVER_BASELINED:
            key = baseline.key(d, sources)
            counts[key] += 1
            first.setdefault(key, d)
    findings = [
        {"fingerprint": key, "code": d.code, "path": _relative(d.path, baseline.base),
         "count": counts[key], "message": d.message}
        for key, d in first.items()
    ]
    findings.sort(key=lambda f: (f["path"], f["code"], f["fingerprint"]))
    payload = {"conclint-baseline": FORMAT, "version": __version__, "findings": findings}
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, indent=2) + "\n")
    except OSError as err:
        raise UsageError(f"{path}: cannot write the baseline: {err.strerror}") from None
    return sum(counts.values())
