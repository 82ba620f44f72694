//! A misbehaving-app matrix against the real binary, over raw sockets:
//! apps that raise before or after the head, yield the wrong types,
//! misuse `exc_info`, hand `wsgi.file_wrapper` a file shorter than it
//! claims, break the response-head rules, die (`os._exit`, a segfault) or
//! loop under harakiri. Each case asserts the bytes the client sees (a
//! status, or an end without the terminating chunk) and that the next
//! request on a fresh connection is served, over HTTP and, where the
//! fault is in the response, the uwsgi protocol too.
//!
//! What a client must be able to rely on: a response that is complete as
//! framed, or a connection that ends before it is (EOF short of the
//! Content-Length, EOF without the last chunk, or, where only the close
//! delimits the body, a reset), never a second response written into an
//! unfinished first one.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::*;

const APP: &str = r#"
import ctypes, os, sys
from urllib.parse import unquote

def ok_body(start_response, body=b"ok"):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

def part_then(failure):
    # Yield one chunk (the head and it go out at once), then fail.
    yield b"part"
    failure()

def boom():
    raise RuntimeError("boom mid-stream")

class Iterable:
    # Not a list or a generator: items are sent as they come.
    def __init__(self, items):
        self.items = items
    def __iter__(self):
        for item in self.items:
            if isinstance(item, Exception):
                raise item
            yield item

class ListClosingBadly(list):
    def close(self):
        raise RuntimeError("boom in close()")

def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/ok":
        return ok_body(start_response)
    if path == "/cookie":
        return ok_body(start_response, environ.get("HTTP_COOKIE", "").encode())
    if path.startswith("/bytes"):
        return ok_body(start_response, ascii([path, environ.get("HTTP_X_BYTES")]).encode())
    if path == "/repeated":
        return ok_body(start_response, repr([environ.get(k) for k in
            ("HTTP_COOKIE", "HTTP_X_A", "HTTP_ACCEPT", "CONTENT_TYPE")]).encode())
    if path == "/raise-before-head":
        raise RuntimeError("boom before start_response")
    if path == "/raise-after-start-response":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("boom after start_response")
    if path == "/generator-raises":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return part_then(boom)
    if path == "/generator-raises-with-length":
        start_response("200 OK", [("Content-Length", "100")])
        return part_then(boom)
    if path == "/iterable-raises":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Iterable([b"part", RuntimeError("boom from an iterable")])
    if path == "/close-raises":
        start_response("200 OK", [("Content-Length", "4")])
        return ListClosingBadly([b"done"])
    if path == "/list-str-item":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"part", "a str"]
    if path == "/generator-str-item":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"part"
            yield "a str"
        return gen()
    if path == "/exc-info-after-head":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"part"
            try:
                raise ValueError("late failure")
            except ValueError:
                start_response("500 Internal Server Error", [], sys.exc_info())
            yield b"never"
        return gen()
    if path == "/exc-info-after-head-swallowed":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"part"
            try:
                raise ValueError("late failure")
            except ValueError:
                try:
                    start_response("500 Internal Server Error", [], sys.exc_info())
                except ValueError:
                    pass
            yield b" and an error page"
        return gen()
    if path == "/exc-info-without-error-after-head":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"part"
            start_response("500 Internal Server Error", [], sys.exc_info())
            yield b"never"
        return gen()
    if path == "/exc-info-without-error-before-head":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("503 Replaced", [("Content-Length", "8")], sys.exc_info())
        return [b"replaced"]
    if path == "/start-response-twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"never"]
    if path == "/short-file":
        # sysfs reports 4096 bytes for a file of a few: sendfile ends early.
        f = open("/sys/devices/system/cpu/online", "rb")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](f)
    if path == "/proc-file":
        # procfs says 0 bytes for a file that has content.
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open("/proc/version", "rb"))
    if path == "/short-file-with-length":
        f = open(__file__, "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Length", str(size + 1000))])
        return environ["wsgi.file_wrapper"](f)
    if path == "/short-body":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"short"]
    if path == "/status-splitting":
        start_response("200 OK\u010d\u010aSet-Cookie: pwned=1", [])
        return [b"no"]
    if path == "/status-bad":
        start_response(unquote(query), [])
        return [b"no"]
    if path == "/header-bad":
        value = {"cr": "a\rb", "lf": "a\nb", "nul": "a\0b", "ctl": "a\x01b",
                 "del": "a\x7fb", "wide": "a\u010d\u010aSet-Cookie: pwned=1"}[query]
        start_response("200 OK", [("X-Bad", value)])
        return [b"no"]
    if path == "/header-latin1":
        start_response("200 OK \u00e9t\u00e9", [("X-Latin1", "caf\u00e9"), ("Content-Length", "2"),
                                              ("X-Long", "\u00e9" * 300)])
        return [b"ok"]
    if path == "/header-name-bad":
        start_response("200 OK", [("X-Bad\u010d\u010aSet-Cookie", "pwned=1")])
        return [b"no"]
    if path == "/length":
        headers = [tuple(h.split("=", 1)) for h in query.split("&") if h]
        start_response("200 OK", [(n.replace("_", "-"), unquote(v)) for n, v in headers])
        return [b"hello"]
    if path == "/no-content":
        start_response("204 No Content", [("Content-Length", "0")])
        return []
    if path == "/exit":
        os._exit(3)
    if path == "/segfault":
        ctypes.string_at(0)
    if path == "/loop":
        while True:
            pass
    if path == "/big-list":
        body = b"x" * int(query)
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/big-generator":
        def gen(n):
            chunk = b"x" * 65536
            while n > 0:
                yield chunk[:n]
                n -= len(chunk)
        start_response("200 OK", [("Content-Length", query)])
        return gen(int(query))
    if path == "/big-stream":
        def gen(n):
            chunk = b"x" * 65536
            while n > 0:
                yield chunk[:n]
                n -= len(chunk)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen(int(query))
    if path == "/big-file":
        name = os.path.join(os.path.dirname(__file__), "big-%s.bin" % query)
        if not os.path.exists(name):
            with open(name + ".tmp", "wb") as f:
                f.write(b"x" * int(query))
            os.rename(name + ".tmp", name)
        start_response("200 OK", [("Content-Length", query)])
        return environ["wsgi.file_wrapper"](open(name, "rb"))
    return ok_body(start_response, b"not found")
