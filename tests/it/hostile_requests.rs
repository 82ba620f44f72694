//! Hostile clients against the real binary, over raw TCP sockets: targets
//! that try to reach another app, smuggling and framing vectors, slow and
//! vanishing clients, and oversized everything. Each case asserts the
//! exact bytes the client sees (one complete error answer with
//! `Connection: close`, then EOF, and nothing for whatever it pipelined
//! after), and that a fresh connection is served afterwards.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::common::*;

/// Reads the body the way Bottle's `BaseRequest._body` does: chunked when
/// HTTP_TRANSFER_ENCODING says so (decoding the chunks itself, 400 when
/// they do not parse), else CONTENT_LENGTH bytes.
const APP: &str = r#"
import json, os, time

NAME = "__NAME__"

def read_like_bottle(environ):
    stream = environ["wsgi.input"]
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = b""
        while True:
            header = stream.readline().split(b";", 1)[0].strip()
            try:
                size = int(header, 16)
            except ValueError:
                return None
            if size == 0:
                return body
            body += stream.read(size)
            if stream.read(2) != b"\r\n":
                return None
    return stream.read(int(environ.get("CONTENT_LENGTH") or 0))

def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        # Wait (bounded) until the test has looked at the spool file.
        release = os.path.join(environ["QUERY_STRING"], "release")
        for _ in range(6000):
            if os.path.exists(release):
                break
            time.sleep(0.01)
    body = read_like_bottle(environ)
    if body is None:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"Error while parsing chunked transfer body."]
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "HTTP_HOST",
            "SERVER_NAME", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "wsgi.input_terminated")
    out = {k: environ.get(k) for k in keys}
    out["app"] = NAME
    out["body"] = len(body)
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]
"#;

/// A server with the root app and an `/admin` mount, on HTTP and uwsgi.
struct Fixture {
    server: Server,
    uwsgi: u16,
}

fn start(extra: &[&str]) -> Fixture {
    let dir = TempDir::new("hostile");
    dir.write("root.py", &APP.replace("__NAME__", "root"));
    dir.write("admin.py", &APP.replace("__NAME__", "admin"));
    let uwsgi = Listener::tcp();
    let mut args = vec![
        "--wsgi-file",
        "{dir}/root.py",
        "--mount",
        "/admin={dir}/admin.py",
        "--socket-timeout",
        "2",
    ];
    args.extend_from_slice(extra);
    Fixture {
        server: Launch::new(dir)
            .args(&args)
            .socket("--socket", &uwsgi)
            .start(),
        uwsgi: uwsgi.port(),
    }
}

/// What a client saw: the bytes, and how the stream ended.
struct Reply {
    bytes: Vec<u8>,
    /// The server closed the connection (an orderly EOF).
    eof: bool,
    /// The connection was reset (the answer may be lost).
    reset: bool,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

fn read_reply(s: &mut TcpStream, wait: Duration) -> Reply {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 65536];
    let started = Instant::now();
    loop {
        match s.read(&mut chunk) {
            Ok(0) => {
                return Reply {
                    bytes,
                    eof: true,
                    reset: false,
                };
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Reply {
                    bytes,
                    eof: false,
                    reset: true,
                };
            }
            Err(_) => {
                return Reply {
                    bytes,
                    eof: false,
                    reset: false,
                };
            }
        }
        if started.elapsed() > wait {
            return Reply {
                bytes,
                eof: false,
                reset: false,
            };
        }
    }
}

/// Send `raw` (without half-closing: the server must end the exchange
/// itself) and read what comes back until it does.
fn exchange(port: u16, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _ = s.write_all(raw);
    read_reply(&mut s, PATIENCE)
}

/// The one error answer rsgi gives a refused request, byte for byte
/// (but the Date), followed by EOF and nothing else.
fn assert_refused(reply: &Reply, status: u16, what: &str) {
    let text = reply.text();
    let reasons = [
        (400, "Bad Request"),
        (408, "Request Timeout"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (431, "Request Header Fields Too Large"),
        (501, "Not Implemented"),
        (505, "HTTP Version Not Supported"),
    ];
    let reason = reasons
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, r)| *r)
        .expect("known status");
    let body = format!("{status} {reason}\n");
    // Encoded as every response is: the headers, then the server's.
    let want_prefix =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nServer: rsgi\r\nDate: ");
    let want_suffix = format!(
        " GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert!(
        text.starts_with(&want_prefix)
            && text.ends_with(&want_suffix)
            && text.len() == want_prefix.len() + 25 + want_suffix.len(),
        "{what}: expected exactly one {status} answer, got {text:?} (eof {}, reset {})",
        reply.eof,
        reply.reset
    );
    assert!(
        reply.eof && !reply.reset,
        "{what}: the connection should end with EOF after the answer (eof {}, reset {})",
        reply.eof,
        reply.reset
    );
}

