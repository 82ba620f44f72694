//! Serving WSGI over HTTP/1.1: PEP 3333 behaviour, framing, limits and
//! faults, against the real binary.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::*;

const APP: &str = r#"
import hashlib, json, time, sys, wsgiref.validate

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        out = json.dumps({
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "query": environ["QUERY_STRING"],
            "uri": environ["REQUEST_URI"],
            "length": environ.get("CONTENT_LENGTH", ""),
            "type": environ.get("CONTENT_TYPE", ""),
            "x": environ.get("HTTP_X_THING", ""),
            "sha": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out]
    if path == "/lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(lines)).encode()]
    if path == "/big":
        def gen():
            chunk = b"x" * 65536
            for _ in range(800):
                yield chunk
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"then returned"]
    if path == "/file":
        f = open(__file__, "rb")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](f)
    if path == "/raise":
        raise RuntimeError("boom from the app")
    if path == "/str":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["Hello, str"]
    if path == "/split":
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: pwned=1")])
        return [b"no"]
    if path == "/hold":
        hold(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

validated = wsgiref.validate.validator(app)

def application(environ, start_response):
    # The faults are the server's to report, not the validator's.
    if environ["PATH_INFO"] in ("/str", "/split"):
        return app(environ, start_response)
    return validated(environ, start_response)
"#;

fn server(extra: &[&str]) -> Server {
    let dir = TempDir::new("serving");
    dir.write("app.py", &format!("{APP}{HOLD_PY}"));
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let s = server(&[]);
    // This test failed twice in full-suite runs (a connection closed with
    // no answer after ~15 s) and never alone: keep the server's log.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| keep_alive_body(&s)));
    if r.is_err() {
        panic!("server log:\n{}", s.log_text());
    }
}

fn keep_alive_body(s: &Server) {
    let mut c = connect(s.port);
    for _ in 0..3 {
        c.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(&mut c);
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    }
    c.write_all(
        b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    // Let both answers arrive before the first read, so the client must
    // split what one read returns into two responses.
    let mut arrived = vec![0u8; 65536];
    wait_until("both answers to arrive", PATIENCE, || {
        let n = c.peek(&mut arrived).unwrap();
        complete_responses(&arrived[..n]) == 2
    });
    let first = read_response(&mut c);
    let second = read_response(&mut c);
    assert!(
        first.text().contains("\"query\": \"n=1\""),
        "{}",
        first.text()
    );
    assert!(
        second.text().contains("\"query\": \"n=2\""),
        "{}",
        second.text()
    );
    assert!(s.log_text().contains("GET /a"), "request log line");
}

/// sha256 of 300,000 bytes of b"x" (python3 -c "import hashlib; ...").
const SHA_300K_X: &str = "29927e273accc68286005017f7fa6e4f27bddb4db3083ff8b8d4c3667905b7fa";

/// A body far larger than one read, with the next request sent in the
/// same write right behind it: the body gets exactly its bytes, and the
/// pipelined request is answered after it.
fn large_body_then_pipelined_request(extra: &[&str]) {
    let s = server(extra);
    let mut c = connect(s.port);
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'x', 300_000));
    raw.extend_from_slice(b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    c.write_all(&raw).unwrap();
    let first = read_response(&mut c);
    assert_eq!(first.status, 200);
    assert!(first.text().contains(SHA_300K_X), "{}", first.text());
    assert!(
        first.text().contains("\"size\": 300000"),
        "{}",
        first.text()
    );
    let second = read_response(&mut c);
    assert!(
        second.text().contains("\"query\": \"n=2\""),
        "{}",
        second.text()
    );
}

#[test]
fn large_body_in_memory_leaves_the_next_request_alone() {
    large_body_then_pipelined_request(&[]);
}

#[test]
fn large_body_spooled_to_a_file_leaves_the_next_request_alone() {
    large_body_then_pipelined_request(&["--post-buffering", "65536"]);
}

#[test]
fn http_10_closes_and_head_has_no_body() {
    let s = server(&[]);
    let r = request(s.port, "GET /big HTTP/1.0\r\n\r\n");
    assert_eq!(r.body.len(), 800 * 65536, "close-delimited body");
    assert!(r.header("transfer-encoding").is_none());
    let r = request(
        s.port,
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn bodies_by_length_chunked_and_100_continue_reach_the_app() {
    let s = server(&[]);
    let r = request(
        s.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Thing: yes\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(
        r.text().contains("\"size\": 5")
            && r.text().contains("\"x\": \"yes\"")
            && r.text().contains("\"type\": \"text/plain\""),
        "{}",
        r.text()
    );
    let r = request(
        s.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(
        r.text().contains("\"size\": 11") && r.text().contains("\"length\": \"11\""),
        "{}",
        r.text()
    );
    let r = request(
        s.port,
        "POST /lines HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\na\nb\nc\n",
    );
    assert_eq!(r.text(), "3");
    let mut c = connect(s.port);
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"abc").unwrap();
    assert!(read_response(&mut c).text().contains("\"size\": 3"));
}

#[test]
fn twenty_mib_upload_and_fifty_mib_download_are_byte_exact() {
    let s = server(&[]);
    let body: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut c = connect(s.port);
    c.write_all(
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    c.write_all(&body).unwrap();
    let r = read_response(&mut c);
    let want = python_sha256(&body);
    assert!(r.text().contains(&want), "sha mismatch: {}", r.text());
    c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut c);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len(), 800 * 65536);
    assert!(r.body.iter().all(|&b| b == b'x'));
}

/// sha256 via python3, to avoid a hashing crate just for tests.
fn python_sha256(data: &[u8]) -> String {
    let out = run(
        std::process::Command::new("python3").args([
            "-c",
            "import sys,hashlib;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ]),
        data,
        PATIENCE,
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn write_callable_and_file_wrapper_pass_the_validator() {
    let s = server(&[]);
    assert_eq!(s.get("/write").text(), "written then returned");
    let r = s.get("/file");
    assert_eq!(r.text(), format!("{APP}{HOLD_PY}"));
    assert!(
        !s.log_text().contains("AssertionError"),
        "wsgiref.validate complained:\n{}",
        s.log_text()
    );
}

#[test]
fn app_faults_are_500s_with_a_reason_and_the_worker_keeps_serving() {
    let s = server(&[]);
    let r = s.get("/raise");
    assert_eq!(r.status, 500);
    let r = s.get("/str");
    assert_eq!(r.status, 500);
    let r = s.get("/split");
    assert_eq!(r.status, 500);
    assert!(r.header("set-cookie").is_none(), "response splitting");
    assert_eq!(s.get("/").status, 200);
    s.wait_for_log("RuntimeError: boom from the app", PATIENCE);
    s.wait_for_log("WSGI bodies are bytes: return [s.encode()]", PATIENCE);
    s.wait_for_log("CR, LF", PATIENCE);
}

#[test]
fn limits_and_bad_requests_get_their_status() {
    let s = server(&["--limit-post", "100", "--buffer-size", "1024"]);
    let cases = [
        (
            "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_string(),
            400,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "a".repeat(2000)
            ),
            431,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_string(),
            501,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n".to_string(),
            413,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n"
                .to_string()
                + &"a".repeat(101)
                + "\r\n0\r\n\r\n",
            413,
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(
            request(s.port, &raw).status,
            want,
            "{:?}",
            &raw[..raw.len().min(60)]
        );
    }
}

/// Send `n` held requests, each on its own connection, in threads.
fn held_requests(port: u16, n: usize) -> Vec<std::thread::JoinHandle<u16>> {
    (0..n)
        .map(|i| {
            std::thread::spawn(move || {
                request(
                    port,
                    &format!("GET /hold?{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                )
                .status
            })
        })
        .collect()
}

#[test]
fn threads_run_requests_in_parallel_and_one_thread_queues_them() {
    // Four held requests all start: four threads run them at once.
    let s = server(&["--threads", "4"]);
    let clients = held_requests(s.port, 4);
    wait_until("4 requests running at once", PATIENCE, || {
        held(s.dir.path()) == 4
    });
    release(s.dir.path());
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }

    // With one thread, one held request runs and the two others wait in
    // the listen queue: the worker takes a connection only when a thread
    // is free.
    let dir = TempDir::new("serving");
    dir.write("app.py", &format!("{APP}{HOLD_PY}"));
    let stats = Listener::tcp();
    let s = Launch::new(dir)
        .args(&["--wsgi-file", "{dir}/app.py", "--threads", "1"])
        .socket("--stats", &stats)
        .start();
    let clients = held_requests(s.port, 3);
    wait_until("one request running, two queued", PATIENCE, || {
        held(s.dir.path()) == 1 && stats_from(stats.port())["sockets"][0]["queue"] == 2
    });
    assert_eq!(held(s.dir.path()), 1, "only one request runs");
    release(s.dir.path());
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
}

#[test]
fn garbage_and_slow_clients_do_not_stop_the_worker() {
    // The slow heads below are cut off only after a minute, far longer
    // than a client waits for the normal request.
    let s = server(&["--socket-timeout", "60"]);
    let port = s.port;
    // slowloris heads that never finish, held open
    let slow: Vec<_> = (0..50)
        .map(|_| {
            let mut c = connect(port);
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:")
                .unwrap();
            c
        })
        .collect();
    let mut seed = 0x2545_f491_u32;
    for i in 0..1000 {
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        let junk: Vec<u8> = (0..(i % 200 + 1))
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = c.write_all(&junk);
        if i % 3 == 0 {
            let _ = c.shutdown(std::net::Shutdown::Write);
        }
    }
    // A normal request is served while every slow head is still waiting,
    // unanswered: the worker did not wait for them.
    assert_eq!(s.get("/").status, 200);
    for mut c in slow {
        c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 64];
        let waiting = c.read(&mut buf).is_err_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        });
        assert!(waiting, "a slow client was answered or closed already");
    }
}

/// An app that keeps its `wsgi.input`, `start_response` or `write` past
/// the response (the server reuses them only when nobody else holds them).
const KEEPING_APP: &str = r#"
kept = {}

def application(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path == "/keep":
        kept["input"], kept["start"] = inp, start_response
        body = inp.read(3)
    elif path == "/keep-write":
        kept["write"] = start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"kept write"]
    elif path == "/check":
        old = kept["input"]
        body = repr((old is inp, kept["start"] is start_response, old.read(), inp.read())).encode()
    elif path == "/late-write":
        kept["write"](b"LEAK")
        body = b"fresh"
    else:
        body = b"[" + inp.read() + b"]"
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"#;

/// PEP 3333: each request gets its own start_response and wsgi.input. The
/// server recycles them between requests, so an app that keeps the old
/// ones must still see only the old request's data, and a request after a
/// recycled one sees none of it.
fn kept_objects_never_see_a_later_request(extra: &[&str]) {
    let dir = TempDir::new("keeping");
    dir.write("app.py", KEEPING_APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    let s = Server::start_in(dir, &args);
    let mut c = connect(s.port);
    let mut ask = |path: &str, body: &str| {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(raw.as_bytes()).unwrap();
        let r = read_response(&mut c);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.text()
    };
    assert_eq!(ask("/keep", "abcdef"), "abc");
    assert_eq!(ask("/plain", "123"), "[123]");
    // The objects of /plain were nobody's but the server's: reused here,
    // they must hold nothing of it.
    assert_eq!(ask("/plain", ""), "[]");
    assert_eq!(ask("/plain", "45"), "[45]");
    assert_eq!(ask("/check", "xyz"), "(False, False, b'def', b'xyz')");
    assert_eq!(ask("/keep-write", ""), "kept write");
    assert_eq!(ask("/late-write", ""), "fresh");
    assert_eq!(ask("/plain", "6"), "[6]");
}

#[test]
fn kept_input_and_start_response_never_see_a_later_request_inline() {
    kept_objects_never_see_a_later_request(&[]);
}

#[test]
fn kept_input_and_start_response_never_see_a_later_request_on_threads() {
    kept_objects_never_see_a_later_request(&["--threads", "2"]);
}