"#;

/// A server with the app on an HTTP socket and a uwsgi socket.
struct Both {
    server: Server,
    uwsgi_port: u16,
}

/// How long an idle kept-alive connection stays open here: longer than a
/// client waits for a connection to end, so a connection the server
/// should have closed shows as `End::Hung`.
const KEEPALIVE: &str = "120";

fn start(extra: &[&str]) -> Both {
    let dir = TempDir::new("hostile");
    dir.write("app.py", APP);
    let uwsgi = Listener::tcp();
    let mut args = vec!["--wsgi-file", "{dir}/app.py", "--http-keepalive", KEEPALIVE];
    args.extend_from_slice(extra);
    Both {
        server: Launch::new(dir)
            .args(&args)
            .socket("--socket", &uwsgi)
            .start(),
        uwsgi_port: uwsgi.port(),
    }
}

/// Send `raw` and read what comes back until the connection ends.
fn exchange(port: u16, raw: &[u8]) -> (Vec<u8>, End) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(raw).expect("send");
    read_until_end(&mut s, PATIENCE)
}

/// A GET on HTTP/1.1 with keep-alive, and a second request pipelined
/// behind it: the second must never be answered into the first.
fn http11_pipelined(port: u16, path: &str) -> (Vec<u8>, End) {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    exchange(port, raw.as_bytes())
}

fn http11(port: u16, path: &str) -> (Vec<u8>, End) {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn http10(port: u16, path: &str) -> (Vec<u8>, End) {
    exchange(port, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
}

fn uwsgi(port: u16, path: &str) -> (Vec<u8>, End) {
    exchange(port, &uwsgi_packet("GET", path))
}

/// The head (up to the blank line, read as latin-1) and the bytes after it.
fn split_head(data: &[u8]) -> (String, &[u8]) {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(data)));
    (
        data[..end + 2].iter().map(|&b| char::from(b)).collect(),
        &data[end + 4..],
    )
}

fn status_of(data: &[u8]) -> u16 {
    split_head(data)
        .0
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {:?}", String::from_utf8_lossy(data)))
}

