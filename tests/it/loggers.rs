//! `logger`, `req-logger`, `log-route` and `log-req-route`: which file
//! each line lands in, as uWSGI's rules say (core/logging.c).

use std::path::Path;

use crate::common::*;

const APP: &str = r#"
import sys

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/fail":
        # In pieces, as an unbuffered print writes: the route still sees
        # the whole line.
        print("APP-ERROR", "something broke")
    else:
        print("all fine at", path)
    environ["wsgi.errors"].write("errors stream at %s\n" % path)
    status = "404 Not Found" if path == "/missing" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"ok"]
"#;

fn start(extra: &[&str]) -> Server {
    let dir = TempDir::new("loggers");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    // Unbuffered, as under a terminal or PYTHONUNBUFFERED: the app's
    // output comes in pieces.
    Launch::new(dir)
        .args(&args)
        .env("PYTHONUNBUFFERED", "1")
        .start()
}

fn read(s: &Server, name: &str) -> String {
    std::fs::read_to_string(s.dir.path().join(name)).unwrap_or_default()
}

fn wait_for(s: &Server, name: &str, needle: &str) {
    let path = s.dir.path().join(name);
    wait_until(&format!("{needle:?} in {name}"), PATIENCE, || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle))
    });
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn logger_and_req_logger_split_request_lines_from_the_rest() {
    let s = start(&[
        "--logger",
        "file:{dir}/events.log",
        "--req-logger",
        "file:{dir}/requests.log",
    ]);
    assert_eq!(s.get("/x").status, 200);
    wait_for(&s, "requests.log", "GET /x");
    wait_for(&s, "events.log", "all fine at /x");
    let (events, requests) = (read(&s, "events.log"), read(&s, "requests.log"));
    // The master's and the workers' events, the app's stdout and
    // wsgi.errors: in events.log, whole lines.
    for line in ["rsgi is ready", "worker spawned", "errors stream at /x"] {
        assert!(
            events.contains(line),
            "no {line:?} in events.log:\n{events}"
        );
    }
    assert!(events.lines().any(|l| l == "all fine at /x"), "{events}");
    assert!(!events.contains("GET /x"), "{events}");
    // Request lines only in requests.log.
    assert_eq!(requests.lines().count(), 1, "{requests}");
    assert!(!requests.contains("all fine"), "{requests}");
    // With an unnamed logger, nothing is left for the process's own log.
    let own = s.log_text();
    assert!(
        !own.contains("rsgi is ready") && !own.contains("GET /x"),
        "{own}"
    );
}

#[test]
fn routes_send_matching_lines_only_to_their_logger() {
    let s = start(&[
        "--logger",
        "stdio",
        "--logger",
        "errors file:{dir}/errors.log",
        "--log-route",
        "errors ^APP-ERROR",
        "--req-logger",
        "file:{dir}/requests.log",
        "--req-logger",
        "notfound file:{dir}/404.log",
        "--log-req-route",
        r"notfound \(HTTP/1\.1 404\)",
    ]);
    assert_eq!(s.get("/fail").status, 200);
    assert_eq!(s.get("/ok").status, 200);
    assert_eq!(s.get("/missing").status, 404);
    wait_for(&s, "404.log", "GET /missing");
    wait_for(&s, "requests.log", "GET /ok");
    wait_for(&s, "requests.log", "GET /fail");
    wait_for(&s, "errors.log", "APP-ERROR");
    s.wait_for_log("all fine at /missing", PATIENCE);

    // errors.log: the matching line, whole, and nothing else.
    let errors = read(&s, "errors.log");
    assert_eq!(errors, "APP-ERROR something broke\n");
    // stdio (the process's own log): every unrouted line, no routed one.
    let own = s.log_text();
    assert!(own.contains("rsgi is ready"), "{own}");
    assert!(own.contains("all fine at /ok"), "{own}");
    assert!(!own.contains("APP-ERROR"), "{own}");
    assert!(lines_with(&own, "GET /").is_empty(), "{own}");
    // Request lines: the 404 only in 404.log, the others only in requests.log.
    let (requests, missing) = (read(&s, "requests.log"), read(&s, "404.log"));
    assert_eq!(lines_with(&missing, "GET /").len(), 1, "{missing}");
    assert_eq!(lines_with(&requests, "GET /").len(), 2, "{requests}");
    assert!(!requests.contains("/missing"), "{requests}");
}

/// The pid of the worker that accepts now (one worker), once it is not
/// `not`.
fn accepting_worker(stats: u16, not: i64) -> i64 {
    let mut pid = 0;
    wait_until("a new worker to accept", PATIENCE, || {
        let w = &stats_from(stats)["workers"][0];
        pid = w["pid"].as_i64().unwrap_or(0);
        pid != not && pid != 0 && w["accepting"] == 1
    });
    pid
}

