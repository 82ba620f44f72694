//! The master as a user meets it: worker pool, respawn, recycling,
//! harakiri, signals, exit codes, preload vs lazy-apps.

use std::time::{Duration, Instant};

use crate::common::*;

const APP: &str = r#"
import os, time

with open(os.path.join(os.path.dirname(__file__), "imports.log"), "a") as f:
    f.write("%d\n" % os.getpid())

LEAK = []

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        open(os.path.join(os.path.dirname(__file__), "sleeping"), "w").close()
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    if path == "/leak":
        LEAK.append(b"x" * (8 * 1024 * 1024))
    if path == "/hog":
        try:
            hog = bytearray(2 * 1024 * 1024 * 1024)
        except MemoryError:
            raise
    if path == "/die":
        os._exit(3)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"#;

fn server(extra: &[&str]) -> Server {
    let dir = TempDir::new("sup");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

fn get_pid(port: u16) -> Option<i32> {
    let r = std::panic::catch_unwind(|| {
        request(
            port,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .ok()?;
    (r.status == 200).then(|| r.text().parse().ok()).flatten()
}

fn imports(s: &Server) -> Vec<String> {
    std::fs::read_to_string(s.dir.path().join("imports.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn four_workers_with_two_threads_run_eight_requests_at_once() {
    let s = server(&["--processes", "4", "--threads", "2"]);
    let workers = worker_pids(s.pid());
    assert_eq!(workers.len(), 4, "workers: {workers:?}");
    for w in &workers {
        let stat = std::fs::read_to_string(format!("/proc/{w}/stat")).unwrap();
        let ppid: i32 = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(ppid, s.pid(), "worker {w} is a child of the master");
        // `ps aux` shows the command line, which workers rewrite.
        let cmdline = std::fs::read(format!("/proc/{w}/cmdline")).unwrap();
        let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(shown.trim_end().starts_with("rsgi worker "), "{shown:?}");
    }
    let port = s.port;
    let start = Instant::now();
    let st = concurrently(8, move |_| {
        request(
            port,
            "GET /sleep?1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    assert_eq!(st, [200; 8]);
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn preload_imports_once_and_lazy_apps_once_per_worker() {
    let s = server(&["--processes", "3"]);
    assert_eq!(imports(&s).len(), 1, "preload: one import in the zygote");
    let s = server(&["--processes", "3", "--lazy-apps"]);
    wait_until("3 lazy imports", Duration::from_secs(5), || {
        imports(&s).len() == 3
    });
}

#[test]
fn a_killed_worker_is_replaced_within_a_second() {
    let s = server(&["--processes", "2"]);
    let before = worker_pids(s.pid());
    // SAFETY: kill(2) on a worker this test started.
    unsafe { libc::kill(before[0], libc::SIGKILL) };
    let start = Instant::now();
    wait_until("a new worker pid", Duration::from_secs(1), || {
        let now = worker_pids(s.pid());
        now.len() == 2 && !now.contains(&before[0])
    });
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(s.get("/").status, 200);
    // a worker that exits by itself (os._exit) too
    let _ = std::panic::catch_unwind(|| s.get("/die"));
    wait_until("two workers again", Duration::from_secs(2), || {
        worker_pids(s.pid()).len() == 2
    });
}

#[test]
fn max_requests_recycles_without_failing_a_request() {
    let s = server(&["--processes", "2", "--max-requests", "50"]);
    let port = s.port;
    let pids: Vec<Option<i32>> = concurrently(4, move |_| {
        (0..125).map(|_| get_pid(port)).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let failed = pids.iter().filter(|p| p.is_none()).count();
    assert_eq!(failed, 0, "failed requests during recycling");
    let distinct: std::collections::HashSet<_> = pids.iter().flatten().collect();
    assert!(distinct.len() > 2, "workers were recycled: {distinct:?}");
    assert!(s.log_text().contains("recycling worker"));
}

#[test]
fn reload_on_rss_recycles_a_leaking_worker() {
    let s = server(&["--reload-on-rss", "60"]);
    let first = get_pid(s.port).unwrap();
    for _ in 0..12 {
        assert_eq!(s.get("/leak").status, 200);
    }
    wait_until("a recycled worker", Duration::from_secs(5), || {
        get_pid(s.port).is_some_and(|p| p != first)
    });
    assert!(s.log_text().contains("reload-on-rss"), "{}", s.log_text());
}

#[test]
fn harakiri_kills_a_stuck_request_and_names_it() {
    let s = server(&["--harakiri", "2"]);
    let port = s.port;
    let start = Instant::now();
    let stuck = std::thread::spawn(move || {
        std::panic::catch_unwind(|| {
            request(
                port,
                "GET /sleep?10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .ok()
    });
    let answer = stuck.join().unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(3900),
        "the client waited {took:?}"
    );
    assert!(
        answer.as_ref().is_none_or(|r| r.status >= 500),
        "got {answer:?}"
    );
    wait_until("a fresh worker", Duration::from_secs(3), || {
        get_pid(port).is_some()
    });
    let log = s.log_text();
    assert!(log.contains("harakiri") && log.contains("/sleep"), "{log}");
    assert!(
        log.contains("time.sleep") || log.contains("in application"),
        "traceback of the stuck thread: {log}"
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let mut s = server(&["--processes", "2"]);
    let port = s.port;
    let slow = std::thread::spawn(move || {
        request(
            port,
            "GET /sleep?3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    let marker = s.dir.path().join("sleeping");
    wait_until("the request to be running", Duration::from_secs(5), || {
        marker.exists()
    });
    let all = descendants(s.pid());
    s.signal(libc::SIGTERM);
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        s.log_text().contains("rsgi stopped (exit status 0)"),
        "a last line says rsgi stopped: {}",
        s.log_text()
    );
    for pid in all {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid),
            "process {pid} survived"
        );
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn sigkill_of_the_master_takes_every_worker_down() {
    let s = server(&["--processes", "3"]);
    let all = descendants(s.pid());
    assert!(all.len() >= 4);
    s.signal(libc::SIGKILL);
    wait_until("every worker to exit", Duration::from_secs(2), || {
        all.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
    });
}

#[test]
fn an_app_that_fails_to_import_exits_22_with_the_traceback() {
    for lazy in [false, true] {
        let dir = TempDir::new("broken");
        dir.write("app.py", "import nonexistent_module_xyz\n");
        let mut args = vec!["--wsgi-file", "{dir}/app.py", "--processes", "4"];
        if lazy {
            args.push("--lazy-apps");
        }
        let mut s = Server::spawn(dir, &args, true);
        assert_eq!(
            s.wait_exit(Duration::from_secs(10)),
            Some(22),
            "lazy={lazy}: {}",
            s.log_text()
        );
        assert!(
            s.log_text()
                .contains("ModuleNotFoundError: No module named 'nonexistent_module_xyz'"),
            "{}",
            s.log_text()
        );
        assert!(
            s.log_text().contains("rsgi stopped (exit status 22)"),
            "lazy={lazy}: {}",
            s.log_text()
        );
    }
}

#[test]
fn a_port_in_use_exits_30_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("bind");
    dir.write("app.py", APP);
    let addr = format!("127.0.0.1:{port}");
    let mut s = Server::spawn(
        dir,
        &["--wsgi-file", "{dir}/app.py", "--http-socket", &addr],
        false,
    );
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(30));
    assert!(
        s.log_text().contains(&format!("cannot bind {addr}")),
        "{}",
        s.log_text()
    );
}

#[test]
fn sigttin_and_sigttou_add_and_remove_workers() {
    let s = server(&["--processes", "2"]);
    s.signal(libc::SIGTTIN);
    wait_until("3 workers", Duration::from_secs(3), || {
        worker_pids(s.pid()).len() == 3
    });
    s.signal(libc::SIGTTOU);
    wait_until("2 workers", Duration::from_secs(3), || {
        worker_pids(s.pid()).len() == 2
    });
}

#[test]
fn limit_as_turns_a_runaway_allocation_into_a_500() {
    let s = server(&["--limit-as", "512"]);
    let pid = get_pid(s.port).unwrap();
    assert_eq!(s.get("/hog").status, 500);
    assert!(s.log_text().contains("MemoryError"), "{}", s.log_text());
    assert_eq!(get_pid(s.port), Some(pid), "same worker keeps serving");
}

#[test]
fn unix_sockets_get_their_mode_and_vacuum_cleans_up() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unix");
    dir.write("app.py", APP);
    let sock = dir.path().join("app.sock");
    let pidfile = dir.path().join("app.pid");
    let args = [
        "--wsgi-file",
        "{dir}/app.py",
        "--http-socket",
        "{dir}/app.sock",
        "--chmod-socket",
        "660",
        "--vacuum",
        "--pidfile",
        "{dir}/app.pid",
    ];
    let mut s = Server::spawn(dir, &args, false);
    s.wait_for_log("rsgi is ready", Duration::from_secs(20));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        s.pid().to_string()
    );
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    use std::io::{Read, Write};
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert_eq!(parse_response(&out).unwrap().status, 200);
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        !sock.exists() && !pidfile.exists(),
        "vacuum removed the socket and the pidfile"
    );
}

#[test]
fn sigusr1_logs_the_counters() {
    let s = server(&["--processes", "2"]);
    for _ in 0..5 {
        assert_eq!(s.get("/").status, 200);
    }
    s.signal(libc::SIGUSR1);
    wait_until("the stats in the log", Duration::from_secs(5), || {
        s.log_text().contains("stats total")
    });
    assert!(s.log_text().contains("requests=5"), "{}", s.log_text());
}

#[test]
fn home_uses_a_virtualenv_and_refuses_one_of_another_python() {
    let dir = TempDir::new("venv");
    let venv = dir.path().join("venv");
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let version = String::from_utf8(
        std::process::Command::new("python3")
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let site = venv.join(format!("lib/python{}/site-packages", version.trim()));
    std::fs::write(
        site.join("only_in_venv.py"),
        "GREETING = b'from the venv'\n",
    )
    .unwrap();
    dir.write("app.py", "import only_in_venv, sys\n\ndef application(e, start_response):\n    start_response('200 OK', [])\n    return [only_in_venv.GREETING + b' ' + sys.prefix.encode()]\n");
    let v = venv.to_string_lossy().into_owned();
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py", "--home", &v]);
    assert_eq!(s.get("/").text(), format!("from the venv {v}"));

    // A virtualenv made with another Python: a clear error, exit 22.
    let other = std::fs::read_dir(std::env::var("HOME").unwrap() + "/.pyenv/versions")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/python3"))
        .find(|p| {
            p.exists()
                && !p
                    .to_string_lossy()
                    .contains(&format!("/{}.", version.trim()))
        });
    let Some(other) = other else {
        eprintln!("no second Python under ~/.pyenv: the mismatch half is not checked here");
        return;
    };
    let dir = TempDir::new("venv-other");
    let venv = dir.path().join("venv");
    assert!(
        std::process::Command::new(&other)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap()
            .success()
    );
    dir.write("app.py", APP);
    let v = venv.to_string_lossy().into_owned();
    let mut s = Server::spawn(dir, &["--wsgi-file", "{dir}/app.py", "--home", &v], true);
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(22));
    assert!(
        s.log_text().contains("but rsgi embeds Python"),
        "{}",
        s.log_text()
    );
}

#[test]
fn killing_a_worker_under_load_fails_at_most_its_requests_in_flight() {
    let s = server(&["--processes", "2"]);
    let load = Load::start(s.port, 4, "/");
    std::thread::sleep(Duration::from_millis(300));
    let victim = worker_pids(s.pid())[0];
    // SAFETY: kill(2) on a worker this test started.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    wait_until("a replacement", Duration::from_secs(1), || {
        let now = worker_pids(s.pid());
        now.len() == 2 && !now.contains(&victim)
    });
    std::thread::sleep(Duration::from_millis(300));
    let result = load.finish();
    assert!(
        result.failed <= 4,
        "{} requests failed; 4 connections can have at most 4 in flight",
        result.failed
    );
    assert!(result.ok > 100);
}

#[test]
fn a_stop_while_a_worker_is_being_spawned_stops_that_worker_too() {
    let dir = TempDir::new("stop-spawning");
    dir.write("app.py", APP);
    let mut s = Server::start_in(
        dir,
        &["--wsgi-file", "{dir}/app.py", "--master-fifo", "{dir}/fifo"],
    );
    // One worker more, and at once a graceful stop: the new worker is
    // still being forked when the stop arrives.
    std::fs::write(s.dir.path().join("fifo"), "+q").unwrap();
    let start = Instant::now();
    assert_eq!(
        s.wait_exit(Duration::from_secs(15)),
        Some(0),
        "rsgi did not wait reload-mercy (60 s) for the new worker:\n{}",
        s.log_text()
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    let spawned: Vec<i32> = s
        .log_text()
        .lines()
        .filter(|l| l.contains("worker spawned"))
        .filter_map(|l| {
            l.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(spawned.len(), 2, "{}", s.log_text());
    wait_until("no worker left", Duration::from_secs(5), || {
        spawned
            .iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
    });
}
