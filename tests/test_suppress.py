"""Suppression comments: every form, CL003 for bad ones, CL004 for unused ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conclint.config import enabled_codes
from conclint.suppress import scan
from tests.helpers import lint_paths, run_main

DEFAULT = enabled_codes(None, (), ())
WITH_UNUSED = enabled_codes(None, ("CL004",), ())

HEADER = '''\
import queue
import threading

LOCK = threading.Lock()
Q = queue.Queue()


def drain():
    with LOCK:
'''  # the body of ``drain`` starts at line 10; ``Q.get()`` there is CL104


def col(line: str, text: str) -> int:
    """The 1-based column of ``text`` in ``line``."""
    return line.index(text) + 1


def found(tmp_path: Path, body: str, enabled: frozenset[str] = DEFAULT,
          header: str = HEADER) -> list[tuple[int, int, str]]:
    path = tmp_path / "mod.py"
    path.write_text(header + body, encoding="utf-8")
    return [(d.line, d.column, d.code) for d in lint_paths(path, enabled=enabled)]


def test_unsuppressed_finding_is_reported(tmp_path: Path) -> None:
    assert found(tmp_path, "        return Q.get()\n") == [(10, 16, "CL104")]


def test_a_file_without_directives_is_not_tokenized(tmp_path: Path, monkeypatch) -> None:
    import conclint.suppress as suppress

    def refuse(text: str) -> None:
        raise AssertionError("tokenized")

    monkeypatch.setattr(suppress, "scan", refuse)
    assert found(tmp_path, "        return Q.get()  # drained later\n") == [(10, 16, "CL104")]
    with pytest.raises(AssertionError, match="tokenized"):
        found(tmp_path, "        return Q.get()  # NoQa: CL104\n")


def test_a_cached_run_reuses_the_comments_of_an_unchanged_file(tmp_path: Path,
                                                              monkeypatch) -> None:
    import conclint.suppress as suppress

    last = "        )  # conclint: ignore[CL104]"
    (tmp_path / "mod.py").write_text(HEADER + "        batch = [  # conclint: ignore[CL104]\n"
                                     "            Q.get(),\n        ]\n        other = (\n"
                                     f"            Q.get()\n{last}\n"
                                     "        return batch, other\n", encoding="utf-8")

    def lint() -> list[tuple[int, int, str]]:
        ran = run_main("--format", "json", "--cache-dir", str(tmp_path / "cache"), "-j", "1",
                       "--no-project", "--warn-unused-ignores", "mod.py", cwd=tmp_path)
        return [(d["line"], d["column"], d["code"])
                for d in json.loads(ran.stdout)["diagnostics"]]

    expected = [(14, 13, "CL104"), (15, col(last, "CL104"), "CL004")]
    assert lint() == expected
    entries = list((tmp_path / "cache").rglob("*.comments"))
    assert len(entries) == 1

    def refuse(text: str) -> None:
        raise AssertionError("tokenized")

    with monkeypatch.context() as patched:
        patched.setattr(suppress, "scan", refuse)
        assert lint() == expected  # the statement lines and comments came from the cache
    entries[0].write_bytes(entries[0].read_bytes()[:-3] + b"]]}")  # the signature fails
    assert lint() == expected
    (tmp_path / "mod.py").write_text(HEADER + "        return Q.get()  # noqa: CL104\n",
                                     encoding="utf-8")
    assert lint() == []  # new bytes: their own comments, not those kept for the old ones


@pytest.mark.parametrize("comment", [
    "# conclint: ignore[CL104]",
    "# conclint: ignore[blocking-call-under-lock]",
    "# conclint: ignore[CL104, blocking-call-under-lock]",
    "# conclint:ignore[CL1]",
    "# conclint: ignore",
    "# conclint: ignore -- drained after the producer has stopped",
    "# noqa: CL104",
    "# noqa:CL104",
    "# NOQA: E501, CL104",
    "# type: ignore[attr-defined]  # noqa: CL104",
])
def test_line_suppressions(tmp_path: Path, comment: str) -> None:
    assert found(tmp_path, f"        return Q.get()  {comment}\n", WITH_UNUSED) == []


@pytest.mark.parametrize("comment", [
    "# noqa",  # a bare noqa belongs to other linters
    "# noqa: E501",
    "# conclint: ignore[CL101]",
    "# conclint: ignore[lock-order-inversion]",
])
def test_comments_that_do_not_cover_the_finding(tmp_path: Path, comment: str) -> None:
    assert found(tmp_path, f"        return Q.get()  {comment}\n") == [(10, 16, "CL104")]


def test_multi_line_statement_uses_its_first_line(tmp_path: Path) -> None:
    last = "        )  # conclint: ignore[CL104]"
    body = ("        batch = [  # conclint: ignore[CL104]\n"
            "            Q.get(),\n"
            "        ]\n"
            "        other = (\n"
            "            Q.get()\n"
            f"{last}\n"
            "        return batch, other\n")
    # line 11 is covered by the comment on its statement's first line (10); the comment
    # on line 15 is neither the reported line (14) nor the first line (13)
    assert found(tmp_path, body, WITH_UNUSED) == [
        (14, 13, "CL104"), (15, col(last, "CL104"), "CL004")]


def test_a_comment_inside_a_string_is_not_a_suppression(tmp_path: Path) -> None:
    body = '        return Q.get(), "# conclint: ignore[CL104]"\n'
    assert found(tmp_path, body) == [(10, 16, "CL104")]


@pytest.mark.parametrize("header_comment", [
    "# conclint: ignore-file[CL104]\n",
    "# conclint: ignore-file[CL1]\n",
    "# conclint: ignore-file\n",
    '"""A module docstring may come first."""\n# conclint: ignore-file[CL104]\n',
])
def test_file_suppressions_in_the_header(tmp_path: Path, header_comment: str) -> None:
    body = "        return Q.get()\n"
    assert found(tmp_path, body, WITH_UNUSED, header=header_comment + HEADER) == []


def test_file_suppression_after_the_first_statement_is_cl003(tmp_path: Path) -> None:
    header = HEADER.replace("import threading\n", "import threading\n"
                            "# conclint: ignore-file[CL104]\n")
    assert found(tmp_path, "        return Q.get()\n", header=header) == [
        (3, 1, "CL003"), (11, 16, "CL104")]


@pytest.mark.parametrize(("comment", "flagged"), [
    ("# conclint: ignore[CL140]", "CL140"),
    ("# conclint: ignore[CL104, lock-order-inversoin]", "lock-order-inversoin"),
    ("# noqa: CL1040", "CL1040"),
    ("# conclint: ignore[CL9]", "CL9"),
    ("# conclint: ignroe[CL104]", "#"),
    ("# conclint: ignore[CL104", "#"),
    ("# conclint: ignore[]", "#"),
])
def test_unknown_or_malformed_suppressions_are_cl003(
    tmp_path: Path, comment: str, flagged: str
) -> None:
    line = f"        return Q.get()  {comment}"
    result = found(tmp_path, line + "\n")
    assert (10, col(line, flagged), "CL003") in result
    assert {code for _, _, code in result} <= {"CL003", "CL104"}


def test_cl003_message_suggests_the_closest_code(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(HEADER + "        return Q.get()  # conclint: ignore[CL140]\n")
    [message] = [d.message for d in lint_paths(path, enabled=DEFAULT) if d.code == "CL003"]
    assert message == ("unknown rule `CL140` in a suppression comment (did you mean "
                       "`CL104`?); it suppresses nothing")


def test_unused_suppressions_only_with_cl004(tmp_path: Path) -> None:
    lines = ["        value = 1  # conclint: ignore[CL104]",
             "        other = 2  # noqa: CL101",
             "        third = 3  # conclint: ignore"]
    body = "\n".join(lines) + "\n        return value, other, third\n"
    assert found(tmp_path, body) == []
    assert found(tmp_path, body, WITH_UNUSED) == [
        (10, col(lines[0], "CL104"), "CL004"), (11, col(lines[1], "CL101"), "CL004"),
        (12, col(lines[2], "#"), "CL004")]


def test_unused_is_judged_only_for_rules_that_ran(tmp_path: Path) -> None:
    body = "        value = 1  # conclint: ignore[CL104]\n        return value\n"
    only_cl101 = enabled_codes(("CL101", "CL004"), (), ())
    assert found(tmp_path, body, only_cl101) == []


def test_partly_used_suppression_reports_the_unused_code(tmp_path: Path) -> None:
    line = "        return Q.get()  # conclint: ignore[CL104, CL102]"
    assert found(tmp_path, line + "\n", WITH_UNUSED) == [(10, col(line, "CL102"), "CL004")]


def test_file_level_ignore_of_cl003(tmp_path: Path) -> None:
    header = "# conclint: ignore-file[CL003]\n" + HEADER
    body = "        return Q.get()  # conclint: ignore[CL104, CL777]\n"
    assert found(tmp_path, body, WITH_UNUSED, header=header) == []


def test_scan_maps_statement_lines_and_finds_the_header_end() -> None:
    scanned = scan('"""doc"""\n# a\nx = f(\n    1,  # b\n)\ny = 2\n')
    assert [c[0] for c in scanned.comments] == [2, 4]
    assert scanned.first_line[4] == 3 and scanned.first_line[5] == 3
    assert scanned.header_end == 3


def test_scan_survives_tokenize_errors() -> None:
    scanned = scan("x = 1  # conclint: ignore\ny = (\n")
    assert [c[0] for c in scanned.comments] == [1]
