"""``[tool.conclint]`` in the nearest ``pyproject.toml``, merged with the command line."""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field

from conclint.checks.registry import BY_NAME, RULES
from conclint.discover import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "src")
_NAME_LIST_KEYS = ("lock-factories", "blocking-calls", "collectives")
_BOOL_KEYS = ("free-threaded",)
_TABLE_KEYS = ("per-file-ignores",)
KNOWN_KEYS = (*_LIST_KEYS, *_NAME_LIST_KEYS, *_BOOL_KEYS, *_TABLE_KEYS)
_QUALIFIED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@dataclass(frozen=True)
class KnowledgeExtensions:
    """Project-specific additions to ``conclint.knowledge``: fully-qualified API names.

    ``lock_factories`` make non-reentrant locks (``mypkg.sync.SpinLock``); ``blocking_calls``
    can block indefinitely (``mypkg.rpc.wait_for_peer``); ``collectives`` must be called by
    every rank (``mypkg.dist.all_gather_dict``).
    """

    lock_factories: tuple[str, ...] = ()
    blocking_calls: tuple[str, ...] = ()
    collectives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """Settings from ``pyproject.toml``; ``path`` is where they came from (None: defaults)."""

    path: str | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, selectors)
    src: tuple[str, ...] = ()  # project source roots, relative to ``root``
    free_threaded: bool = False  # the code runs on a free-threaded (no-GIL) CPython
    lock_factories: tuple[str, ...] = ()
    blocking_calls: tuple[str, ...] = ()
    collectives: tuple[str, ...] = ()

    @property
    def root(self) -> str | None:
        """The project root: the directory of the ``pyproject.toml`` (None without one)."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path else None

    def knowledge(self) -> KnowledgeExtensions:
        """The ``lock-factories`` / ``blocking-calls`` / ``collectives`` extensions."""
        return KnowledgeExtensions(self.lock_factories, self.blocking_calls, self.collectives)


def find_pyproject(paths: list[str]) -> str | None:
    """The nearest ``pyproject.toml`` that has a ``[tool.conclint]`` or is a project root."""
    start = os.path.abspath(paths[0] if paths else ".")
    directory = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_config(path: str | None) -> Config:
    if path is None:
        return Config()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from None
    tool = data.get("tool", {})
    section = tool.get("conclint", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise UsageError(f"{path}: [tool.conclint] must be a table")
    for key, value in section.items():
        _check_value(path, key, value)
    for key in ("select", "ignore", "extend-select"):
        for selector in section.get(key, []):
            check_selector(selector, f"{path}: `tool.conclint.{key}`")
    root = os.path.dirname(os.path.abspath(path))
    for entry in section.get("src", []):
        if not os.path.isdir(os.path.join(root, entry)):
            raise UsageError(f"{path}: `tool.conclint.src`: `{entry}` is not a directory")
    per_file = section.get("per-file-ignores", {})
    for pattern, selectors in per_file.items():
        for selector in selectors:
            check_selector(selector, f"{path}: `tool.conclint.per-file-ignores.\"{pattern}\"`")
    return Config(
        path=path,
        select=tuple(section["select"]) if "select" in section else None,
        ignore=tuple(section.get("ignore", ())),
        extend_select=tuple(section.get("extend-select", ())),
        exclude=tuple(section.get("exclude", ())) + tuple(section.get("extend-exclude", ())),
        per_file_ignores=tuple((glob, tuple(codes)) for glob, codes in per_file.items()),
        src=tuple(section.get("src", ())),
        free_threaded=section.get("free-threaded", False),
        lock_factories=tuple(section.get("lock-factories", ())),
        blocking_calls=tuple(section.get("blocking-calls", ())),
        collectives=tuple(section.get("collectives", ())),
    )


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_value(path: str, key: str, value: object) -> None:
    """One line naming the file and the key when a key is unknown or its value is wrong."""
    where = f"{path}: `tool.conclint.{key}`"
    if key not in KNOWN_KEYS:
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise UsageError(f"{path}: unknown key `tool.conclint.{key}`{hint}")
    if key in _LIST_KEYS + _NAME_LIST_KEYS and not _is_str_list(value):
        raise UsageError(f"{where} must be a list of strings")
    if key in _NAME_LIST_KEYS:
        for name in value:  # type: ignore[union-attr]
            if not _QUALIFIED.match(name):
                raise UsageError(f"{where}: `{name}` is not a fully-qualified name "
                                 "such as `mypkg.sync.SpinLock`")
    if key in _BOOL_KEYS and not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false")
    if key in _TABLE_KEYS and not (
        isinstance(value, dict) and all(_is_str_list(v) for v in value.values())
    ):
        raise UsageError(f"{where} must be a table of glob = [list of rule codes]")


def closest_rule(text: str) -> str | None:
    """The known code or name closest to a mistyped one; swapped digits first (CL140)."""
    swapped = [code for code in RULES if sorted(code) == sorted(text.upper())]
    if swapped:
        return swapped[0]
    close = difflib.get_close_matches(text, [*RULES, *BY_NAME], n=1)
    return close[0] if close else None


def check_selector(selector: str, where: str) -> None:
    if selector == "ALL" or selector in BY_NAME or any(c.startswith(selector) for c in RULES):
        if selector.startswith("CL") or selector in BY_NAME or selector == "ALL":
            return
    close = closest_rule(selector)
    hint = f" (did you mean `{close}`?)" if close else ""
    raise UsageError(f"{where}: unknown rule code or name `{selector}`{hint}")


def selector_matches(selector: str, code: str) -> bool:
    """Whether a code, prefix, rule name or ``ALL`` selects ``code``."""
    if selector == "ALL":
        return True
    rule = BY_NAME.get(selector)
    return code == rule.code if rule is not None else code.startswith(selector)


def enabled_codes(
    select: tuple[str, ...] | None, extend_select: tuple[str, ...], ignore: tuple[str, ...]
) -> frozenset[str]:
    """Codes to report: the selection (default rules if none), plus extensions, minus ignores.

    The tool's own default codes (CL0xx) stay on unless ignored by name: a file that could
    not be analysed must never pass silently. Opt-in ones (CL004) need selecting.
    """
    if select is None:
        chosen = {code for code, rule in RULES.items() if rule.default}
    else:
        chosen = {code for code in RULES if any(selector_matches(s, code) for s in select)}
    chosen |= {code for code in RULES if any(selector_matches(s, code) for s in extend_select)}
    chosen |= {code for code, rule in RULES.items() if code.startswith("CL0") and rule.default}
    return frozenset(c for c in chosen if not any(selector_matches(s, c) for s in ignore))
