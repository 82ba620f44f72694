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

/// Also by workers the zygote forks after the rotation: its copies of the
/// files are the rotated ones.
#[test]
fn file_loggers_are_reopened_on_sigusr2_with_log_reopen() {
    let s = start(&[
        "--logger",
        "file:{dir}/events.log",
        "--req-logger",
        "file:{dir}/requests.log",
        "--log-reopen",
        // Each request ends its worker: the next one is a new fork.
        "--max-requests",
        "1",
    ]);
    assert_eq!(s.get("/before").status, 200);
    wait_for(&s, "requests.log", "GET /before");
    let dir: &Path = s.dir.path();
    for name in ["events.log", "requests.log"] {
        std::fs::rename(dir.join(name), dir.join(format!("{name}.1"))).expect("rotate");
    }
    s.signal(libc::SIGUSR2);
    wait_for(&s, "events.log", "worker reopened the log file");
    assert_eq!(s.get("/after").status, 200);
    wait_for(&s, "requests.log", "GET /after");
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
