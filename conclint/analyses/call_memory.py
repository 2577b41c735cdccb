"""An earlier run's call graph, reused module by module.

Resolving every call site is the largest part of the whole-program phase, and after an
edit most modules resolve exactly as before. While a module's call sites are resolved, the
program records every module whose facts the resolution read, through imports, classes
and re-exports, and every name it tested for being a module (``Program.start_reading``).
What the call sites resolve to depends on nothing else but (1) those modules' facts, (2)
which of the names the module mentions are relevant (names of the analysed functions and
classes, API names), and (3) the user's API knowledge. A module whose key over these is
the one recorded is taken from the record; the others are resolved again. The records are
kept in the cache, signed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping

from conclint.program.index import Program, Reads

# A module's call sites: its distinct targets (function, external, via_self, receiver),
# then per function, in the program's order: the index of each call site's target, the
# functions passed to an immediate caller (function, call site, via_self), the functions
# passed as values.
Target = tuple[str | None, str | None, bool, str]
FunctionRecord = tuple[tuple[int, ...], tuple[tuple[str, int, bool], ...], tuple[str, ...]]
ModuleRecord = tuple[tuple[Target, ...], tuple[FunctionRecord, ...]]
Entry = tuple[str, tuple[str, ...], ModuleRecord]  # key, modules read, record


class CallMemory:
    """The records of the last run (``earlier``: module -> entry) and this run's (``now``)."""

    def __init__(self, facts_digests: Mapping[str, str], earlier: Mapping[str, Entry],
                 salt: str) -> None:
        """``facts_digests``: path -> digest of the file's facts; ``salt``: the settings
        that change what names resolve to (the user's API knowledge)."""
        self._facts_digests = facts_digests
        self._earlier = earlier
        self._salt = salt
        self._digests: dict[str, str] = {}
        self._relevance: dict[str, str] = {}
        self.now: dict[str, Entry] = {}
        self.reused = 0

    def prepare(self, program: Program, relevant: Collection[str],
                defined: Collection[str]) -> None:
        """Take the digests of this run's modules and of which of their names are relevant."""
        for name, facts in program.modules.items():
            # a module without a digest never matches a record
            self._digests[name] = self._facts_digests.get(facts.path) or os.urandom(16).hex()
            names = sorted(facts.names)
            self._relevance[name] = hashlib.sha256(
                "\0".join(n for n in names if n in relevant).encode() + b"\1"
                + "\0".join(n for n in names if n in defined).encode()).hexdigest()

    def recall(self, module: str) -> tuple[tuple[str, ...], ModuleRecord] | None:
        """The modules read and the record of the module, when all is as it was then."""
        found = self._earlier.get(module)
        if not isinstance(found, tuple) or len(found) != 3:
            return None
        key, reads, record = found
        return (reads, record) if key == self._key(module, reads) else None

    def remember(self, module: str, reads: Reads | tuple[str, ...], record: ModuleRecord,
                 reused: bool) -> None:
        ordered = tuple(sorted(reads))
        self.now[module] = (self._key(module, ordered), ordered, record)
        self.reused += reused

    @property
    def changed(self) -> bool:
        """Whether this run's records differ from the earlier ones (worth saving)."""
        return self.reused != len(self.now) or len(self.now) != len(self._earlier)

    def _key(self, module: str, reads: Collection[str]) -> str:
        digest = hashlib.sha256(f"{self._salt}\0{module}\0{self._relevance[module]}".encode())
        digest.update(self._digests[module].encode())
        for name in reads:
            # a name that is not a module (a tested prefix) stays so; VOLATILE never matches
            digest.update(f"\0{name}\0{self._digests.get(name, 'absent')}".encode()
                          if not name.startswith("\0") else os.urandom(16))
        return digest.hexdigest()
