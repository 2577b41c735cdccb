"""Bad input: every kind of broken, odd or hostile file is reported (or analysed), and the
run goes on with the other files. Exit code 1 whenever something is reported, CL001 for a
file that cannot be read, decoded or parsed (README, "Guarantees")."""

from __future__ import annotations

from pathlib import Path

import pytest

from conclint.config import load_config
from conclint.discover import UsageError
from tests.helpers import run_json, run_main

BUG = """\
import threading

L = threading.Lock()


def f():
    with L:
        with L:  # line 8
            pass
"""

# name -> (bytes, expected: ("CL001", line, words in the message) | ("CL102", line) | None)
CASES: dict[str, tuple[bytes, tuple | None]] = {
    "python2.py": (b'print "hello"\nexec "x = 1"\n',
                   ("CL001", 1, "Missing parentheses in call to 'print'")),
    "future_syntax.py": (b"import threading\n\nvalue = config ?. timeout\n",
                         ("CL001", 3, "syntax error")),
    "newer_grammar.py": (  # 3.10-3.14 syntax, newer than the interpreter may be
        b"type Pair[T] = tuple[T, T]\n\n\ndef first[T](p: Pair[T]) -> T:\n"
        b"    match p:\n        case (a, _):\n            return a\n\n\n"
        + BUG.replace("def f():", "def f():\n    try:\n        pass\n"
                      "    except* ValueError:\n        pass").encode(),
        ("CL102", 21)),
    "invalid_utf8.py": (b"x = 1\ny = 2\nname = 'caf\xe9'\n",
                        ("CL001", 3, "cannot decode as utf-8: invalid continuation byte")),
    "latin1_cookie.py": (b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n" + BUG.encode(),
                         ("CL102", 10)),
    "unknown_cookie.py": (b"# coding: klingon\nx = 1\n",
                          ("CL001", 1, "unknown encoding: klingon")),
    "bom.py": (b"\xef\xbb\xbf" + BUG.encode(), ("CL102", 8)),
    "bom_and_latin1_cookie.py": (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
                                 ("CL001", 1, "encoding problem")),
    "crlf.py": (BUG.replace("\n", "\r\n").encode(), ("CL102", 8)),
    "lone_cr.py": (BUG.replace("\n", "\r").encode(), ("CL102", 8)),
    "form_feed.py": (BUG.replace("\n\n\ndef", "\n\x0c\n\ndef").replace(
        "    with L:\n        with", "    '''a\x0cb\u2028c'''\n    with L:\n        with").encode(),
        ("CL102", 9)),
    "nul_byte.py": (b"x = 1\ny = '\x00'\n", ("CL001", 2, "NUL byte")),
    "empty.py": (b"", None),
    "comments_only.py": (b"# a comment\n# and another\n", None),
    "tabs_and_spaces.py": (b"def f():\n\tif x:\n        pass\n",
                           ("CL001", 3, "inconsistent use of tabs and spaces")),
}


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[dict]]:
    folder = tmp_path_factory.mktemp("bad")
    for name, (data, _) in CASES.items():
        (folder / name).write_bytes(data)
    (folder / "control.py").write_text(BUG, encoding="utf-8")
    code, diagnostics = run_json("--no-project", ".", cwd=folder)
    return folder, code, diagnostics


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_bad_file_is_reported_or_analysed(bad_folder, name: str) -> None:
    _, code, diagnostics = bad_folder
    expected = CASES[name][1]
    found = [d for d in diagnostics if d["path"] == name]
    assert code == 1
    if expected is None:
        assert found == []
        return
    assert [(d["code"], d["line"]) for d in found] == [expected[:2]]
    if len(expected) > 2:
        assert expected[2] in found[0]["message"]
        assert found[0]["message"].startswith("cannot analyse this file: ")


def test_the_run_goes_on_with_the_other_files(bad_folder) -> None:
    _, _, diagnostics = bad_folder
    assert [(d["code"], d["line"]) for d in diagnostics if d["path"] == "control.py"] == [
        ("CL102", 8)]
    assert not [d for d in diagnostics if d["code"] == "CL002"]


