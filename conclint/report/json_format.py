"""``--format json``: one object with the version, the diagnostics and a summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

from conclint import __version__
from conclint.baseline import BaselineOutcome
from conclint.diagnostics import Diagnostic


def render_json(diagnostics: list[Diagnostic], files: int,
                baseline: BaselineOutcome | None = None) -> str:
    summary: dict[str, object] = {"files": files, "diagnostics": len(diagnostics)}
    if baseline is not None:
        summary["baseline"] = asdict(baseline)
    payload = {
        "version": __version__,
        "diagnostics": [
            {**asdict(d), "related": [asdict(r) for r in d.related]} for d in diagnostics
        ],
        "summary": summary,
    }
    return json.dumps(payload, indent=2) + "\n"


def render_statistics_json(diagnostics: list[Diagnostic]) -> str:
    """``--statistics --format json``: ``[{"code", "name", "count"}]``, most frequent first."""
    counts = Counter((d.code, d.name) for d in diagnostics)
    rows = [{"code": code, "name": name, "count": count}
            for (code, name), count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]
    return json.dumps(rows, indent=2) + "\n"
