//! How processes end and begin under faults: a worker whose master dies
//! mid-request, a worker's exit hooks, and re-exec after the binary on
//! disk was replaced (a package upgrade).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::*;

const APP: &str = r#"
import atexit, os, sys, time

HERE = os.path.dirname(__file__)
print("imported-" + "once", end="")

def goodbye():
    with open(os.path.join(HERE, "atexit.log"), "a") as f:
        f.write("%d\n" % os.getpid())

atexit.register(goodbye)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        open(os.path.join(HERE, "sleeping"), "w").close()
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    if path == "/hold":
        hold(environ)
    if path == "/print":
        print("printed-without-newline", end="")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"#;

/// Send a GET now; the response's status arrives through the handle.
fn get_in_background(port: u16, path: &str) -> std::thread::JoinHandle<Option<u16>> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::thread::spawn(move || {
        try_request(&Endpoint::Tcp(port), raw.as_bytes())
            .ok()
            .map(|r| r.status)
    })
}

fn launch(extra: &[&str]) -> Launch {
    let dir = TempDir::new("life");
    dir.write("app.py", &format!("{HOLD_PY}{APP}"));
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Launch::new(dir).args(&args)
}

fn start_app(extra: &[&str]) -> Server {
    launch(extra).start()
}

#[test]
fn a_worker_busy_when_its_master_dies_stops_listening_and_finishes_its_request() {
    // The test keeps the address, to start a second rsgi on it.
    let http = Listener::tcp();
    let s = launch(&["--threads", "1"]).http(&http).start();
    let workers = worker_pids(s.pid());
    let request = get_in_background(s.port, "/hold?1");
    wait_until("the request to run", PATIENCE, || held(s.dir.path()) == 1);
    s.signal(libc::SIGKILL);
    // The busy worker lets go of the socket while its request still runs
    // (it waits for the test): a restarted rsgi on the same socket gets
    // every new connection (a worker that kept it would take some).
    wait_until("the busy worker to let go of the socket", PATIENCE, || {
        workers.iter().all(|&w| !http.held_by(w))
    });
    let again = launch(&[]).http(&http).start();
    let new_pid: i32 = again.get("/").text().parse().expect("a pid");
    assert!(!workers.contains(&new_pid));
    // The request in flight still gets its answer, then the worker leaves.
    release(s.dir.path());
    assert_eq!(request.join().expect("client"), Some(200));
    wait_until("the orphaned worker to exit", PATIENCE, || {
        workers.iter().all(|&w| is_gone(w))
    });
}

#[test]
fn a_worker_whose_master_died_exits_after_worker_reload_mercy() {
    let s = start_app(&["--threads", "1", "--worker-reload-mercy", "1"]);
    let workers = worker_pids(s.pid());
    // Held for a minute, longer than the test waits: only the mercy ends it.
    let _request = get_in_background(s.port, "/hold?1");
    wait_until("the request to run", PATIENCE, || held(s.dir.path()) == 1);
    s.signal(libc::SIGKILL);
    let killed = Instant::now();
    wait_until("the stuck worker to exit", PATIENCE, || {
        workers.iter().all(|&w| is_gone(w))
    });
    assert!(
        killed.elapsed() >= std::time::Duration::from_secs(1),
        "the worker left before worker-reload-mercy"
    );
}

fn atexit_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("atexit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn graceful_worker_exits_run_atexit_and_flush_stdout() {
    let mut s = start_app(&["--processes", "2"]);
    let first = worker_pids(s.pid());
    assert_eq!(s.get("/print").status, 200);
    // A reload replaces both workers gracefully: each runs its atexit.
    s.reloaded(|| s.signal(libc::SIGHUP));
    wait_until("both workers replaced", PATIENCE, || {
        let now = worker_pids(s.pid());
        now.len() == 2 && now.iter().all(|p| !first.contains(p))
    });
    wait_until("the old workers' atexit", PATIENCE, || {
        let ran = atexit_pids(s.dir.path());
        first.iter().all(|p| ran.contains(p))
    });
    let second = worker_pids(s.pid());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    let ran = atexit_pids(s.dir.path());
    assert!(
        second.iter().all(|p| ran.contains(p)),
        "atexit ran in {ran:?}"
    );
    let log = s.log_text();
    assert!(log.contains("printed-without-newline"), "{log}");
    // The zygote flushes before it forks: what it printed while importing
    // appears once per import (two zygotes), not once per worker.
    assert_eq!(log.matches("imported-once").count(), 2, "{log}");
}

/// A copy of the rsgi binary in `dir`, to be removed while it runs, and
/// beside it a copy of the extension it loads.
fn copy_of_rsgi(dir: &Path) -> PathBuf {
    let binary = rsgi_binary();
    let copy = dir.join("rsgi-copy");
    std::fs::copy(binary, &copy).expect("copy the binary");
    std::fs::copy(
        binary.with_file_name("librsgi_native.so"),
        extension_beside(&copy),
    )
    .expect("copy the extension");
    copy
}

fn extension_beside(binary: &Path) -> PathBuf {
    binary.with_file_name("librsgi_native.so")
}

/// What a package upgrade does to the running binary's path: a new file
/// is renamed over it.
fn upgrade(binary: &Path) {
    let new = binary.with_extension("new");
    std::fs::write(&new, b"#!/bin/sh\nexit 99\n").expect("new file");
    std::fs::rename(&new, binary).expect("rename over");
    // The extension too: loading this one would fail.
    std::fs::write(&new, b"not an ELF file").expect("new file");
    std::fs::rename(&new, extension_beside(binary)).expect("rename over");
}

#[test]
fn a_reload_after_the_binary_was_replaced_starts_the_running_build() {
    let dir = TempDir::new("upgrade");
    dir.write("app.py", APP);
    let binary = copy_of_rsgi(dir.path());
    let mut s = Launch::new(dir)
        .program(&binary)
        .args(&["--wsgi-file", "{dir}/app.py"])
        .start();
    let before = worker_pids(s.pid());
    upgrade(&binary);
    s.reloaded(|| s.signal(libc::SIGHUP));
    wait_until("the worker replaced by a new zygote's", PATIENCE, || {
        let now = worker_pids(s.pid());
        !now.is_empty() && now.iter().all(|p| !before.contains(p))
    });
    assert!(ok_body(s.port).is_some(), "{}", s.log_text());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
}

#[test]
fn the_emperor_starts_vassals_after_the_binary_was_replaced() {
    let dir = TempDir::new("upgrade-emperor");
    dir.write("app.py", APP);
    let binary = copy_of_rsgi(dir.path());
    let vassals = dir.path().join("vassals");
    std::fs::create_dir_all(&vassals).expect("vassal dir");
    let stats = Listener::tcp();
    let mut s = Launch::new(dir)
        .program(&binary)
        .args(&["--emperor", vassals.to_str().expect("utf-8")])
        .socket("--emperor-stats", &stats)
        .no_http()
        .spawn();
    // The emperor answers its stats once it runs.
    assert!(stats_from(stats.port())["vassals"].is_array());
    upgrade(&binary);
    // The vassal binds its own socket: a unix socket in this test's dir.
    let socket = s.dir.path().join("vassal.sock");
    std::fs::write(
        vassals.join("app.ini"),
        format!(
            "[uwsgi]\nhttp-socket = {}\nwsgi-file = {}\n",
            socket.display(),
            s.dir.path().join("app.py").display()
        ),
    )
    .expect("vassal file");
    wait_until("the vassal to serve", PATIENCE, || {
        ok_body(&socket).is_some()
    });
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
}
