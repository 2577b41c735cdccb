"""Stage 5: the rules. Each family module lists its checks as ``(codes, function)``."""

from conclint.checks import deadlocks
from conclint.checks import lifecycle

ALL_CHECKS = (*deadlocks.CHECKS,)
ALL_CHECKS += lifecycle.CHECKS
