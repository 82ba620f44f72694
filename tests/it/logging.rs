//! Request logs: log-format, filters, JSON, logto from several workers,
//! and reopening after logrotate.

use crate::common::*;

const APP: &str = r#"
import sys, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("hello from the app")
        sys.stdout.flush()
    if path == "/slow":
        time.sleep(0.3)
    status = "404 Not Found" if path == "/missing" else "500 Oops" if path == "/fail" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"0123456789"]
"#;

fn start(extra: &[&str]) -> Server {
    let dir = TempDir::new("logging");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

fn request_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
        .collect()
}

#[test]
fn log_format_gives_exactly_those_fields() {
    let s = start(&["--log-format", "%(method) %(uri) %(status) %(rsize) %(wid)"]);
    assert_eq!(s.get("/x?y=1").status, 200);
    s.wait_for_log("GET /x?y=1 200 10 1", PATIENCE);
    let s = start(&["--log-format", "%(method) %(msecs)"]);
    assert_eq!(s.get("/").status, 200);
    wait_until("a line", PATIENCE, || {
        request_lines(&s.log_text())
            .iter()
            .any(|l| l.starts_with("GET ") && l[4..].trim().parse::<u64>().is_ok())
    });
}

/// With no log-format, the line is uWSGI 2.0.31's default line for the
/// same request. Captured by running `uwsgi --http-socket 127.0.0.1:9411
/// --wsgi-file hello.py --master --processes 1` (uWSGI 2.0.31 from PyPI,
/// Python 3.11, host name "vm") and `curl 127.0.0.1:9411/x?y=1` (curl
/// 7.88.1), whose request this test sends byte for byte:
///
/// [pid: 30796|app: 0|req: 1/1] 127.0.0.1 () {24 vars in 253 bytes} [Fri Nov 27 05:20:17 2026] GET /x?y=1 => generated 14 bytes in 0 msecs (HTTP/1.1 200) 1 headers in 45 bytes (1 switches on core 0)
///
/// What differs by nature is filled in from this run: the pid, the time,
/// the milliseconds, the variables' bytes (they hold the host name and
/// the port), and the head's bytes (rsgi's head also carries Server, Date
/// and the framing, and the line counts the bytes it sent).
#[test]
fn the_default_line_is_uwsgis() {
    let dir = TempDir::new("default-line");
    dir.write(
        "hello.py",
        "def application(environ, start_response):\n    start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\")])\n    return [b\"Hello, World!\\n\"]\n",
    );
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/hello.py"]);
    let host = format!("127.0.0.1:{}", s.port);
    let raw = format!(
        "GET /x?y=1 HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    );
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    use std::io::{Read, Write};
    c.write_all(raw.as_bytes()).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while !data.ends_with(b"0\r\n\r\n") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
    }
    let head_bytes = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    s.wait_for_log("GET /x?y=1 =>", PATIENCE);
    let log = s.log_text();
    let line = log.lines().find(|l| l.contains("GET /x?y=1 =>")).unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    // uWSGI's 253 bytes held "vm" and the 4-digit port 9411 (twice).
    let pktsize = 253 - 2 + hostname.trim().len() + 2 * (s.port.to_string().len() - 4);
    let field = |after: &str, until: char| -> String {
        let start = line.find(after).unwrap() + after.len();
        line[start..].chars().take_while(|c| *c != until).collect()
    };
    let (pid, ms) = (field("[pid: ", '|'), field(" bytes in ", ' '));
    let time = field("bytes} [", ']');
    let expected = format!(
        "[pid: {pid}|app: 0|req: 1/1] 127.0.0.1 () {{24 vars in {pktsize} bytes}} [{time}] GET /x?y=1 => generated 14 bytes in {ms} msecs (HTTP/1.1 200) 1 headers in {head_bytes} bytes (1 switches on core 0)"
    );
    assert_eq!(line, expected);
    assert!(
        pid.parse::<u32>().is_ok() && ms.parse::<u64>().is_ok(),
        "{line}"
    );
    assert_eq!(time.len(), 24, "ctime's format: {time}");
}

/// A name that is no log variable is a logvar the app sets (uWSGI's
/// rule), so the config loads; one a letter away from a variable is
/// warned about, since it is likely a typo.
#[test]
fn other_log_names_are_logvars_and_a_typo_is_warned_about() {
    let out = run(
        rsgi().args([
            "--log-format",
            "%(method) %(bogus) %(stauts) %(staus)",
            "--check-config",
        ]),
        b"",
        PATIENCE,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let text = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("%(staus) is not a log variable (did you mean %(status)?)"),
        "{text}"
    );
    assert!(!text.contains("%(bogus) is not"), "{text}");
}

