"""``conclint rules``: every rule with its code, name, family, default and severity."""

from __future__ import annotations

import argparse
import json
import sys

from rich.table import Table

from conclint.checks.registry import RULES
from conclint.commands.common import print_block
from conclint.report.sarif import HELP_URI


def rows() -> list[dict[str, object]]:
    return [
        {"code": r.code, "name": r.name, "family": r.family, "default": r.default,
         "severity": r.severity, "summary": r.summary, "url": HELP_URI.format(code=r.code)}
        for r in RULES.values()
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="conclint rules", description="List every rule.")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    if args.format == "json":
        sys.stdout.write(json.dumps(rows(), indent=2) + "\n")
        return 0
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("code", "name", "family", "default", "severity", "what it finds"):
        table.add_column(header, no_wrap=True, overflow="ellipsis")  # one line per rule
    for row in rows():
        table.add_row(str(row["code"]), str(row["name"]), str(row["family"]),
                      "on" if row["default"] else "off", str(row["severity"]),
                      str(row["summary"]))
    print_block(table)
    return 0
