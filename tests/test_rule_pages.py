"""The rules/ catalogue agrees with the code, and its examples behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from conclint.catalog import load_pages
from conclint.checks.registry import RULES
from tests.helpers import RULES_DIR, lint_source

PAGES = load_pages(RULES_DIR)
SECTIONS = ["What it does", "Why is this bad?", "Example", "Use instead", "How to suppress",
            "References"]


def test_every_rule_has_a_page_and_every_page_a_rule() -> None:
    assert sorted(PAGES) == sorted(RULES)


@pytest.mark.parametrize("code", sorted(PAGES))
def test_page_metadata_matches_registry(code: str) -> None:
    page, rule = PAGES[code], RULES[code]
    assert page.name == rule.name
    assert page.severity == rule.severity
    assert page.family == rule.family
    assert page.default == ("on" if rule.default else "off")
    assert list(page.sections) == SECTIONS


EXAMPLES = [c for c in sorted(PAGES) if PAGES[c].example("Example") is not None]


@pytest.mark.parametrize("code", EXAMPLES)
def test_bad_example_is_flagged(code: str, tmp_path: Path) -> None:
    found = lint_source(tmp_path, PAGES[code].example("Example"))
    assert code in {d.code for d in found}, found


@pytest.mark.parametrize("code", EXAMPLES)
def test_good_example_is_clean(code: str, tmp_path: Path) -> None:
    good = PAGES[code].example("Use instead")
    assert good is not None, "a page with a bad example needs a good one"
    assert lint_source(tmp_path, good) == []


def test_examples_exist_for_every_rule_but_internal_error() -> None:
    assert set(PAGES) - set(EXAMPLES) == {"CL002"}
