"""The one output type of every check: a located, explained finding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Related:
    """A further location that is part of the explanation (an acquisition, a call)."""

    path: str
    line: int
    column: int
    message: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a finding's proof, located by ordinal (resolved when reported)."""

    path: str
    loc: int
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check produces; becomes a ``Diagnostic`` once its locations are resolved."""

    code: str
    path: str
    loc: int
    message: str
    related: tuple[Step, ...] = ()
    severity: str | None = None  # overrides the rule's (``--free-threaded`` raises races)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    name: str
    severity: str  # "error" | "warning"
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    related: tuple[Related, ...] = ()

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.code, self.message)
