"""Stage 6, the filter: from every finding of the checks to the ones to report.

In order: keep only findings in the reported files (see ``conclint.project``), drop the
codes ``per-file-ignores`` turns off for a file, then apply suppression comments
(``conclint.suppress``), which may add CL003/CL004. The baseline comes last, in the CLI,
because ``--write-baseline`` records what this stage returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from conclint.config import Config, selector_matches
from conclint.diagnostics import Diagnostic
from conclint.discover import path_matches
from conclint.extract.cache import FactsCache
from conclint.source import Sources
from conclint.suppress import apply_suppressions

_RULE_CRASH = "internal error in rule"  # engine's CL002 for a failing check: always shown


class Filter:
    """The codes enabled for each file, and the filter itself."""

    def __init__(self, enabled: frozenset[str],
                 per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = (),
                 root: str | None = None) -> None:
        self.enabled = enabled
        self.per_file_ignores = per_file_ignores
        self.root = root  # ``per-file-ignores`` globs are relative to it (default: cwd)
        self._enabled: dict[str, frozenset[str]] = {}

    @classmethod
    def from_config(cls, config: Config, enabled: frozenset[str]) -> Filter:
        return cls(enabled, config.per_file_ignores, config.root)

    def enabled_for(self, path: str) -> frozenset[str]:
        cached = self._enabled.get(path)
        if cached is None:
            root = self.root or os.getcwd()
            relative = os.path.relpath(os.path.abspath(path), root)
            ignored = tuple(s for pattern, selectors in self.per_file_ignores
                            if path_matches(relative, (pattern,)) for s in selectors)
            cached = frozenset(c for c in self.enabled
                               if not any(selector_matches(s, c) for s in ignored))
            self._enabled[path] = cached
        return cached

    def apply(self, diagnostics: Iterable[Diagnostic], reported: list[str],
              sources: Sources, cache: FactsCache | None = None) -> list[Diagnostic]:
        """The findings to report, sorted (``cache``: where the files' comments are kept).

        ``reported`` are the paths of the files to report on; a finding counts when it is
        located in one of them or its evidence passes through one (a lock-order cycle
        is reported at one of its sites, but a change to any of them can cause it).
        """
        wanted = {os.path.abspath(p) for p in reported}
        kept = [
            d for d in diagnostics
            if (d.message.startswith(_RULE_CRASH)
                or any(os.path.abspath(p) in wanted for p in (d.path, *(r.path for r in d.related))))
            and d.code in self.enabled_for(d.path)
        ]
        kept = apply_suppressions(kept, reported, self.enabled_for, sources, cache)
        return sorted(set(kept), key=Diagnostic.sort_key)
