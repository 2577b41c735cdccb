"""Where the time went (``--profile``): named phases, measured with a monotonic clock.

Phases nest (a check builds the analysis it needs on first use); each phase records its
own time only, without the phases that ran inside it, so the figures add up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        self.notes: dict[str, str] = {}
        # phases that ran at the same time in other processes: shown, not added up
        self.elsewhere: list[tuple[str, float]] = []
        self._inner: list[float] = []  # time spent in phases nested in each open phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            nested = self._inner.pop()
            if self._inner:
                self._inner[-1] += elapsed
            self.phases.append((name, elapsed - nested))

    def total(self, prefix: str = "") -> float:
        return sum(seconds for name, seconds in self.phases if name.startswith(prefix))
