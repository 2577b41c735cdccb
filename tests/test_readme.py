"""The README's rule table and Quickstart stay true."""

from __future__ import annotations

import re

from conclint.catalog import load_pages
from conclint.checks.registry import RULES
from tests.helpers import ROOT, RULES_DIR

README = (ROOT / "README.md").read_text(encoding="utf-8")


def rule_table_rows() -> list[str]:
    start = README.index("<!-- rules-table")
    end = README.index("<!-- end rules-table -->")
    return [line for line in README[start:end].splitlines() if line.startswith("| [CL")]


def test_rule_table_matches_catalogue() -> None:
    pages = load_pages(RULES_DIR)
    expected = [
        f"| [{code}](rules/{code}.md) | {page.name} | {page.severity} | {page.default} | "
        f"{RULES[code].summary} |"
        for code, page in sorted(pages.items())
    ]
    assert rule_table_rows() == expected


def test_quickstart_is_two_commands_and_ci_runs_the_test_one() -> None:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", section)
    assert commands == ["pip install -e . && conclint fixtures/demo/",
                        "pip install -e '.[test]' && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
