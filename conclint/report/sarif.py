"""``--format sarif``: SARIF 2.1.0, the format GitHub code scanning and other CI tools read.

The driver lists every rule with its page's "What it does" and a link to the page; each
result carries its location, every related location, a thread flow through them when
they form a chain, and a fingerprint that does not depend on line numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from conclint import __version__
from conclint.catalog import RulePage, load_pages
from conclint.checks.registry import RULES, Rule
from conclint.diagnostics import Diagnostic

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
HOME = "https://github.com/conclint/conclint"
HELP_URI = HOME + "/blob/main/rules/{code}.md"
FINGERPRINT = "conclint/v1"
SRCROOT = "%SRCROOT%"


def _rule(rule: Rule, page: RulePage | None) -> dict[str, object]:
    full = page.sections.get("What it does", "").strip() if page else ""
    entry: dict[str, object] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full or rule.summary},
        "helpUri": HELP_URI.format(code=rule.code),
        "defaultConfiguration": {"level": rule.severity, "enabled": rule.default},
        "properties": {"tags": ["concurrency", rule.family]},
    }
    if page is not None:
        entry["help"] = {"text": page.text, "markdown": page.text}
    return entry


def _artifact(path: str, cwd: str) -> dict[str, str]:
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, cwd)
    if relative == ".." or relative.startswith(".." + os.sep):
        return {"uri": Path(absolute).as_uri()}
    return {"uri": quote(relative.replace(os.sep, "/")), "uriBaseId": SRCROOT}


def _location(path: str, region: dict[str, int], cwd: str, message: str | None = None,
              ident: int | None = None) -> dict[str, object]:
    location: dict[str, object] = {
        "physicalLocation": {"artifactLocation": _artifact(path, cwd), "region": region}}
    if ident is not None:
        location["id"] = ident
    if message is not None:
        location["message"] = {"text": message}
    return location


def _region(d: Diagnostic) -> dict[str, int]:
    region = {"startLine": d.line, "startColumn": d.column}
    if (d.end_line, d.end_column) > (d.line, d.column):
        region.update(endLine=d.end_line, endColumn=d.end_column)
    return region


def _result(d: Diagnostic, index: int, fingerprint: str, cwd: str) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": d.code,
        "ruleIndex": index,
        "level": "error" if d.severity == "error" else "warning",
        "message": {"text": d.message},
        "locations": [_location(d.path, _region(d), cwd)],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    related = [
        _location(r.path, {"startLine": r.line, "startColumn": r.column}, cwd, r.message, i)
        for i, r in enumerate(d.related, 1)
    ]
    if related:
        result["relatedLocations"] = related
    if len(related) >= 2:
        steps = [{"location": {k: v for k, v in loc.items() if k != "id"},
                  "executionOrder": order} for order, loc in enumerate(related, 1)]
        result["codeFlows"] = [{"threadFlows": [{"locations": steps}]}]
    return result


def render_sarif(diagnostics: Sequence[Diagnostic], fingerprints: Sequence[str],
                 cwd: str | None = None) -> str:
    """One SARIF log with one run; ``fingerprints[i]`` belongs to ``diagnostics[i]``."""
    cwd = os.path.abspath(cwd or os.getcwd())
    try:
        pages = load_pages()
    except OSError:  # pragma: no cover - an install without the rule pages
        pages = {}
    codes = list(RULES)
    run = {
        "tool": {"driver": {
            "name": "conclint",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": HOME,
            "rules": [_rule(RULES[code], pages.get(code)) for code in codes],
        }},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(cwd).as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(d, codes.index(d.code), fp, cwd)
                    for d, fp in zip(diagnostics, fingerprints)],
    }
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"