/// A fresh connection gets a 200 from the root app.
fn assert_served(port: u16) {
    let r = request(
        port,
        "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "a fresh connection is served: {}", r.text());
}

fn json(reply: &Reply) -> serde_json::Value {
    let r =
        parse_response(&reply.bytes).unwrap_or_else(|| panic!("no response: {:?}", reply.text()));
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).expect("json")
}

fn get(port: u16, target: &str) -> serde_json::Value {
    json(&exchange(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    ))
}

fn via_uwsgi(port: u16, vars: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut packet = rsgi_core::protocol::uwsgi::encode(vars);
    packet.extend_from_slice(body);
    exchange(port, &packet)
}

/// (app, SCRIPT_NAME, PATH_INFO, QUERY_STRING) of an answer.
fn routed(v: &serde_json::Value) -> (String, String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (
        s("app"),
        s("SCRIPT_NAME"),
        s("PATH_INFO"),
        s("QUERY_STRING"),
    )
}

fn route(app: &str, script: &str, path: &str, query: &str) -> (String, String, String, String) {
    (app.into(), script.into(), path.into(), query.into())
}

/// Issue 13, item 1: a URL in the query made the target look absolute,
/// and `/public?next=http://x/admin/secret` reached the admin app.
#[test]
fn a_url_in_the_query_does_not_make_the_target_absolute() {
    let f = start(&[]);
    let port = f.server.port;
    assert_eq!(
        routed(&get(port, "/public?next=http://x/admin/secret")),
        route("root", "", "/public", "next=http://x/admin/secret")
    );
    assert_eq!(
        routed(&get(port, "/a/http://x/admin/secret")),
        route("root", "", "/a/http://x/admin/secret", "")
    );
    // A real absolute-form target: its host stands in for Host
    // (RFC 9112 3.2.2), its path is routed.
    let v = get(port, "http://example.com:8080/admin/x?q=1");
    assert_eq!(routed(&v), route("admin", "/admin", "/x", "q=1"));
    assert_eq!(v["HTTP_HOST"], "example.com:8080");
    assert_eq!(v["SERVER_NAME"], "example.com");
    // Over uwsgi nginx sends PATH_INFO and QUERY_STRING apart.
    let v = json(&via_uwsgi(
        f.uwsgi,
        &[
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/public?next=http://x/admin/secret"),
            ("PATH_INFO", "/public"),
            ("QUERY_STRING", "next=http://x/admin/secret"),
        ],
        b"",
    ));
    assert_eq!(
        routed(&v),
        route("root", "", "/public", "next=http://x/admin/secret")
    );
}

