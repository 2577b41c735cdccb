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
