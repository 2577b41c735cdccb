"""``--format json``: one object with the version, the diagnostics and a summary."""

from __future__ import annotations

import json
from dataclasses import asdict

from conclint import __version__
from conclint.diagnostics import Diagnostic


def render_json(diagnostics: list[Diagnostic], files: int) -> str:
    payload = {
        "version": __version__,
        "diagnostics": [
            {**asdict(d), "related": [asdict(r) for r in d.related]} for d in diagnostics
        ],
        "summary": {"files": files, "diagnostics": len(diagnostics)},
    }
    return json.dumps(payload, indent=2) + "\n"
