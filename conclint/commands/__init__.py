"""Subcommands of ``conclint``: ``explain``, ``rules`` and ``graph``.

Imported only when a subcommand is used, so a lint run does not pay for them.
"""

from __future__ import annotations

import importlib

_MODULES = {"explain": "explain", "rules": "rules_list", "graph": "graph"}


def run_subcommand(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"conclint.commands.{_MODULES[name]}")
    return module.main(argv)
