"""The WSGI entry point rsgi.ini names (module = mysite.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()

# The worker the post-fork hook last ran in (the status view shows it).
postfork_pid = None

try:
    from uwsgidecorators import postfork
except ImportError:  # another server: nothing is forked after import
    postfork = None

if postfork:

    @postfork
    def close_inherited_connections():
        """Database connections opened while the app was imported (before
        the fork) must not be shared by the workers: close them, and each
        worker opens its own on its first query."""
        global postfork_pid
        from django.db import connections

        connections.close_all()
        postfork_pid = os.getpid()
