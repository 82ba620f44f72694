//! `import uwsgi` and `import uwsgidecorators` in apps, observed from an
//! app as Django and Flask projects use them: `uwsgi.opt`, `worker_id()`,
//! `reload()`, `@postfork` (reconnecting a database), `@timer`,
//! `uwsgi.atexit`, logvars in the request log, `@lock`, `@harakiri`, and
//! the modules' absence outside rsgi.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;

/// Records what the app sees into files under its directory (the test
/// reads them), and answers a few paths.
const APP: &str = r#"
import json, os, time
import uwsgi
from uwsgidecorators import postfork, timer, cron, lock, harakiri, thread

HERE = os.path.dirname(os.path.abspath(__file__))

def record(name, line):
    with open(os.path.join(HERE, name), "a") as f:
        f.write(line + "\n")

record("imports", "%d %d" % (os.getpid(), uwsgi.worker_id()))

@postfork
def reconnect():
    record("postfork", "%d %d" % (os.getpid(), uwsgi.worker_id()))

@postfork(2)
def only_in_worker_2():
    record("postfork2", "%d %d" % (os.getpid(), uwsgi.worker_id()))

@timer(0.2)
def tick(num):
    record("ticks", "%d %d %d" % (os.getpid(), uwsgi.worker_id(), num))

@timer(0.2, target="workers")
def tick_everywhere(num):
    record("ticks_all", "%d %d" % (os.getpid(), uwsgi.worker_id()))

@cron(-1, -1, -1, -1, -1, signum=42)
def every_minute(num):
    record("crons", "%d %d %d" % (os.getpid(), uwsgi.worker_id(), num))

@thread
def in_a_thread(path):
    import threading
    record(path, threading.current_thread().name)

def bye():
    record("atexit", "%d %d" % (os.getpid(), uwsgi.worker_id()))

uwsgi.atexit = bye

@lock
def serialized():
    record("locked", "start %d" % os.getpid())
    time.sleep(0.1)
    record("locked", "end %d" % os.getpid())

@harakiri(1)
def stuck():
    time.sleep(60)

def info():
    return {
        "opt": {k: repr(v) for k, v in uwsgi.opt.items()},
        "worker_id": uwsgi.worker_id(),
        "numproc": uwsgi.numproc,
        "masterpid": uwsgi.masterpid(),
        "version": repr(uwsgi.version),
        "hostname": repr(uwsgi.hostname),
        "started_on": uwsgi.started_on,
        "total_requests": uwsgi.total_requests(),
        "workers": [
            {"id": w["id"], "pid": w["pid"], "status": repr(w["status"]),
             "apps": len(w["apps"])} for w in uwsgi.workers()
        ],
        "has_spool": hasattr(uwsgi, "spool"),
        "mule_id": uwsgi.mule_id(),
    }

def application(environ, start_response):
    path = environ["PATH_INFO"]
    body = b"ok"
    if path == "/info":
        body = json.dumps(info()).encode()
    elif path == "/absent":
        try:
            uwsgi.cache_get("key")
        except AttributeError as e:
            body = str(e).encode()
    elif path == "/logvar":
        uwsgi.set_logvar("user_id", "42")
        uwsgi.set_logvar("user_id", "43")
        body = repr(uwsgi.get_logvar("user_id")).encode() + repr(uwsgi.get_logvar("nope")).encode()
    elif path == "/reload":
        body = repr(uwsgi.reload()).encode()
    elif path == "/locked":
        serialized()
    elif path == "/stuck":
        stuck()
    elif path == "/thread":
        in_a_thread("threads")
    elif path == "/pid":
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