/// Also by a worker the zygote forks after the rotation, whose copies of
/// the files (the zygote's) are the rotated ones.
#[test]
fn file_loggers_are_reopened_on_sigusr2_with_log_reopen() {
    let dir = TempDir::new("loggers-reopen");
    dir.write("app.py", APP);
    let stats = Listener::tcp();
    let s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--logger",
            "file:{dir}/events.log",
            "--req-logger",
            "file:{dir}/requests.log",
            "--log-reopen",
            // Each request ends its worker: the next one is a new fork.
            "--max-requests",
            "1",
        ])
        .socket("--stats", &stats)
        .start();
    let stats = stats.port();
    let first = accepting_worker(stats, 0);
    assert_eq!(s.get("/before").status, 200);
    wait_for(&s, "requests.log", "GET /before");
    // Its replacement accepts (and handles SIGUSR2) before the rotation.
    let second = accepting_worker(stats, first);
    let dir: &Path = s.dir.path();
    for name in ["events.log", "requests.log"] {
        std::fs::rename(dir.join(name), dir.join(format!("{name}.1"))).expect("rotate");
    }
    s.signal(libc::SIGUSR2);
    wait_for(
        &s,
        "events.log",
        &format!("worker reopened the log file pid={second}"),
    );
    assert_eq!(s.get("/after").status, 200);
    wait_for(&s, "requests.log", "GET /after");
    // Forked from the zygote after the rotation.
    accepting_worker(stats, second);
    assert_eq!(s.get("/third").status, 200);
    wait_for(&s, "requests.log", "GET /third");
    let rotated = read(&s, "requests.log.1");
    assert!(!read(&s, "requests.log").contains("/before"));
    assert!(
        !rotated.contains("/after") && !rotated.contains("/third"),
        "{rotated}"
    );
}

#[test]
fn an_unknown_logger_is_a_config_error() {
    let mut s = Server::spawn(
        TempDir::new("loggers-bad"),
        &[
            "--wsgi-file",
            "app.py",
            "--logger",
            "redislog:127.0.0.1:6379",
        ],
        false,
    );
    assert_eq!(s.wait_exit(PATIENCE), Some(1));
    assert!(
        s.log_text().contains("no \"redislog\" logger"),
        "{}",
        s.log_text()
    );
}

/// Whether this machine lets an unprivileged process make user and
/// mount namespaces (`unshare -rm`).
fn namespaces_work() -> bool {
    std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `syslog:` writes to /dev/log, which neither uWSGI nor rsgi lets a
/// config move. So rsgi runs in user and mount namespaces of its own
/// where /dev is a directory of the test's, holding the device nodes it
/// and Python open and, as `log`, a datagram socket the test reads.
#[test]
fn syslog_loggers_send_rfc3164_datagrams_to_dev_log() {
    if !namespaces_work() {
        eprintln!("skipped: this machine does not allow user namespaces (unshare -rm)");
        return;
    }
    let dir = TempDir::new("loggers-syslog");
    dir.write("app.py", APP);
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(&dev).expect("dev");
    let syslog = std::os::unix::net::UnixDatagram::bind(dev.join("log")).expect("bind");
    // Read as a syslog daemon does, from the start: a datagram socket
    // queues only a few (net.unix.max_dgram_qlen), rsgi drops the rest.
    // The reader ends at the first quiet PATIENCE after the test.
    syslog.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let (tx, datagrams) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = syslog.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    // sh -c SCRIPT RSGI DEV ARGS...: $0 is rsgi, $1 the directory.
    let script = r#"set -e; dev=$1; shift
for n in null zero urandom random full; do
    touch "$dev/$n"; mount --bind "/dev/$n" "$dev/$n"
done
mount --bind "$dev" /dev
exec "$0" "$@""#;
    let rsgi = rsgi_binary().to_string_lossy().into_owned();
    let s = Launch::new(dir)
        .program(Path::new("unshare"))
        .args(&[
            "-rm",
            "sh",
            "-c",
            script,
            &rsgi,
            "{dir}/dev",
            "--wsgi-file",
            "{dir}/app.py",
            "--logger",
            "syslog:myapp,local0",
            "--req-logger",
            "syslog",
        ])
        .start();
    assert_eq!(s.get("/x").status, 200);
    let (mut event, mut request) = (None, None);
    while event.is_none() || request.is_none() {
        let d = datagrams
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no datagram on /dev/log ({e}):\n{}", s.log_text()));
        if d.contains("rsgi is ready") {
            event = Some(d);
        } else if d.contains("GET /x") {
            request = Some(d);
        }
    }
    // <PRI>Mmm dd hh:mm:ss IDENT: MESSAGE, without the line's newline:
    // local0.info is 134; uWSGI's default is daemon.info (30), "uwsgi".
    for (d, pri, ident) in [(event, "<134>", "myapp"), (request, "<30>", "uwsgi")] {
        let d = d.expect("datagram");
        let stamp = d.strip_prefix(pri).unwrap_or_else(|| panic!("{d}"));
        let (time, rest) = stamp.split_at(15);
        assert!(
            time.as_bytes()[3] == b' ' && time.as_bytes()[9] == b':' && time.as_bytes()[12] == b':',
            "{d}"
        );
        assert!(rest.starts_with(&format!(" {ident}: ")), "{d}");
        assert!(!d.ends_with('\n'), "{d:?}");
    }
    // Every line went to syslog: none to the process's own log.
    assert!(!s.log_text().contains("GET /x"), "{}", s.log_text());
}
