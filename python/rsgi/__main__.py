"""``python -m rsgi ...`` runs the ``rsgi`` command with the same arguments."""

import os
import sys

from . import binary

if __name__ == "__main__":
    path = binary()
    os.execv(path, [path] + sys.argv[1:])