/// Walk chunked framing: Some(bytes used) if `body` holds a complete
/// chunked body (through the last chunk), None if it stops short.
fn chunked_end(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line = body.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        // Anything but a size (a response written into this one) ends the walk.
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[at..at + line]).ok()?, 16).ok()?;
        at += line + 2;
        if size == 0 {
            return (body.len() >= at + 2).then_some(at + 2);
        }
        at += size + 2;
        if at > body.len() {
            return None;
        }
    }
}

/// A chunked 200 that went out with "part" and then ended without its
/// last chunk, with nothing after it.
fn assert_cut_chunked(data: &[u8], end: End) {
    assert_eq!(
        end,
        End::Eof,
        "the connection must close at once: {:?}",
        String::from_utf8_lossy(data)
    );
    assert_eq!(status_of(data), 200);
    let (head, body) = split_head(data);
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    assert!(
        body.starts_with(b"4\r\npart\r\n"),
        "{:?}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(
        chunked_end(body),
        None,
        "an incomplete body must not end with the last chunk: {:?}",
        String::from_utf8_lossy(body)
    );
    assert!(
        !String::from_utf8_lossy(body).contains("HTTP/1.1"),
        "a second response was written into the first: {:?}",
        String::from_utf8_lossy(body)
    );
}

/// A close-delimited response (HTTP/1.0, uwsgi) cut short: only a reset
/// tells the client (or nginx) that the body is incomplete.
fn assert_cut_close_delimited(data: &[u8], end: End) {
    assert_eq!(
        end,
        End::Reset,
        "a cut close-delimited body must end in a reset, not a clean EOF: {:?}",
        String::from_utf8_lossy(data)
    );
    if !data.is_empty() {
        assert_eq!(status_of(data), 200);
        assert!(!split_head(data).1.ends_with(b"never"));
    }
}

/// A complete response with `status`, and nothing after it.
fn assert_complete(data: &[u8], end: End, status: u16) -> Response {
    assert_ne!(end, End::Hung, "{:?}", String::from_utf8_lossy(data));
    assert_eq!(
        status_of(data),
        status,
        "{:?}",
        String::from_utf8_lossy(data)
    );
    parse_response(data).expect("response")
}

/// The server still answers on a fresh connection, on both protocols.
fn assert_serves(b: &Both) {
    let r = b.server.get("/ok");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let (data, end) = uwsgi(b.uwsgi_port, "/ok");
    assert_eq!(end, End::Eof);
    assert_eq!(split_head(&data).1, b"ok");
}

fn assert_logged(b: &Both, needle: &str) {
    b.server.wait_for_log(needle, PATIENCE);
}

#[test]
fn a_raise_before_the_head_is_a_500_and_the_connection_stays_usable() {
    let b = start(&[]);
    for path in ["/raise-before-head", "/raise-after-start-response"] {
        let (data, end) = http11_pipelined(b.server.port, path);
        assert_eq!(end, End::Eof);
        let first = parse_response(&data).expect("first response");
        assert_eq!(first.status, 500, "{path}");
        // The 500 is complete and framed, so the pipelined request is
        // answered after it.
        assert!(
            data.ends_with(b"\r\n\r\nok"),
            "{path}: {:?}",
            String::from_utf8_lossy(&data)
        );
        let (data, end) = uwsgi(b.uwsgi_port, path);
        assert_complete(&data, end, 500);
    }
    assert_logged(&b, "RuntimeError: boom before start_response");
    assert_logged(&b, "RuntimeError: boom after start_response");
    assert_serves(&b);
}

#[test]
fn a_generator_that_raises_after_the_head_ends_the_connection_without_the_last_chunk() {
    let b = start(&[]);
    let port = b.server.port;
    for path in [
        "/generator-raises",
        "/iterable-raises",
        "/generator-str-item",
    ] {
        let (data, end) = http11_pipelined(port, path);
        assert_cut_chunked(&data, end);
        // A lone request does not hang until keep-alive expires.
        let (data, end) = http11(port, path);
        assert_cut_chunked(&data, end);
        let (data, end) = http10(port, path);
        assert_cut_close_delimited(&data, end);
        let (data, end) = uwsgi(b.uwsgi_port, path);
        assert_cut_close_delimited(&data, end);
    }
    assert_logged(&b, "RuntimeError: boom mid-stream");
    assert_logged(&b, "RuntimeError: boom from an iterable");
    assert_logged(&b, "WSGI bodies are bytes");
    assert_serves(&b);
}