/// Issue 13, item 13: the mountpoint was chosen before dot segments were
/// removed, so `/admin/../public` reached the admin app while nginx (in
/// front) saw `/public`. Each target's nginx 1.22 `$uri` is noted.
#[test]
fn dot_segments_are_removed_before_the_mountpoint_is_chosen() {
    let f = start(&[]);
    let port = f.server.port;
    let cases = [
        ("/admin/../public", route("root", "", "/public", "")), // nginx: /public
        ("/public/../admin/x", route("admin", "/admin", "/x", "")), // nginx: /admin/x
        ("/a/%2e%2e/admin/y", route("admin", "/admin", "/y", "")), // nginx: /admin/y
        ("/a/..%2Fadmin", route("admin", "/admin", "", "")),    // nginx: /admin
        (
            "/admin/./z?a=/../b",
            route("admin", "/admin", "/z", "a=/../b"),
        ),
        ("/admin/.%2e/public", route("root", "", "/public", "")),
        ("//x/./y", route("root", "", "//x/y", "")),
    ];
    for (target, want) in cases {
        assert_eq!(routed(&get(port, target)), want, "{target}");
    }
    // Where nginx refuses (above the root) or would merge the slashes
    // first (and so name another path), rsgi refuses too.
    for target in [
        "/..",
        "/%2e%2e/admin",
        "/a/b/../../..",
        "/admin//../x",
        "/a%00b",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_refused(&exchange(port, raw.as_bytes()), 400, target);
    }
    // PATH_INFO from a uwsgi client that is not nginx.
    let v = json(&via_uwsgi(
        f.uwsgi,
        &[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/admin/../public")],
        b"",
    ));
    assert_eq!(routed(&v), route("root", "", "/public", ""));
    let v = json(&via_uwsgi(
        f.uwsgi,
        &[
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/public/../admin/w"),
        ],
        b"",
    ));
    assert_eq!(routed(&v), route("admin", "/admin", "/w", ""));
    assert_refused(
        &via_uwsgi(
            f.uwsgi,
            &[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/../x")],
            b"",
        ),
        400,
        "uwsgi PATH_INFO above the root",
    );
    assert_served(port);
}

/// A decoded chunked body kept `HTTP_TRANSFER_ENCODING: chunked` in the
/// environ, so Bottle decoded it a second time and answered 400.
#[test]
fn a_chunked_body_reaches_the_app_decoded_with_its_length() {
    let f = start(&[]);
    let v = json(&exchange(
        f.server.port,
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    ));
    assert_eq!(v["body"], 11);
    assert_eq!(v["CONTENT_LENGTH"], "11");
    assert_eq!(v["HTTP_TRANSFER_ENCODING"], serde_json::Value::Null);
    assert_eq!(v["wsgi.input_terminated"], true);
    // No body, no CONTENT_LENGTH.
    let v = get(f.server.port, "/");
    assert_eq!(v["CONTENT_LENGTH"], serde_json::Value::Null);
    // What nginx 1.22 sends over uwsgi_pass for a chunked request: the
    // body decoded, its CONTENT_LENGTH, and the client's Transfer-Encoding.
    let v = json(&via_uwsgi(
        f.uwsgi,
        &[
            ("REQUEST_METHOD", "POST"),
            ("PATH_INFO", "/up"),
            ("CONTENT_LENGTH", "5"),
            ("HTTP_TRANSFER_ENCODING", "chunked"),
        ],
        b"hello",
    ));
    assert_eq!(v["body"], 5);
    assert_eq!(v["HTTP_TRANSFER_ENCODING"], serde_json::Value::Null);
}

/// Issue 13, item 12: with the default config a client could stream an
/// unbounded body to disk; `Content-Length: 9223372036854775807` was
/// accepted and the worker waited for it.
#[test]
fn bodies_are_bounded_by_default_and_refused_before_they_are_sent() {
    // post-buffering keeps a 100 MiB body in memory: this test is about
    // limit-post, not the spool's free space.
    let f = start(&["--post-buffering", "200M"]);
    let port = f.server.port;
    let huge = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n";
    assert_refused(&exchange(port, huge.as_bytes()), 413, "huge Content-Length");
    // The documented default, 100 MiB: one byte more is refused before
    // the client sends it (413, not 100 Continue) ...
    let over = format!(
        "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        (100 << 20) + 1
    );
    assert_refused(&exchange(port, over.as_bytes()), 413, "over the default");
    f.server
        .wait_for_log("larger than limit-post (104857600 bytes)", PATIENCE);
    // ... and exactly 100 MiB may be sent.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(
        format!(
            "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            100 << 20
        )
        .as_bytes(),
    )
    .unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    drop(c);
    // The same limit over uwsgi (ignored there before).
    let reply = via_uwsgi(
        f.uwsgi,
        &[
            ("REQUEST_METHOD", "POST"),
            ("PATH_INFO", "/up"),
            ("CONTENT_LENGTH", "9223372036854775807"),
        ],
        b"",
    );
    assert_refused(&reply, 413, "uwsgi CONTENT_LENGTH over limit-post");
    assert_served(port);
}

#[test]
fn limit_post_holds_for_chunked_bodies_and_the_client_sees_the_413() {
    let f = start(&["--limit-post", "64k"]);
    let port = f.server.port;
    // 1 KiB chunks past 64 KiB, all sent before reading the answer: the
    // 413 must reach the client, not a reset.
    let mut raw = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..100 {
        raw.extend_from_slice(chunk.as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_refused(&exchange(port, &raw), 413, "chunked body over limit-post");
    // The same for a Content-Length body sent in full without asking.
    let mut raw = format!(
        "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        200 * 1024
    )
    .into_bytes();
    raw.extend(std::iter::repeat_n(b'y', 200 * 1024));
    assert_refused(
        &exchange(port, &raw),
        413,
        "Content-Length body over limit-post",
    );
    assert_served(port);
}

/// With limit-post off, the spool's free space still bounds a body.
#[test]
fn without_limit_post_the_spool_free_space_bounds_a_body() {
    let f = start(&["--limit-post", "0"]);
    let raw = "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 9223372036854775807\r\n\r\n";
    assert_refused(
        &exchange(f.server.port, raw.as_bytes()),
        413,
        "more than the disk",
    );
    f.server
        .wait_for_log("half of the spool directory's free space", PATIENCE);
    assert_served(f.server.port);
}

/// The spool file was created 0644 in the temp dir.
#[test]
fn a_spooled_body_is_in_a_private_nameless_file() {
    let dir = TempDir::new("spool");
    dir.write("root.py", &APP.replace("__NAME__", "root"));
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/root.py",
            "--post-buffering",
            "4096",
            "--env",
            "TMPDIR={dir}/spool",
        ],
    );
    let spool_dir = s.dir.path().join("spool");
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let body = vec![b'z'; 64 * 1024];
    c.write_all(
        format!(
            "POST /hold?{} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            s.dir.path().display(),
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    c.write_all(&body).unwrap();
    // While the app holds the request, the worker has the spool file open.
    let mut spooled = Vec::new();
    wait_until("the worker to hold a spool file", PATIENCE, || {
        spooled = worker_pids(s.pid())
            .into_iter()
            .flat_map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .filter(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&spool_dir))
            })
            .map(|fd| fd.path())
            .collect();
        !spooled.is_empty()
    });
    for fd in &spooled {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(fd).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "{}", fd.display());
        assert_eq!(meta.nlink(), 0, "the spool file has no name");
    }
    assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0);
    std::fs::write(s.dir.path().join("release"), "").unwrap();
    let reply = read_reply(&mut c, PATIENCE);
    assert_eq!(json(&reply)["body"], 64 * 1024);
}

