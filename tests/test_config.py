"""``[tool.conclint]``: every key, and one clear line for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from conclint.config import KNOWN_KEYS, KnowledgeExtensions, enabled_codes, load_config
from conclint.discover import UsageError

FULL = """\
[tool.conclint]
select = ["CL1"]
extend-select = ["CL004"]
ignore = ["CL106"]
exclude = ["generated/*"]
extend-exclude = ["vendor"]
src = ["src", "tests"]
free-threaded = true
lock-factories = ["mypkg.sync.SpinLock"]
blocking-calls = ["mypkg.rpc.wait_for_peer", "mypkg.io.fsync_all"]
collectives = ["mypkg.dist.all_gather_dict"]

[tool.conclint.per-file-ignores]
"tests/*" = ["CL104", "self-deadlock"]
"scripts/" = ["CL1"]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    config = load_config(write(tmp_path, FULL))
    assert config.select == ("CL1",)
    assert config.extend_select == ("CL004",)
    assert config.ignore == ("CL106",)
    assert config.exclude == ("generated/*", "vendor")
    assert config.src == ("src", "tests")
    assert config.root == str(tmp_path)
    assert config.free_threaded is True
    assert config.per_file_ignores == (("tests/*", ("CL104", "self-deadlock")),
                                       ("scripts/", ("CL1",)))
    assert config.knowledge() == KnowledgeExtensions(
        lock_factories=("mypkg.sync.SpinLock",),
        blocking_calls=("mypkg.rpc.wait_for_peer", "mypkg.io.fsync_all"),
        collectives=("mypkg.dist.all_gather_dict",),
    )


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert (config.select, config.src, config.free_threaded, config.root) == (
        None, (), False, None)
    assert config.knowledge() == KnowledgeExtensions()


@pytest.mark.parametrize(("text", "message"), [
    ("[tool.conclint]\nfree-threaded = 'yes'\n", "`tool.conclint.free-threaded` must be true or false"),
    ("[tool.conclint]\nsrc = 'src'\n", "`tool.conclint.src` must be a list of strings"),
    ("[tool.conclint]\nsrc = ['nowhere']\n", "`tool.conclint.src`: `nowhere` is not a directory"),
    ("[tool.conclint]\nlock-factories = [1]\n", "`tool.conclint.lock-factories` must be a list of strings"),
    ("[tool.conclint]\nblocking-calls = ['sleep']\n",
     "`tool.conclint.blocking-calls`: `sleep` is not a fully-qualified name"),
    ("[tool.conclint]\ncollectives = ['a.b c']\n",
     "`tool.conclint.collectives`: `a.b c` is not a fully-qualified name"),
    ("[tool.conclint]\nper-file-ignores = ['CL1']\n",
     "`tool.conclint.per-file-ignores` must be a table of glob = [list of rule codes]"),
    ("[tool.conclint.per-file-ignores]\n'tests/*' = 'CL1'\n",
     "`tool.conclint.per-file-ignores` must be a table"),
    ("[tool.conclint.per-file-ignores]\n'tests/*' = ['CL999']\n",
     "`tool.conclint.per-file-ignores.\"tests/*\"`: unknown rule code or name `CL999`"),
    ("[tool.conclint]\nper-file-ignore = {}\n",
     "unknown key `tool.conclint.per-file-ignore` (did you mean `per-file-ignores`?)"),
    ("[tool.conclint]\nfree_threaded = true\n",
     "unknown key `tool.conclint.free_threaded` (did you mean `free-threaded`?)"),
    ("[tool.conclint]\nlock_factories = []\n",
     "unknown key `tool.conclint.lock_factories` (did you mean `lock-factories`?)"),
])
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_known_keys_are_the_documented_ones() -> None:
    assert set(KNOWN_KEYS) == {
        "select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores",
        "src", "free-threaded", "lock-factories", "blocking-calls", "collectives"}


def test_cl004_is_opt_in_but_the_other_tool_codes_are_always_on() -> None:
    default = enabled_codes(None, (), ())
    assert {"CL001", "CL002", "CL003"} <= default and "CL004" not in default
    assert "CL004" in enabled_codes(None, ("CL004",), ())
    assert {"CL001", "CL002", "CL003"} <= enabled_codes(("CL104",), (), ())
    assert "CL003" not in enabled_codes(None, (), ("unknown-suppression",))