#[test]
fn a_body_cut_short_of_its_content_length_closes_the_connection() {
    let b = start(&[]);
    for path in [
        "/generator-raises-with-length",
        "/short-body",
        "/short-file-with-length",
    ] {
        let (data, end) = http11_pipelined(b.server.port, path);
        assert_eq!(
            end,
            End::Eof,
            "{path}: {:?}",
            String::from_utf8_lossy(&data)
        );
        let (head, body) = split_head(&data);
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{path}: {head}"));
        assert!(
            body.len() < declared,
            "{path}: {} of {declared}",
            body.len()
        );
        assert!(!String::from_utf8_lossy(body).contains("HTTP/1.1"));
        let (data, end) = uwsgi(b.uwsgi_port, path);
        assert_ne!(end, End::Hung, "{path}");
        assert!(split_head(&data).1.len() < declared);
    }
    assert_logged(&b, "declared Content-Length 10 but its body had 5 bytes");
    assert_serves(&b);
}

#[test]
fn non_bytes_items_in_a_list_are_a_500_as_nothing_was_sent_yet() {
    let b = start(&[]);
    let (data, end) = http11_pipelined(b.server.port, "/list-str-item");
    let r = assert_complete(&data, end, 500);
    assert!(!r.text().contains("part"), "{}", r.text());
    assert!(
        data.ends_with(b"\r\n\r\nok"),
        "the pipelined request is served"
    );
    let (data, end) = uwsgi(b.uwsgi_port, "/list-str-item");
    assert_complete(&data, end, 500);
    assert_logged(&b, "the app returned str 'a str'");
    assert_serves(&b);
}

#[test]
fn exc_info_after_the_head_ends_the_connection() {
    let b = start(&[]);
    for path in [
        "/exc-info-after-head",
        "/exc-info-after-head-swallowed",
        "/exc-info-without-error-after-head",
    ] {
        let (data, end) = http11_pipelined(b.server.port, path);
        assert_cut_chunked(&data, end);
        let (data, end) = uwsgi(b.uwsgi_port, path);
        assert_cut_close_delimited(&data, end);
    }
    assert_logged(&b, "ValueError: late failure");
    assert_serves(&b);
}

#[test]
fn exc_info_before_the_head_replaces_the_response_and_a_second_call_without_it_is_a_500() {
    let b = start(&[]);
    let (data, end) = http11_pipelined(b.server.port, "/exc-info-without-error-before-head");
    let r = assert_complete(&data, end, 503);
    assert!(r.text().starts_with("replaced"));
    assert!(data.ends_with(b"\r\n\r\nok"));
    let (data, end) = http11_pipelined(b.server.port, "/start-response-twice");
    assert_complete(&data, end, 500);
    assert!(data.ends_with(b"\r\n\r\nok"));
    assert_logged(&b, "start_response() was called twice without exc_info");
    assert_serves(&b);
}

#[test]
fn an_exception_in_close_leaves_a_complete_response_standing() {
    let b = start(&[]);
    let (data, end) = http11_pipelined(b.server.port, "/close-raises");
    let r = assert_complete(&data, end, 200);
    assert_eq!(&r.body[..4], b"done");
    assert!(data.ends_with(b"\r\n\r\nok"));
    assert_logged(&b, "RuntimeError: boom in close()");
    assert_serves(&b);
}

#[test]
fn a_file_shorter_than_its_size_ends_the_connection() {
    let b = start(&[]);
    let (data, end) = http11_pipelined(b.server.port, "/short-file");
    assert_eq!(end, End::Eof, "{:?}", String::from_utf8_lossy(&data));
    let (_, body) = split_head(&data);
    assert_eq!(
        chunked_end(body),
        None,
        "{:?}",
        String::from_utf8_lossy(body)
    );
    assert!(!String::from_utf8_lossy(body).contains("HTTP/1.1"));
    let (data, end) = uwsgi(b.uwsgi_port, "/short-file");
    assert_cut_close_delimited(&data, end);
    assert_logged(&b, "wsgi.file_wrapper");
    assert_serves(&b);
}

