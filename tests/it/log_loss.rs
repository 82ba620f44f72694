//! A log that cannot be written never stops serving: `--logto /dev/full`,
//! and a log disk that fills up while serving and is then freed. Every
//! process keeps running, every Python thread keeps serving, and once the
//! disk has room again the log says how many lines were lost.

use crate::common::*;

const APP: &str = r#"
import sys

def application(environ, start_response):
    path = environ["PATH_INFO"]
    print("the app prints a line")
    environ["wsgi.errors"].write("the app writes to wsgi.errors\n")
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/hold":
        hold(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"#;

/// GET `path`; the status, or None.
fn get(port: u16, path: &str) -> Option<u16> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    try_request(&Endpoint::Tcp(port), raw.as_bytes())
        .ok()
        .map(|r| r.status)
}

/// Four requests held by the app all start: four Python threads are
/// alive to run them at once.
fn four_threads_serve_at_once(s: &Server) {
    let port = s.port;
    let clients: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || get(port, &format!("/hold?{i}"))))
        .collect();
    wait_until("four requests running at once", PATIENCE, || {
        held(s.dir.path()) == 4
    });
    release(s.dir.path());
    let statuses: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == Some(200)),
        "statuses: {statuses:?}"
    );
}

#[test]
fn logto_dev_full_serves_and_stops_cleanly() {
    let dir = TempDir::new("devfull");
    dir.write("app.py", &format!("{HOLD_PY}{APP}"));
    let mut s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--threads",
            "4",
            "--logto",
            "/dev/full",
        ],
    );
    for _ in 0..8 {
        assert_eq!(get(s.port, "/boom"), Some(500));
    }
    four_threads_serve_at_once(&s);
    // The master logs the stats on SIGUSR1: its log line must not kill it.
    s.signal(libc::SIGUSR1);
    assert_eq!(get(s.port, "/"), Some(200));
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
}

#[test]
fn a_full_log_disk_loses_lines_not_requests_and_says_so_once_freed() {
    let dir = TempDir::new("fulldisk");
    dir.write("app.py", &format!("{HOLD_PY}{APP}"));
    let Some(disk) = Tmpfs::mount("logdisk", "256k") else {
        return;
    };
    let logfile = disk.path().join("rsgi.log");
    let mut s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--threads",
            "4",
            "--processes",
            "2",
            "--logto",
            logfile.to_str().expect("utf-8 path"),
        ],
    );
    s.log = logfile.clone();
    let filler = disk.fill(&logfile);

    // Tracebacks, prints, wsgi.errors and request lines, all lost.
    for _ in 0..16 {
        assert_eq!(get(s.port, "/boom"), Some(500));
    }
    four_threads_serve_at_once(&s);
    // The master logs too: stats on SIGUSR1, and a worker's death and respawn.
    s.signal(libc::SIGUSR1);
    let workers = worker_pids(s.pid());
    assert_eq!(workers.len(), 2, "workers: {workers:?}");
    // SAFETY: kill(2) on a worker of the server this test started.
    unsafe { libc::kill(workers[0], libc::SIGKILL) };
    wait_until("the killed worker's replacement", PATIENCE, || {
        let now = worker_pids(s.pid());
        now.len() == 2 && !now.contains(&workers[0])
    });
    assert_eq!(get(s.port, "/"), Some(200));
    assert!(
        !s.log_text().contains("RuntimeError"),
        "the disk was not full"
    );

    std::fs::remove_file(&filler).expect("free the disk");
    // Every process reports its own loss at its next line.
    s.signal(libc::SIGUSR1);
    for _ in 0..4 {
        assert_eq!(get(s.port, "/"), Some(200));
    }
    s.wait_for_log("log lines lost since", PATIENCE);
    let log = s.log_text();
    assert!(log.contains("No space left on device"), "{log}");
    assert!(log.contains("the app prints a line"), "{log}");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    drop(s);
}
