//! How processes end and begin under faults: a worker whose master dies
//! mid-request, a worker's exit hooks, and re-exec after the binary on
//! disk was replaced (a package upgrade).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

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
    if path == "/print":
        print("printed-without-newline", end="")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"#;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Kills an orphaned process (no longer the test's descendant) on drop.
struct Reap(Vec<i32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if alive(pid) {
                // SAFETY: kill(2) on a worker this test's server started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// The body of `GET /` if it answers 200 within a few seconds; quiet
/// while nothing listens yet.
fn answer(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut data = Vec::new();
    s.read_to_end(&mut data).ok()?;
    parse_response(&data)
        .filter(|r| r.status == 200)
        .map(|r| r.text())
}

/// Send a GET now; the response's status arrives through the handle.
fn get_in_background(port: u16, path: &str) -> std::thread::JoinHandle<Option<u16>> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        s.write_all(raw.as_bytes()).ok()?;
        let mut data = Vec::new();
        s.read_to_end(&mut data).ok()?;
        parse_response(&data).map(|r| r.status)
    })
}

fn start_app(extra: &[&str]) -> Server {
    let dir = TempDir::new("life");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

/// A second rsgi on `port`; waits until it is ready or has exited.
fn start_on(port: u16) -> Server {
    let dir = TempDir::new("life2");
    dir.write("app.py", APP);
    let addr = format!("127.0.0.1:{port}");
    let mut s = Server::spawn(
        dir,
        &["--wsgi-file", "{dir}/app.py", "--http-socket", &addr],
        false,
    );
    s.port = port;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) && !s.log_text().contains("rsgi is ready") {
        if let Ok(Some(status)) = s.child.try_wait() {
            panic!(
                "a new rsgi on the same port exited with {status}:\n{}",
                s.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

#[test]
fn a_worker_busy_when_its_master_dies_stops_listening_and_finishes_its_request() {
    let s = start_app(&["--threads", "1"]);
    let workers = worker_pids(s.pid());
    let _reap = Reap(workers.clone());
    let request = get_in_background(s.port, "/sleep?2");
    wait_until("the request to run", Duration::from_secs(10), || {
        s.dir.path().join("sleeping").exists()
    });
    s.signal(libc::SIGKILL);
    // The busy worker lets go of the socket at once (the zygote dies with
    // the master): a restarted rsgi binds it (it used to exit 30) and serves.
    let port = s.port;
    wait_until("the port to be released", Duration::from_secs(2), || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
    let again = start_on(port);
    assert!(
        again.log_text().contains("rsgi is ready"),
        "{}",
        again.log_text()
    );
    let new_pid: i32 = again.get("/").text().parse().expect("a pid");
    assert!(!workers.contains(&new_pid));
    // The request in flight still gets its answer, then the worker leaves.
    assert_eq!(request.join().expect("client"), Some(200));
    wait_until(
        "the orphaned worker to exit",
        Duration::from_secs(10),
        || workers.iter().all(|&w| !alive(w)),
    );
}

#[test]
fn a_worker_whose_master_died_exits_after_worker_reload_mercy() {
    let s = start_app(&["--threads", "1", "--worker-reload-mercy", "1"]);
    let workers = worker_pids(s.pid());
    let _reap = Reap(workers.clone());
    let _request = get_in_background(s.port, "/sleep?60");
    wait_until("the request to run", Duration::from_secs(10), || {
        s.dir.path().join("sleeping").exists()
    });
    s.signal(libc::SIGKILL);
    let killed = Instant::now();
    wait_until("the stuck worker to exit", Duration::from_secs(10), || {
        workers.iter().all(|&w| !alive(w))
    });
    assert!(killed.elapsed() < Duration::from_secs(5));
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
    s.signal(libc::SIGHUP);
    wait_until("both workers replaced", Duration::from_secs(20), || {
        let now = worker_pids(s.pid());
        now.len() == 2 && now.iter().all(|p| !first.contains(p))
    });
    wait_until("the old workers' atexit", Duration::from_secs(10), || {
        let ran = atexit_pids(s.dir.path());
        first.iter().all(|p| ran.contains(p))
    });
    let second = worker_pids(s.pid());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0));
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

/// A copy of the rsgi binary in `dir`, to be removed while it runs.
fn copy_of_rsgi(dir: &Path) -> PathBuf {
    let copy = dir.join("rsgi-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_rsgi"), &copy).expect("copy the binary");
    copy
}

/// What a package upgrade does to the running binary's path: a new file
/// is renamed over it.
fn upgrade(binary: &Path) {
    let new = binary.with_extension("new");
    std::fs::write(&new, b"#!/bin/sh\nexit 99\n").expect("new file");
    std::fs::rename(&new, binary).expect("rename over");
}

fn spawn_with(binary: &Path, dir: &TempDir, args: &[&str]) -> std::process::Child {
    let log = std::fs::File::create(dir.path().join("rsgi.log")).expect("log");
    std::process::Command::new(binary)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("start the copy")
}

/// Kills a process tree by PID on drop.
struct Tree(i32);

impl Drop for Tree {
    fn drop(&mut self) {
        let mut pids = descendants(self.0);
        pids.push(self.0);
        for pid in pids {
            // SAFETY: kill(2) on processes this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_reload_after_the_binary_was_replaced_starts_the_running_build() {
    let dir = TempDir::new("upgrade");
    dir.write("app.py", APP);
    let binary = copy_of_rsgi(dir.path());
    let port = free_port();
    let app = dir.path().join("app.py");
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn_with(
        &binary,
        &dir,
        &[
            "--wsgi-file",
            app.to_str().expect("utf-8"),
            "--http-socket",
            &addr,
        ],
    );
    let master = child.id() as i32;
    let _tree = Tree(master);
    let log = || std::fs::read_to_string(dir.path().join("rsgi.log")).unwrap_or_default();
    wait_until("the copy to be ready", Duration::from_secs(20), || {
        log().contains("rsgi is ready")
    });
    let before = worker_pids(master);
    upgrade(&binary);
    // SAFETY: kill(2) on the master this test started.
    unsafe { libc::kill(master, libc::SIGHUP) };
    wait_until(
        "the worker replaced by a new zygote's",
        Duration::from_secs(20),
        || {
            let now = worker_pids(master);
            !now.is_empty() && now.iter().all(|p| !before.contains(p))
        },
    );
    assert!(answer(port).is_some(), "{}", log());
    // SAFETY: as above.
    unsafe { libc::kill(master, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{}", log());
}

#[test]
fn the_emperor_starts_vassals_after_the_binary_was_replaced() {
    let dir = TempDir::new("upgrade-emperor");
    dir.write("app.py", APP);
    let binary = copy_of_rsgi(dir.path());
    let vassals = dir.path().join("vassals");
    std::fs::create_dir_all(&vassals).expect("vassal dir");
    let mut child = spawn_with(
        &binary,
        &dir,
        &["--emperor", vassals.to_str().expect("utf-8")],
    );
    let _tree = Tree(child.id() as i32);
    let log = || std::fs::read_to_string(dir.path().join("rsgi.log")).unwrap_or_default();
    wait_until("the emperor", Duration::from_secs(10), || {
        log().contains("emperor started")
    });
    upgrade(&binary);
    let port = free_port();
    std::fs::write(
        vassals.join("app.ini"),
        format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {}\n",
            dir.path().join("app.py").display()
        ),
    )
    .expect("vassal file");
    wait_until("the vassal to serve", Duration::from_secs(20), || {
        answer(port).is_some()
    });
    // SAFETY: kill(2) on the emperor this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}