#[test]
fn a_file_whose_size_says_zero_is_read_not_sent_empty() {
    let b = start(&[]);
    let want = std::fs::read("/proc/version").expect("/proc/version");
    assert!(!want.is_empty());
    let r = b.server.get("/proc-file");
    assert_eq!((r.status, r.body), (200, want));
}

#[test]
fn a_status_or_header_that_would_split_the_response_is_a_500() {
    let b = start(&[]);
    let port = b.server.port;
    let mut paths = vec![
        "/status-splitting".to_string(),
        "/header-name-bad".to_string(),
    ];
    for q in ["cr", "lf", "nul", "ctl", "del", "wide"] {
        paths.push(format!("/header-bad?{q}"));
    }
    for status in [
        "2000%20OK",
        "20%20OK",
        "200OK",
        "abc%20OK",
        "099%20Low",
        "200%20a%7Fb",
        "200%20a%0D%0ASet-Cookie:%20pwned=1",
    ] {
        paths.push(format!("/status-bad?{status}"));
    }
    for path in &paths {
        let (data, end) = http11_pipelined(port, path);
        let r = assert_complete(&data, end, 500);
        assert!(
            r.header("set-cookie").is_none(),
            "{path}: response splitting"
        );
        assert!(
            !String::from_utf8_lossy(&data).contains("pwned"),
            "{path}: {:?}",
            String::from_utf8_lossy(&data)
        );
        let (data, end) = uwsgi(b.uwsgi_port, path);
        assert_complete(&data, end, 500);
    }
    assert_logged(&b, "outside latin-1");
    assert_logged(&b, "control character");
    // Latin-1 itself passes, byte for byte (PEP 3333: str as latin-1).
    let (data, end) = http11_pipelined(port, "/header-latin1");
    assert_eq!(end, End::Eof);
    let (head, _) = split_head(&data);
    assert!(
        head.starts_with("HTTP/1.1 200 OK \u{e9}t\u{e9}\r\n"),
        "{head:?}"
    );
    assert!(
        data.windows(14).any(|w| w == b"X-Latin1: caf\xe9"),
        "{:?}",
        String::from_utf8_lossy(&data)
    );
    // A value longer than the short-string buffer takes the general way.
    let long: Vec<u8> = b"X-Long: ".iter().copied().chain([0xe9; 300]).collect();
    assert!(
        data.windows(long.len()).any(|w| w == long),
        "{:?}",
        String::from_utf8_lossy(&data)
    );
    assert_serves(&b);
}