fn start(extra: &[&str]) -> Server {
    let dir = TempDir::new("uwsgi-module");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py", "--processes", "2"];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

fn lines(s: &Server, name: &str) -> Vec<String> {
    std::fs::read_to_string(s.dir.path().join(name))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn json(s: &Server, path: &str) -> serde_json::Value {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log_text());
    serde_json::from_str(&r.text()).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// `uwsgi.opt` as uWSGI 2.0 gives it on Python 3 (bytes values, `True`
/// for a bare switch, lists for repeated keys, custom keys included),
/// and the worker's identity.
#[test]
fn opt_and_identity_are_uwsgis() {
    let dir = TempDir::new("uwsgi-module");
    dir.write("app.py", APP);
    dir.write(
        "app.ini",
        "[uwsgi]\nwsgi-file = %d/app.py\nprocesses = 2\nmy-setting = on\ncron-dir = /a\ncron-dir = /b\n",
    );
    let s = Launch::new(dir)
        .args(&["--ini", "{dir}/app.ini", "--master"])
        .start();
    let info = json(&s, "/info");
    let opt = &info["opt"];
    assert_eq!(opt["my-setting"], "b'on'", "{info}");
    assert_eq!(opt["processes"], "b'2'", "{info}");
    assert_eq!(opt["cron-dir"], "[b'/a', b'/b']", "{info}");
    assert_eq!(opt["master"], "True", "{info}");
    assert!(opt["http-socket"].as_str().is_some(), "{info}");
    let workers = worker_pids(s.pid());
    assert_eq!(info["numproc"], 2);
    assert_eq!(info["masterpid"], s.pid());
    assert!(
        info["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("b'2.0.")),
        "{info}"
    );
    assert!(
        info["hostname"]
            .as_str()
            .is_some_and(|h| h.starts_with("b'")),
        "{info}"
    );
    assert!(
        info["started_on"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000),
        "{info}"
    );
    assert_eq!(info["has_spool"], false);
    assert_eq!(info["mule_id"], 0);
    let id = info["worker_id"].as_u64().expect("worker_id");
    assert!(id == 1 || id == 2, "{info}");
    let listed: Vec<(u64, i64)> = info["workers"]
        .as_array()
        .expect("workers()")
        .iter()
        .map(|w| {
            (
                w["id"].as_u64().unwrap_or(0),
                w["pid"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        listed.iter().map(|w| w.0).collect::<Vec<_>>(),
        [1, 2],
        "{info}"
    );
    let mut pids: Vec<i32> = listed.iter().map(|w| w.1 as i32).collect();
    pids.sort_unstable();
    assert_eq!(pids, workers, "{info}");
    assert_eq!(info["workers"][0]["apps"], 1);
    // Asking for what rsgi lacks says what to use instead.
    let absent = s.get("/absent").text();
    assert!(
        absent.contains("uwsgi.cache_get is not available under rsgi") && absent.contains("redis"),
        "{absent}"
    );
}

/// `@postfork` runs once in each worker, in the worker (not in the
/// zygote, where the app was imported once), and `@postfork(2)` in
/// worker 2 only.
#[test]
fn postfork_runs_once_per_worker_after_the_fork() {
    let s = start(&[]);
    let workers = worker_pids(s.pid());
    let imports = lines(&s, "imports");
    assert_eq!(imports.len(), 1, "the app is imported once, in the zygote");
    let (zygote, id_at_import) = imports[0].split_once(' ').unwrap_or_default();
    assert_eq!(id_at_import, "0", "no worker id in the zygote");
    let postfork = lines(&s, "postfork");
    assert_eq!(postfork.len(), 2, "{postfork:?}");
    let mut pids: Vec<i32> = postfork
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, workers, "{postfork:?}");
    assert!(!pids.contains(&zygote.parse().unwrap_or(0)));
    let ids: BTreeSet<&str> = postfork
        .iter()
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    assert_eq!(ids, BTreeSet::from(["1", "2"]));
    let second = lines(&s, "postfork2");
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].ends_with(" 2"), "{second:?}");
}

/// With `lazy-apps` each worker imports the app itself, knowing its id
/// already, and its `@postfork` functions still run, once.
#[test]
fn postfork_runs_with_lazy_apps_too() {
    let s = start(&["--lazy-apps"]);
    let workers = worker_pids(s.pid());
    let imports = lines(&s, "imports");
    let mut pids: Vec<i32> = imports
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, workers, "each worker imports the app");
    let ids: BTreeSet<&str> = imports.iter().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(ids, BTreeSet::from(["1", "2"]), "{imports:?}");
    let postfork = lines(&s, "postfork");
    let ids: BTreeSet<&str> = postfork
        .iter()
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    assert_eq!(postfork.len(), 2, "{postfork:?}");
    assert_eq!(ids, BTreeSet::from(["1", "2"]));
}

/// `@timer` fires repeatedly, in worker 1 by default (uWSGI hands a
/// signal to one worker) and in each worker with `target='workers'`,
/// with the number uWSGI would pass.
#[test]
fn timers_fire_in_the_workers_they_target() {
    let s = start(&[]);
    wait_until("3 ticks and a tick in each worker", PATIENCE, || {
        let all: BTreeSet<String> = lines(&s, "ticks_all")
            .iter()
            .filter_map(|l| l.split(' ').nth(1).map(String::from))
            .collect();
        lines(&s, "ticks").len() >= 3 && all.len() == 2
    });
    let ticks = lines(&s, "ticks");
    for t in &ticks {
        let fields: Vec<&str> = t.split(' ').collect();
        assert_eq!(fields[1..], ["1", "1"], "worker 1, number 1: {ticks:?}");
    }
}

/// `@cron(-1, -1, -1, -1, -1)` runs at the start of every minute, in
/// worker 1, with the number it was given. The wait is for the next
/// minute of the clock, so it may take up to a minute before PATIENCE.
#[test]
fn cron_fires_at_the_next_minute() {
    let s = start(&[]);
    let within = Duration::from_secs(60) + PATIENCE;
    wait_until("a cron run", within, || !lines(&s, "crons").is_empty());
    let crons = lines(&s, "crons");
    let fields: Vec<&str> = crons[0].split(' ').collect();
    assert_eq!(fields[1..], ["1", "42"], "{crons:?}");
}

/// `@thread` runs each call in a thread of its own, not the request's.
#[test]
fn thread_decorator_runs_calls_elsewhere() {
    let s = start(&[]);
    assert_eq!(s.get("/thread").status, 200);
    wait_until("the thread's record", PATIENCE, || {
        !lines(&s, "threads").is_empty()
    });
    let name = &lines(&s, "threads")[0];
    assert!(name.starts_with("Thread-"), "{name}");
}

/// `uwsgi.atexit` runs in each worker when it stops gracefully.
#[test]
fn atexit_runs_when_workers_stop() {
    let mut s = start(&[]);
    let workers = worker_pids(s.pid());
    assert!(lines(&s, "atexit").is_empty());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
    let mut pids: Vec<i32> = lines(&s, "atexit")
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, workers, "{}", s.log_text());
}

/// `uwsgi.set_logvar()` values show in `log-format` as `%(name)` for the
/// request that set them; one not set shows nothing (as in uWSGI).
#[test]
fn logvars_appear_in_the_request_log() {
    let s = start(&[
        "--log-format",
        "%(method) %(uri) user=%(user_id) [%(unset)]",
    ]);
    let r = s.get("/logvar");
    assert_eq!(r.text(), "b'43'None");
    s.wait_for_log("GET /logvar user=43 []", PATIENCE);
    // The next request on the same thread starts with none.
    assert_eq!(s.get("/pid").status, 200);
    s.wait_for_log("GET /pid user= []", PATIENCE);
}

/// `uwsgi.reload()` asks the master for a graceful reload: a new
/// generation of workers serves, and no request of a steady load fails.
#[test]
fn reload_from_the_app_replaces_every_worker_and_loses_nothing() {
    let s = start(&[]);
    let before = worker_pids(s.pid());
    let load = Load::start(s.port, 4, "/pid");
    load.wait_for(20, PATIENCE);
    s.reloaded(|| assert_eq!(s.get("/reload").text(), "True"));
    load.wait_for(20, PATIENCE);
    let result = load.finish();
    assert_eq!(result.failed, 0, "{}", s.log_text());
    wait_until("two new workers", PATIENCE, || {
        let after = worker_pids(s.pid());
        after.len() == 2 && after.iter().all(|p| !before.contains(p))
    });
    let served: i32 = s.get("/pid").text().parse().unwrap_or(0);
    assert!(!before.contains(&served), "{served} is an old worker");
}

/// `@lock` holds one lock across every worker and thread: calls never
/// overlap.
#[test]
fn lock_serializes_calls_across_workers() {
    let s = start(&["--threads", "2"]);
    let port = s.port;
    let statuses = concurrently(6, move |_| {
        request(
            port,
            "GET /locked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let locked = lines(&s, "locked");
    assert_eq!(locked.len(), 12, "{locked:?}");
    for pair in locked.chunks(2) {
        let pid = pair[0].strip_prefix("start ");
        assert!(
            pid.is_some() && pair[1].strip_prefix("end ") == pid,
            "calls overlapped: {locked:?}"
        );
    }
    let pids: BTreeSet<&str> = locked.iter().filter_map(|l| l.split(' ').nth(1)).collect();
    assert!(!pids.is_empty());
}

/// `@harakiri(1)`: a call past its second kills the worker, with every
/// thread's traceback logged; the master replaces it and serving goes on.
#[test]
fn harakiri_decorator_kills_a_stuck_worker() {
    let s = start(&[]);
    let before = worker_pids(s.pid());
    let r = try_request(
        &Endpoint::from(s.port),
        b"GET /stuck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.is_err() || r.is_ok_and(|r| r.status != 200));
    s.wait_for_log("HARAKIRI: a call under @harakiri(1)", PATIENCE);
    s.wait_for_log("in stuck", PATIENCE);
    wait_until("a replacement worker", PATIENCE, || {
        let after = worker_pids(s.pid());
        after.len() == 2 && after.iter().any(|p| !before.contains(p))
    });
    assert_eq!(s.get("/pid").status, 200);
}

/// Outside rsgi the modules do not exist, so `try: import uwsgi` tells
/// an app which server it runs under.
#[test]
fn the_modules_exist_only_inside_rsgi() {
    // rsgi's own Python package does not bring them along either.
    let package = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
    for module in ["uwsgi", "uwsgidecorators"] {
        let out = run(
            std::process::Command::new("python3")
                .env("PYTHONPATH", package)
                .args(["-c", &format!("import rsgi, {module}")]),
            b"",
            PATIENCE,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("ModuleNotFoundError"),
            "{module}: {err}"
        );
    }
}
