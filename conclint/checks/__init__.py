"""Stage 5: the rules. Each family module lists its checks as ``(codes, function)``."""

from conclint.checks import deadlocks, ml

ALL_CHECKS = (*deadlocks.CHECKS, *ml.CHECKS)
