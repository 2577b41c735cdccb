"""Stage 5: the rules. Each family module lists its checks as ``(codes, function)``."""

from conclint.checks import coroutines, deadlocks, lifecycle, ml
from conclint.checks import races

ALL_CHECKS = (*deadlocks.CHECKS, *lifecycle.CHECKS, *coroutines.CHECKS, *ml.CHECKS)
ALL_CHECKS += races.CHECKS