#[test]
fn the_server_owns_the_framing_headers() {
    let b = start(&[]);
    let port = b.server.port;
    let get = |query: &str| {
        let (data, end) = exchange(
            port,
            format!("GET /length?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(end, End::Eof);
        let (head, _) = split_head(&data);
        (status_of(&data), head.to_ascii_lowercase(), data)
    };
    let count = |head: &str, name: &str| head.matches(&format!("\r\n{name}:")).count();
    // Not a number, a sign, a list of different values, two different
    // values: rejected (as gunicorn's int() and hyper do), never sent.
    for query in [
        "Content_Length=12abc",
        "Content_Length=-5",
        "Content_Length=",
        "Content_Length=5,%206",
        "Content_Length=5&Content_Length=6",
        "Content_Length=99999999999999999999999",
    ] {
        let (status, head, data) = get(query);
        assert_eq!(status, 500, "{query}: {head}");
        assert!(!String::from_utf8_lossy(&data).contains("12abc"), "{query}");
    }
    // The same value twice (or as a list) is one length, sent once.
    for query in [
        "Content_Length=5&Content_Length=5",
        "Content_Length=5,%205",
        "Content_Length=%205%20",
    ] {
        let (status, head, data) = get(query);
        assert_eq!(status, 200, "{query}: {head}");
        assert_eq!(count(&head, "content-length"), 1, "{query}: {head}");
        assert!(
            head.contains("\r\ncontent-length: 5\r\n"),
            "{query}: {head}"
        );
        assert_eq!(count(&head, "transfer-encoding"), 0, "{query}: {head}");
        assert!(data.ends_with(b"\r\n\r\nhello"), "{query}");
    }
    // The app's Transfer-Encoding is dropped: the server frames the body
    // (PEP 3333: transfer codings are the server's province).
    for query in [
        "Transfer_Encoding=chunked",
        "Transfer_Encoding=gzip",
        "Transfer_Encoding=chunked&Content_Length=5",
    ] {
        let (status, head, data) = get(query);
        assert_eq!(status, 200, "{query}");
        assert!(
            !(count(&head, "content-length") > 0 && count(&head, "transfer-encoding") > 0),
            "{query}: both framing headers: {head}"
        );
        assert!(!head.contains("gzip"), "{query}: {head}");
        assert!(count(&head, "transfer-encoding") <= 1, "{query}: {head}");
        assert_eq!(parse_response(&data).expect("response").body, b"hello");
    }
    // RFC 9110 8.6: no Content-Length in a 204.
    let (data, _) = exchange(
        port,
        b"GET /no-content HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split_head(&data);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(body.is_empty());
    assert_logged(&b, "Content-Length");
    assert_serves(&b);
}

#[test]
fn repeated_cookie_headers_join_with_a_semicolon() {
    let b = start(&[]);
    let r = request(
        b.server.port,
        "GET /cookie HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "a=1; b=2");
}

/// PEP 3333: request bytes reach the app as latin-1 str, one code point
/// per byte (a header value as sent, a path once percent-decoded).
#[test]
fn request_bytes_reach_the_app_as_latin1() {
    let b = start(&[]);
    let r = request_bytes(
        b.server.port,
        b"GET /bytes/caf%E9%FF HTTP/1.1\r\nHost: x\r\nX-Bytes: caf\xe9\xff!\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), r"['/bytes/caf\xe9\xff', 'caf\xe9\xff!']");
}

/// RFC 9110 5.3: every value of a repeated field, in order, whatever the
/// case of its name, an empty one included.
#[test]
fn repeated_fields_keep_every_value_in_order() {
    let b = start(&[]);
    let r = request(
        b.server.port,
        "GET /repeated HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nX-A:\r\nAccept: */*\r\n\
         cookie: b=2\r\nx-a: 2\r\nCOOKIE: c=3\r\nX-A: 3\r\nContent-Type: a/b\r\n\
         content-type: c/d\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        r.text(),
        "['a=1; b=2; c=3', ',2,3', '*/*', 'a/b,c/d']",
        "{}",
        r.text()
    );
}

/// The worker dies in the request: the client sees the connection end
/// with no response, and the master's new worker serves the next one.
fn dies(path: &str, extra: &[&str]) {
    let b = start(extra);
    let (data, end) = http11(b.server.port, path);
    assert_ne!(end, End::Hung, "{path}");
    assert!(
        data.is_empty(),
        "{path}: {:?}",
        String::from_utf8_lossy(&data)
    );
    assert_serves(&b);
    let (data, end) = uwsgi(b.uwsgi_port, path);
    assert_ne!(end, End::Hung, "{path} over uwsgi");
    assert!(data.is_empty());
    assert_serves(&b);
}

#[test]
fn os_exit_in_a_request_ends_its_connection_and_the_worker_is_replaced() {
    dies("/exit", &[]);
}

#[test]
fn a_segfault_in_a_request_ends_its_connection_and_the_worker_is_replaced() {
    dies("/segfault", &[]);
}

#[test]
fn an_endless_loop_under_harakiri_ends_its_connection_and_the_worker_is_replaced() {
    dies("/loop", &["--harakiri", "1"]);
}

/// When a slow reader stops reading, and what it waits for before it
/// reads the rest.
type Stop<'a> = Option<(usize, &'a dyn Fn())>;

/// A client that reads steadily at about `rate` bytes per second through
/// a small receive buffer, so the server's writes take far longer than
/// socket-timeout in total; with `stop`, it stops after that many bytes,
/// waits (for the server to give up), then reads what is left. Returns
/// the bytes read before any stop and how the connection ended.
fn slow_read(port: u16, request: &str, rate: usize, stop: Stop<'_>) -> (usize, End) {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, setsockopt, socket, sockopt,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .expect("socket");
    setsockopt(&fd, sockopt::RcvBuf, &65536).expect("SO_RCVBUF");
    let addr = SockaddrIn::new(127, 0, 0, 1, port);
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).expect("connect");
    let mut s = TcpStream::from(fd);
    s.write_all(request.as_bytes()).expect("send");
    let step = rate / 50;
    let mut buf = vec![0u8; step];
    let mut read = 0;
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    loop {
        if let Some((after, wait)) = stop
            && read >= after
        {
            wait();
            let (_, end) = read_until_end(&mut s, PATIENCE);
            return (read, end);
        }
        match s.read(&mut buf) {
            Ok(0) => return (read, End::Eof),
            Ok(n) => read += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (read, End::Reset),
            Err(e) => panic!("read after {read} bytes: {e}"),
        }
        // Pace to `rate`.
        let due = Duration::from_secs_f64(read as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

#[test]
fn a_steady_slow_reader_gets_a_response_that_takes_longer_than_socket_timeout() {
    // 12 MB at 4 MB/s: three seconds, against a one-second socket-timeout
    // that is meant per write, not for the whole response.
    const TOTAL: usize = 12 * 1024 * 1024;
    let b = start(&[
        "--socket-timeout",
        "1",
        "--log-format",
        "sent %(uri) %(rsize)",
    ]);
    for path in ["/big-list", "/big-generator", "/big-file"] {
        let started = Instant::now();
        let (read, _) = slow_read(
            b.server.port,
            &format!("GET {path}?{TOTAL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            4 * 1024 * 1024,
            None,
        );
        assert!(
            started.elapsed() > Duration::from_millis(1500),
            "{path}: read too fast to test anything ({:?})",
            started.elapsed()
        );
        assert!(
            read > TOTAL,
            "{path}: the client got {read} bytes of {TOTAL} and a head"
        );
        assert_logged(&b, &format!("sent {path}?{TOTAL} {TOTAL}"));
    }
}

#[test]
fn a_reader_that_stops_is_cut_off_and_the_log_says_what_it_got() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let b = start(&[
        "--socket-timeout",
        "1",
        "--log-format",
        "sent %(uri) %(rsize) %(hsize) %(size)",
    ]);
    for (path, proto) in [
        ("/big-list", "HTTP/1.1"),
        ("/big-generator", "HTTP/1.1"),
        ("/big-file", "HTTP/1.1"),
        ("/big-stream", "HTTP/1.1"),
        ("/big-list", "HTTP/1.0"),
        ("/big-stream", "HTTP/1.0"),
    ] {
        let prefix = format!("sent {path}?{TOTAL} ");
        let lines = |log: &str| {
            log.lines()
                .filter(|l| l.starts_with(&prefix))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let before = lines(&b.server.log_text()).len();
        // The server logs the request once it has given up on the client.
        let given_up = || {
            wait_until("its log line", PATIENCE, || {
                lines(&b.server.log_text()).len() > before
            })
        };
        let (read, end) = slow_read(
            b.server.port,
            &format!("GET {path}?{TOTAL} {proto}\r\nHost: x\r\n\r\n"),
            16 * 1024 * 1024,
            Some((1024 * 1024, &given_up)),
        );
        // Cut short, a body with a length or chunks ends with a clean
        // close (the client sees it short); one that only the close
        // delimits ends with a reset.
        let expected_end = if (path, proto) == ("/big-stream", "HTTP/1.0") {
            End::Reset
        } else {
            End::Eof
        };
        assert_eq!(end, expected_end, "{path} {proto}");
        let line = lines(&b.server.log_text()).pop().expect("log line");
        let sizes: Vec<usize> = line[prefix.len()..]
            .split(' ')
            .map(|n| n.parse().expect("a size"))
            .collect();
        let [body, head, size] = sizes[..] else {
            panic!("three sizes in {line:?}")
        };
        assert!(
            body >= read.saturating_sub(200) && body < TOTAL,
            "{path} {proto}: logged {body}, the client read {read} of {TOTAL}"
        );
        // uWSGI's meanings: %(size) is the head and the body sent.
        assert!(head > 0 && head < 300, "{path} {proto}: head {head}");
        assert_eq!(size, head + body, "{line}");
        // The next request runs on a fresh log line.
        b.server.get("/ok");
    }
}
