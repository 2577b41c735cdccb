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

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
_NAME_LIST_KEYS = ("collectives",)  # fully-qualified API names added to conclint's knowledge
KNOWN_KEYS = (*_LIST_KEYS, *_NAME_LIST_KEYS)
_QUALIFIED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@dataclass(frozen=True)
class Config:
    """Settings from ``pyproject.toml``; ``path`` is where they came from (None: defaults)."""

    path: str | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    collectives: tuple[str, ...] = ()  # in-house collectives every rank must call (CL501)


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
    section = data.get("tool", {}).get("conclint", {})
    if not isinstance(section, dict):
        raise UsageError(f"{path}: [tool.conclint] must be a table")
    for key, value in section.items():
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise UsageError(f"{path}: unknown key `tool.conclint.{key}`{hint}")
        if key in _LIST_KEYS + _NAME_LIST_KEYS and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise UsageError(f"{path}: `tool.conclint.{key}` must be a list of strings")
        for name in value if key in _NAME_LIST_KEYS else ():
            if not _QUALIFIED.match(name):
                raise UsageError(f"{path}: `tool.conclint.{key}`: `{name}` is not a "
                                 "fully-qualified name such as `mypkg.dist.all_gather_dict`")
    for key in ("select", "ignore", "extend-select"):
        for selector in section.get(key, []):
            check_selector(selector, f"{path}: `tool.conclint.{key}`")
    return Config(
        path=path,
        select=tuple(section["select"]) if "select" in section else None,
        ignore=tuple(section.get("ignore", ())),
        extend_select=tuple(section.get("extend-select", ())),
        exclude=tuple(section.get("exclude", ())) + tuple(section.get("extend-exclude", ())),
        collectives=tuple(section.get("collectives", ())),
    )


def check_selector(selector: str, where: str) -> None:
    if selector == "ALL" or selector in BY_NAME or any(c.startswith(selector) for c in RULES):
        if selector.startswith("CL") or selector in BY_NAME or selector == "ALL":
            return
    choices = [*RULES, *BY_NAME]
    close = difflib.get_close_matches(selector, choices, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    raise UsageError(f"{where}: unknown rule code or name `{selector}`{hint}")


def _matches(selector: str, code: str) -> bool:
    if selector == "ALL":
        return True
    rule = BY_NAME.get(selector)
    return code == rule.code if rule is not None else code.startswith(selector)


def enabled_codes(
    select: tuple[str, ...] | None, extend_select: tuple[str, ...], ignore: tuple[str, ...]
) -> frozenset[str]:
    """Codes to report: the selection (default rules if none), plus extensions, minus ignores.

    The tool's own codes (CL0xx) stay on unless ignored by name: a file that could not be
    analysed must never pass silently.
    """
    if select is None:
        chosen = {code for code, rule in RULES.items() if rule.default}
    else:
        chosen = {code for code in RULES if any(_matches(s, code) for s in select)}
    chosen |= {code for code in RULES if any(_matches(s, code) for s in extend_select)}
    chosen |= {code for code in RULES if code.startswith("CL0")}
    return frozenset(c for c in chosen if not any(_matches(s, c) for s in ignore))
