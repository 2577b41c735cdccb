"""Allow ``python -m conclint``."""

import sys

from conclint.cli import main

sys.exit(main())
