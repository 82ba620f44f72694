"""rsgi: a uWSGI-compatible WSGI server and process supervisor.

The ``rsgi`` command is a native binary (the master, which never runs
Python). This package holds the extension the master loads into the app's
own interpreter (``_native``), and finds the binary for ``python -m rsgi``.
"""

import os
import shutil
import sys
import sysconfig

__all__ = ["binary"]


def binary():
    """The path of the ``rsgi`` command installed with this package."""
    schemes = [None]
    if os.name == "posix":
        schemes.append("posix_user")
    for scheme in schemes:
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        candidate = os.path.join(scripts, "rsgi")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("rsgi")
    if found:
        return found
    sys.exit("rsgi: the rsgi command is not installed next to this Python package")
