import os

from django.db import connection
from django.http import JsonResponse

from . import wsgi

try:
    import uwsgi
except ImportError:
    uwsgi = None


def status(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()")
        (sqlite,) = cursor.fetchone()
    return JsonResponse(
        {
            "worker": uwsgi.worker_id() if uwsgi else 0,
            "pid": os.getpid(),
            "postfork_pid": wsgi.postfork_pid,
            "sqlite": sqlite,
        }
    )