/// Smuggling and framing vectors, each followed by a pipelined request
/// that must not be answered: after a refused head the framing of what
/// follows is unknown, so the connection ends.
#[test]
fn smuggling_and_framing_vectors_get_one_answer_and_a_close() {
    let f = start(&["--buffer-size", "4096"]);
    let port = f.server.port;
    let long_value = "v".repeat(5000);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let long_target = format!("/{}", "t".repeat(5000));
    let cases: Vec<(String, u16)> = vec![
        // RFC 9112 6.3: CL and TE together, either order
        ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n".into(), 400),
        // obfuscated Transfer-Encoding
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(), 501),
        ("POST /up HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        // duplicated or malformed Content-Length
        ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\nabcde".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\nabcd".into(), 400),
        // chunked bodies: size overflow, bare LF, junk after data, overlong extension
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n".into(), 400),
        ("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n".into(), 400),
        (format!("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(5000)), 400),
        // RFC 9112 7.1.1: chunk extensions are bounded in total (16 KiB)
        (format!(
            "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
            format!("1;{}\r\nx\r\n", "e".repeat(1000)).repeat(20)
        ), 400),
        // bare CR, NUL, obs-fold, whitespace-led header line
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\rHost: h\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n".into(), 400),
        ("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n".into(), 400),
        // Host: RFC 9112 3.2
        ("GET / HTTP/1.1\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: evil@a\r\n\r\n".into(), 400),
        // request line
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n".into(), 400),
        ("GET / http/1.1\r\nHost: h\r\n\r\n".into(), 400),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n".into(), 505),
        ("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n".into(), 400),
        // oversized everything (buffer-size 4096)
        (format!("GET {long_target} HTTP/1.1\r\nHost: h\r\n\r\n"), 414),
        (format!("GET / HTTP/1.1\r\nHost: h\r\nX-Long: {long_value}\r\n\r\n"), 431),
        (format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n"), 431),
    ];
    let pipelined = "GET /pipelined HTTP/1.1\r\nHost: h\r\n\r\n";
    for (raw, status) in &cases {
        let reply = exchange(port, format!("{raw}{pipelined}").as_bytes());
        assert_refused(&reply, *status, raw);
    }
    // The answer to a refused HEAD has the same head and no content
    // (RFC 9110 9.3.2), before and after the head parsed.
    for raw in [
        "HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let reply = exchange(port, format!("{raw}{pipelined}").as_bytes());
        let text = reply.text();
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\n")
                && text.ends_with("\r\nContent-Length: 16\r\nConnection: close\r\n\r\n")
                && reply.eof,
            "{raw:?}: {text:?}"
        );
    }
    assert_served(port);
}

#[test]
fn oversized_and_broken_uwsgi_packets_are_answered() {
    let f = start(&["--buffer-size", "1024"]);
    let big = "v".repeat(2000);
    let reply = via_uwsgi(f.uwsgi, &[("REQUEST_METHOD", "GET"), ("HTTP_X", &big)], b"");
    assert_refused(&reply, 431, "uwsgi packet over buffer-size");
    // A var that runs past the packet.
    let reply = exchange(f.uwsgi, &[0, 6, 0, 0, 1, 0, b'A', 9, 0, b'x']);
    assert_refused(&reply, 400, "truncated uwsgi var");
    let v = json(&via_uwsgi(
        f.uwsgi,
        &[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/ok")],
        b"",
    ));
    assert_eq!(v["PATH_INFO"], "/ok");
}

/// A head must arrive whole within socket-timeout (2 s here), however it
/// trickles in; before, each byte restarted the timeout.
#[test]
fn a_trickling_head_is_cut_off_and_a_slow_but_steady_one_is_served() {
    let f = start(&[]);
    let port = f.server.port;
    // A byte at a time, quickly enough: served.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for b in b"GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" {
        c.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = read_reply(&mut c, PATIENCE);
    assert_eq!(json(&r)["PATH_INFO"], "/slow");
    // A byte every 400 ms (well inside socket-timeout each): after 2 s in
    // total the head is refused with 408, long before all of it (26 s
    // worth) is sent.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_nonblocking(false).unwrap();
    let started = Instant::now();
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut sent = 0;
    c.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut answer = Vec::new();
    while sent < head.len() {
        if c.write_all(&head[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !answer.is_empty() {
            break;
        }
    }
    let took = started.elapsed();
    assert!(
        sent < head.len(),
        "the whole head was sent without a cut off ({took:?})"
    );
    assert!(
        took >= Duration::from_millis(1800),
        "cut off after {took:?}, before socket-timeout"
    );
    let rest = read_reply(&mut c, PATIENCE);
    answer.extend_from_slice(&rest.bytes);
    let reply = Reply {
        bytes: answer,
        eof: rest.eof,
        reset: rest.reset,
    };
    assert_refused(&reply, 408, "trickling head");
    f.server.wait_for_log(
        "the request head did not arrive whole within socket-timeout",
        PATIENCE,
    );
    assert_served(port);
}

/// Clients that go away mid-body (FIN or RST) cost nothing but their own
/// request.
#[test]
fn vanishing_clients_mid_body_leave_the_worker_serving() {
    let f = start(&["--post-buffering", "4096"]);
    let port = f.server.port;
    for reset in [false, true] {
        for len in [100usize, 100_000] {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(
                format!(
                    "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
                    len * 2
                )
                .as_bytes(),
            )
            .unwrap();
            c.write_all(&vec![b'q'; len]).unwrap();
            if reset {
                // SO_LINGER 0: close sends a reset.
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                use std::os::fd::AsRawFd;
                // SAFETY: setsockopt on a socket this test owns, with a
                // linger struct that outlives the call.
                unsafe {
                    libc::setsockopt(
                        c.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&raw const linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
            } else {
                c.shutdown(Shutdown::Write).unwrap();
            }
            drop(c);
            assert_served(port);
        }
    }
    // A chunked upload cut off in a chunk.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
        .unwrap();
    drop(c);
    assert_served(port);
}

/// A refused request whose client keeps sending: the answer must arrive
/// (the worker drains before it closes), not a reset.
#[test]
fn an_error_answer_survives_a_client_that_keeps_sending() {
    let f = start(&[]);
    let mut c = TcpStream::connect(("127.0.0.1", f.server.port)).unwrap();
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'j', 300 * 1024));
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&raw);
    });
    // Read only once everything was sent (or refused by the kernel).
    sender.join().unwrap();
    let reply = read_reply(&mut c, PATIENCE);
    assert_refused(&reply, 400, "bad header followed by 300 KiB");
    assert_served(f.server.port);
}
