"""Allow ``python -m conclint``.

Guarded: under the spawn and forkserver start methods, worker processes re-import the main
module, and must not start a second run.
"""

import sys

from conclint.cli import main

if __name__ == "__main__":
    sys.exit(main())