#[test]
fn filters_keep_only_slow_and_failed_requests() {
    let s = start(&[
        "--log-slow",
        "200",
        "--log-4xx",
        "--log-format",
        "%(uri) %(status)",
    ]);
    // One worker logs its requests in order: once the last one's line
    // is there, every line that will be is.
    for path in ["/", "/slow", "/missing", "/fail", "/", "/missing?last"] {
        s.get(path);
    }
    s.wait_for_log("/missing?last 404", PATIENCE);
    let log = s.log_text();
    let lines = request_lines(&log);
    assert!(lines.contains(&"/missing 404"), "{log}");
    assert!(
        !lines.iter().any(|l| *l == "/ 200" || *l == "/fail 500"),
        "{log}"
    );
}

#[test]
fn json_lines_parse() {
    let s = start(&["--log-format-json"]);
    assert_eq!(s.get("/j").status, 200);
    wait_until("a JSON line", PATIENCE, || {
        s.log_text().lines().any(|l| l.starts_with('{'))
    });
    let log = s.log_text();
    let line = log.lines().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["uri"], "/j");
    assert_eq!(v["status"], 200);
    assert_eq!(v["rsize"], 10);
}

#[test]
fn four_workers_share_one_logto_file_without_broken_lines() {
    let dir = TempDir::new("logto");
    dir.write("app.py", APP);
    let logfile = dir.path().join("app.log");
    let lf = logfile.to_string_lossy().into_owned();
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--processes",
            "4",
            "--logto",
            &lf,
            "--log-format",
            "req %(method) %(uri) %(status) %(rsize) end",
        ],
    );
    let port = s.port;
    concurrently(8, move |i| {
        let mut c = connect(port);
        for n in 0..1250 {
            use std::io::Write;
            c.write_all(format!("GET /t{i}-{n} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            assert_eq!(read_response(&mut c).status, 200);
        }
    });
    assert_eq!(s.get("/print").status, 200);
    wait_until("all 10 000 lines", PATIENCE, || {
        std::fs::read_to_string(&logfile)
            .is_ok_and(|t| t.lines().filter(|l| l.starts_with("req ")).count() >= 10_001)
    });
    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("req ") || l.contains(" end"))
        .collect();
    assert_eq!(lines.len(), 10_001);
    for l in &lines {
        let parts: Vec<&str> = l.split(' ').collect();
        assert!(
            parts.len() == 6
                && parts[0] == "req"
                && parts[1] == "GET"
                && parts[3] == "200"
                && parts[4] == "10"
                && parts[5] == "end",
            "broken line: {l:?}"
        );
    }
    assert!(
        text.contains("hello from the app"),
        "the app's print() reaches the log"
    );
}

#[test]
fn sigusr2_reopens_the_log_after_logrotate() {
    let dir = TempDir::new("reopen");
    dir.write("app.py", APP);
    let logfile = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    let lf = logfile.to_string_lossy().into_owned();
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--processes",
            "2",
            "--logto",
            &lf,
            "--log-reopen",
            "--log-format",
            "%(uri)",
        ],
    );
    s.get("/before");
    wait_until("the first line", PATIENCE, || {
        std::fs::read_to_string(&logfile).is_ok_and(|t| t.contains("/before"))
    });
    std::fs::rename(&logfile, &rotated).unwrap();
    s.signal(libc::SIGUSR2);
    let reopened = holds_within(PATIENCE, || {
        std::fs::read_to_string(&logfile).is_ok_and(|t| {
            t.contains("log file reopened")
                && t.matches("worker reopened the log file").count() == 2
        })
    });
    assert!(
        reopened,
        "the master and both workers did not reopen the log:\n{}\n---- new file:\n{}",
        std::fs::read_to_string(&rotated).unwrap_or_default(),
        std::fs::read_to_string(&logfile).unwrap_or_default()
    );
    for _ in 0..10 {
        s.get("/after");
    }
    wait_until("lines in the new file", PATIENCE, || {
        std::fs::read_to_string(&logfile).is_ok_and(|t| t.matches("/after").count() == 10)
    });
    assert!(
        !std::fs::read_to_string(&rotated)
            .unwrap()
            .contains("/after"),
        "nothing goes to the rotated file"
    );
}