def test_text_report_of_bad_files_prints_safely(bad_folder) -> None:
    folder, _, _ = bad_folder
    ran = run_main("--no-cache", "--no-project", ".", cwd=folder)
    assert ran.returncode == 1
    assert "\x00" not in ran.stdout and "\x0c" not in ran.stdout
    assert "nul_byte.py:2:6: CL001 cannot analyse this file: source contains a NUL byte" \
        in ran.stdout
    assert "  y = '?'" in ran.stdout  # the NUL shown as ?, not written to the terminal
    assert run_main("--no-cache", "--no-project", "--exit-zero", ".",
                    cwd=folder).returncode == 0


def test_suppressions_work_with_any_line_ending(tmp_path: Path) -> None:
    suppressed = BUG.replace("with L:  # line 8", "with L:  # conclint: ignore[CL102]")
    for name, newline in (("lf.py", "\n"), ("crlf.py", "\r\n"), ("cr.py", "\r")):
        (tmp_path / name).write_bytes(suppressed.replace("\n", newline).encode())
    (tmp_path / "ff.py").write_bytes(suppressed.replace("\n\n\ndef", "\n\x0c\n\ndef").encode())
    code, diagnostics = run_json("--no-project", ".", cwd=tmp_path)
    assert (code, diagnostics) == (0, [])


def test_a_long_line_is_shown_as_a_window(tmp_path: Path) -> None:
    wide = "[" + ", ".join(["1"] * 3000) + "]"
    (tmp_path / "wide.py").write_text(BUG.replace(
        "        with L:  # line 8\n            pass\n",
        f"        x = {wide}; L.acquire(); y = {wide}\n"))
    ran = run_main("--no-cache", "--no-project", "--select", "CL102", "wide.py", cwd=tmp_path)
    shown = ran.stdout.splitlines()
    assert shown[0].startswith("wide.py:8:")
    assert shown[1].startswith("  ...") and shown[1].endswith("...") and len(shown[1]) < 140
    caret = shown[2].index("^")
    assert shown[1][caret:caret + 11] == "L.acquire()" and shown[2].strip() == "^" * 11


