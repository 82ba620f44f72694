"""A Flask app as rsgi (or uWSGI) serves it: static files from the
server (static-map in rsgi.ini), and a sqlite connection per worker,
opened after the fork (@postfork), since a connection must not be shared
across processes."""

import os
import sqlite3

from flask import Flask, g

try:
    import uwsgi
    from uwsgidecorators import postfork
except ImportError:  # another server (flask run, gunicorn): no workers forked
    uwsgi = None

    def postfork(f):
        f()
        return f


HERE = os.path.dirname(os.path.abspath(__file__))
DATABASE = os.environ.get("APP_DATABASE", os.path.join(HERE, "visits.sqlite3"))

app = Flask(__name__, static_folder=None)
db = None


@postfork
def connect():
    """Each worker opens its own connection once it is forked."""
    global db
    db = sqlite3.connect(DATABASE, check_same_thread=False, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS visits (pid INTEGER)")


@app.route("/")
def index():
    db.execute("INSERT INTO visits (pid) VALUES (?)", (os.getpid(),))
    (count,) = db.execute("SELECT COUNT(*) FROM visits").fetchone()
    worker = uwsgi.worker_id() if uwsgi else 0
    return {"worker": worker, "pid": os.getpid(), "visits": count}
