"""Allow ``python -m conclint``.

Guarded: under the spawn and forkserver start methods, worker processes re-import the main
module, and must not start a second run.
"""

import os
import sys

# ``python -m`` puts the working directory first on sys.path; in the checkout being analysed,
# a ``libcst.py`` or ``threading.py`` there would be imported instead of the real one and run.
# conclint's own package is already imported, so the directory is not needed: drop it.
if sys.path and not sys.flags.safe_path and os.path.abspath(sys.path[0] or os.curdir) == \
        os.getcwd():
    del sys.path[0]

if __name__ == "__main__":
    from conclint.cli import entry

    entry()