# --------------------------------------------------------------------------- paths
def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    ran = run_main("--no-cache", "missing.py", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip() == "conclint: error: missing.py: no such file or directory"


def test_a_directory_symlink_loop_is_walked_once(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(BUG)
    (package / "loop").symlink_to(package, target_is_directory=True)
    (package / "up").symlink_to(tmp_path, target_is_directory=True)
    code, diagnostics = run_json("--no-project", ".", "pkg/loop", cwd=tmp_path)
    assert code == 1
    assert sorted({(d["path"], d["code"], d["line"]) for d in diagnostics}) == [
        ("pkg/loop/mod.py", "CL102", 8), ("pkg/mod.py", "CL102", 8)]


def test_unreadable_and_dangling_files_are_cl001(tmp_path: Path) -> None:
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    (tmp_path / "control.py").write_text(BUG)
    code, diagnostics = run_json("--no-project", ".", cwd=tmp_path)
    assert code == 1
    assert [(d["path"], d["code"], d["message"]) for d in diagnostics] == [
        ("control.py", "CL102", diagnostics[0]["message"]),
        ("dangling.py", "CL001", "cannot analyse this file: cannot read: No such file or "
                                 "directory")]


def test_a_file_without_read_permission_is_cl001(tmp_path: Path, monkeypatch) -> None:
    """Root reads every file whatever its mode, so there the OS's refusal is simulated at
    the one place conclint opens source files (in this process: ``-j 1``)."""
    import errno
    import os

    secret = tmp_path / "secret.py"
    secret.write_text(BUG)
    secret.chmod(0)
    if os.geteuid() == 0:
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if os.fspath(path).endswith("secret.py"):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    (tmp_path / "control.py").write_text(BUG)
    code, diagnostics = run_json("--no-project", "-j", "1", ".", cwd=tmp_path)
    assert code == 1
    assert [(d["path"], d["code"]) for d in diagnostics] == [("control.py", "CL102"),
                                                             ("secret.py", "CL001")]
    assert diagnostics[1]["message"] == "cannot analyse this file: cannot read: Permission denied"


def test_fifos_and_devices_never_block(tmp_path: Path) -> None:
    """A FIFO found in a folder is skipped; one named explicitly, or a device, is CL001 —
    and nothing ever waits to read from them (the run is bounded by a subprocess timeout)."""
    import json
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / "named.py")
    (tmp_path / "via_link.py").symlink_to(tmp_path / "named.py")
    (tmp_path / "control.py").write_text(BUG)
    ran = subprocess.run(
        [sys.executable, "-m", "conclint", "--no-cache", "--no-project", "--format", "json",
         "control.py", "named.py", "/dev/null"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    found = [(d["path"], d["code"], d["message"].split(": ", 2)[-1])
             for d in json.loads(ran.stdout)["diagnostics"]]
    assert ran.returncode == 1
    assert found == [
        ("/dev/null", "CL001", "it is a character device, not a source file"),
        ("control.py", "CL102", found[1][2]),
        ("named.py", "CL001", "it is a FIFO (named pipe), not a source file")]
    folder = subprocess.run(
        [sys.executable, "-m", "conclint", "--no-project", "--format", "json", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert [d["path"] for d in json.loads(folder.stdout)["diagnostics"]] == ["control.py"]


def test_a_non_python_file_named_explicitly_is_parsed_as_python(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("These are notes, not code.\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "train").write_text("#!/usr/bin/env python3\n" + BUG)  # a script
    code, diagnostics = run_json("--no-project", "notes.txt", "logo.png", "train",
                                 cwd=tmp_path)
    assert code == 1
    assert [(d["path"], d["code"], d["line"]) for d in diagnostics] == [
        ("logo.png", "CL001", 1), ("notes.txt", "CL001", 1), ("train", "CL102", 9)]


def test_odd_file_names_are_reported_in_every_format(tmp_path: Path) -> None:
    """Spaces, non-ASCII, bytes that are not UTF-8 and an escape sequence in file names:
    reported by their names, and no output encoding (strict UTF-8, ASCII) can crash."""
    import os
    import subprocess
    import sys

    names = [b"with space.py", "café.py".encode(), b"not\xe9utf8.py", b"esc\x1b[31m.py",
             "dïr/mödule.py".encode()]
    for name in names:
        path = os.path.join(os.fsencode(tmp_path), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(BUG.encode())
    code, diagnostics = run_json("--no-project", ".", cwd=tmp_path)
    assert code == 1
    assert sorted(os.fsencode(d["path"]) for d in diagnostics) == sorted(names)
    for encoding, fmt in (("utf-8:strict", "text"), ("utf-8:strict", "github"),
                          ("utf-8:strict", "sarif"), ("ascii:strict", "text")):
        ran = subprocess.run(
            [sys.executable, "-m", "conclint", "--no-cache", "--no-project", "--format", fmt,
             "."], cwd=tmp_path, capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": encoding}, timeout=120)
        assert ran.returncode == 1, ran.stderr
        assert b"Traceback" not in ran.stderr
        assert fmt != "text" or b"\x1b" not in ran.stdout  # no escape reaches a terminal
        assert ran.stdout.count(b"CL102") >= 5


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(("data", "message"), [
    (b"[tool.conclint\n", "invalid TOML"),
    (b"[tool.conclint]\nselect = ['CL1\xff']\n", "invalid TOML: not UTF-8"),
    (b"[tool]\nconclint = 1\n", "[tool.conclint] must be a table"),
    (b"[tool.conclint]\nselect = [1]\n", "`tool.conclint.select` must be a list of strings"),
    (b"[tool.conclint]\nselect = ['CL9']\n", "unknown rule code or name `CL9`"),
    (b"[tool.conclint]\nmax-workers = 5\n", "unknown key `tool.conclint.max-workers`"),
])
def test_every_configuration_mistake_is_one_line_and_exit_2(tmp_path: Path, data: bytes,
                                                             message: str) -> None:
    (tmp_path / "pyproject.toml").write_bytes(data)
    (tmp_path / "a.py").write_text("x = 1\n")
    with pytest.raises(UsageError) as raised:
        load_config(str(tmp_path / "pyproject.toml"))
    assert message in str(raised.value) and "\n" not in str(raised.value)
    ran = run_main("--no-cache", "a.py", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.count("\n") == 1 and "pyproject.toml: " in ran.stderr
