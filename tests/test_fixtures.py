"""Every ``# expect:`` marker in fixtures/ is reported, and nothing else is."""

from __future__ import annotations

import pytest

from tests.helpers import FIXTURES, expected_markers, lint_paths

FAMILIES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("family", FAMILIES)
def test_fixture_findings_match_markers(family: str) -> None:
    root = FIXTURES / family
    expected = expected_markers(root)
    reported = {(d.path, d.line, d.code) for d in lint_paths(root)}
    missing = sorted(expected - reported)
    extra = sorted(reported - expected)
    assert not missing and not extra, f"missing: {missing}\nunexpected: {extra}"


def test_fixtures_have_findings_and_lookalikes() -> None:
    markers = expected_markers(FIXTURES)
    assert len(markers) >= 30
