"""``conclint explain CODE|NAME``: a rule's page from ``rules/``, rendered.

On a terminal the Markdown is rendered by rich; piped, the page is printed as it is,
so ``conclint explain CL101 > CL101.md`` gives the page back.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markdown import Markdown

from conclint.catalog import RulePage, load_pages
from conclint.checks.registry import BY_NAME, RULES
from conclint.commands.common import stdout_console, usage_error
from conclint.config import closest_rule
from conclint.discover import UsageError


def find_page(rule: str) -> RulePage:
    pages = load_pages()
    code = rule.upper() if rule.upper() in RULES else None
    if code is None and rule in BY_NAME:
        code = BY_NAME[rule].code
    if code is None or code not in pages:
        close = closest_rule(rule)
        hint = f" (did you mean `{close}`?)" if close else ""
        raise UsageError(f"unknown rule `{rule}`{hint}; `conclint rules` lists them all")
    return pages[code]


def render_page(console: Console, page: RulePage) -> None:
    if console.is_terminal:
        console.print(Markdown(page.text, code_theme="ansi_dark"))
    else:
        console.file.write(page.text if page.text.endswith("\n") else page.text + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="conclint explain",
                                     description="Show a rule's documentation page.")
    parser.add_argument("rule", metavar="RULE", help="a rule code (CL101) or name")
    args = parser.parse_args(argv)
    try:
        page = find_page(args.rule)
    except UsageError as err:
        return usage_error(err)
    render_page(stdout_console(), page)
    sys.stdout.flush()
    return 0
