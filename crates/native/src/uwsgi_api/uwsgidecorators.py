"""uwsgidecorators for apps served by rsgi.

The decorators of uWSGI's uwsgidecorators.py that make sense without
uWSGI's signal framework, spooler and mules, with the same names and
call shapes. Timers and crons run in rsgi's workers, not as uWSGI
signals: a function runs in worker 1 (target '' or 'worker', as uWSGI
runs a signal in one worker), in every worker ('workers'), or in worker N
('workerN'). Handlers get a number, as uWSGI passes the signal number.
"""

import threading

import uwsgi

postfork_chain = []


def postfork_chain_hook():
    for f in postfork_chain:
        f()


uwsgi.post_fork_hook = postfork_chain_hook


class postfork(object):
    """Run the function in every worker (or worker N with
    ``@postfork(N)``) once, right after it is forked."""

    def __init__(self, f):
        if callable(f):
            self.wid = 0
            self.f = f
        else:
            self.f = None
            self.wid = f
        postfork_chain.append(self)

    def __call__(self, *args, **kwargs):
        if self.f:
            if self.wid > 0 and self.wid != uwsgi.worker_id():
                return
            return self.f()
        self.f = args[0]


_numbers = iter(range(1, 256))


def _number(kwargs):
    if "signum" in kwargs:
        return kwargs["signum"]
    try:
        return next(_numbers)
    except StopIteration:
        raise RuntimeError("rsgi runs at most 255 timers and crons") from None


class timer(object):
    """Call the function every ``secs`` seconds."""

    def __init__(self, secs, **kwargs):
        self.num = _number(kwargs)
        self.secs = secs
        self.target = kwargs.get("target", "")

    def __call__(self, f):
        uwsgi._rsgi_add_timer(self.num, f, self.secs, self.target)
        return f


class cron(object):
    """Call the function when the local time matches, as uWSGI's cron
    does: -1 for any value, -N for every N-th."""

    def __init__(self, minute, hour, day, month, dayweek, **kwargs):
        self.num = _number(kwargs)
        self.spec = (minute, hour, day, month, dayweek)
        self.target = kwargs.get("target", "")

    def __call__(self, f):
        uwsgi._rsgi_add_cron(self.num, f, self.spec, self.target)
        return f


class harakiri(object):
    """Kill the worker (logging every thread's traceback) if one call of
    the function takes longer than ``seconds``; the master replaces it."""

    def __init__(self, seconds):
        self.s = seconds

    def real_call(self, *args, **kwargs):
        uwsgi.set_user_harakiri(self.s)
        try:
            return self.f(*args, **kwargs)
        finally:
            uwsgi.set_user_harakiri(0)

    def __call__(self, f):
        self.f = f
        return self.real_call


class thread(object):
    """Run each call of the function in a new daemon thread."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args):
        t = threading.Thread(target=self.f, args=args)
        t.daemon = True
        t.start()
        return self.f


class lock(object):
    """Run the function holding uwsgi.lock(): one call at a time across
    every thread of every worker."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args, **kwargs):
        uwsgi.lock()
        try:
            return self.f(*args, **kwargs)
        finally:
            uwsgi.unlock()


def _absent(name, instead):
    def refuse(*args, **kwargs):
        raise RuntimeError(
            "uwsgidecorators.%s needs uWSGI's %s, which rsgi does not have; "
            "see 'Moving from uWSGI' in rsgi's README" % (name, instead)
        )

    refuse.__name__ = name
    return refuse


spool = _absent("spool", "spooler (use celery or rq)")
spoolforever = _absent("spoolforever", "spooler (use celery or rq)")
spoolraw = _absent("spoolraw", "spooler (use celery or rq)")
mulefunc = _absent("mulefunc", "mules (run a separate process)")
mule = _absent("mule", "mules (run a separate process)")
muleloop = _absent("muleloop", "mules (run a separate process)")
mulemsg = _absent("mulemsg", "mules (run a separate process)")
farm = _absent("farm", "mule farms (run a separate process)")
signal = _absent("signal", "signal framework (use @timer, @cron or a thread)")
mstimer = _absent("mstimer", "signal framework (use @timer)")
rbtimer = _absent("rbtimer", "signal framework (use @timer)")
filemon = _absent("filemon", "signal framework (watch the file in a @thread)")
rpc = _absent("rpc", "RPC subsystem")
erlang = _absent("erlang", "Erlang bridge")
