//! `add-header` and `del-header` / `rem-header`: headers every response
//! carries or leaves out, on both protocols, whatever produced the
//! response (the app, HEAD, a 304, the server's own refusal), and values
//! that could split a response refused when the config loads. Security
//! headers set this way (X-Frame-Options, Strict-Transport-Security) are
//! what Django and Flask deployments on uWSGI use add-header for.

use std::io::{Read, Write};

use crate::common::*;

const APP: &str = r#"
def application(environ, start_response):
    if environ['PATH_INFO'] == '/not-modified':
        start_response('304 Not Modified', [('ETag', '"v1"'), ('X-Powered-By', 'app')])
        return [b'']
    start_response('200 OK', [
        ('Content-Type', 'text/plain'),
        ('X-Powered-By', 'app'),
        ('x-powered-by', 'again'),
        ('Server', 'app-server'),
        ('X-Kept', 'yes'),
    ])
    return [b'hello\n']
"#;

const RULES: [&str; 8] = [
    "--add-header",
    "X-Frame-Options: DENY",
    "--add-header",
    "Strict-Transport-Security: max-age=31536000; includeSubDomains",
    "--del-header",
    "X-POWERED-BY",
    "--rem-header",
    "server",
];

fn names(r: &Response) -> Vec<&str> {
    r.headers.iter().map(|(n, _)| n.as_str()).collect()
}

/// The head of a raw exchange on `endpoint`, as text.
fn head_of(endpoint: impl Into<Endpoint>, raw: &[u8]) -> String {
    let mut c = endpoint.into().connect();
    c.set_read_timeout(Some(PATIENCE)).expect("timeout");
    c.write_all(raw).expect("send");
    let mut data = Vec::new();
    let _ = c.read_to_end(&mut data);
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&data)));
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn assert_rules_applied(what: &str, head: &str) {
    let lower = head.to_ascii_lowercase();
    assert!(head.contains("\r\nX-Frame-Options: DENY"), "{what}: {head}");
    assert!(
        head.contains("\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains"),
        "{what}: {head}"
    );
    assert!(!lower.contains("x-powered-by"), "{what}: {head}");
    assert!(!lower.contains("\r\nserver:"), "{what}: {head}");
    assert!(lower.contains("\r\ndate: "), "{what}: {head}");
}

#[test]
fn added_and_removed_headers_on_every_response_and_both_protocols() {
    let dir = TempDir::new("add-header");
    dir.write("app.py", APP);
    let uwsgi_sock = dir.path().join("app.sock");
    let mut args = vec!["--wsgi-file", "{dir}/app.py", "--socket", "{dir}/app.sock"];
    args.extend_from_slice(&RULES);
    let s = Server::start_in(dir, &args);

    // The app's response: its own headers kept in order, the removed ones
    // (any case) gone, the added ones after them.
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello\n");
    assert_eq!(
        names(&r)
            .into_iter()
            .filter(|n| !["Date", "Transfer-Encoding", "Connection"].contains(n))
            .collect::<Vec<_>>(),
        [
            "Content-Type",
            "X-Kept",
            "X-Frame-Options",
            "Strict-Transport-Security"
        ],
        "{r:?}"
    );

    // HEAD and 304: no body, the same headers.
    let head = head_of(
        s.port,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_rules_applied("HEAD", &head);
    let head = head_of(
        s.port,
        b"GET /not-modified HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(head.contains("\r\nETag: \"v1\""), "{head}");
    assert_rules_applied("304", &head);

    // A request refused before the app saw it gets them too.
    let head = head_of(
        s.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(head.contains("\r\nX-Frame-Options: DENY"), "{head}");

    // The uwsgi protocol (nginx's uwsgi_pass).
    let head = head_of(&uwsgi_sock, &uwsgi_packet("GET", "/"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("\r\nX-Kept: yes"), "{head}");
    assert_rules_applied("uwsgi", &head);
}

#[test]
fn without_the_options_the_apps_headers_go_out_unchanged() {
    let dir = TempDir::new("no-add-header");
    dir.write("app.py", APP);
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py"]);
    let r = s.get("/");
    assert_eq!(r.header("X-Powered-By"), Some("app"), "{r:?}");
    assert_eq!(r.header("Server"), Some("app-server"), "{r:?}");
    assert_eq!(r.header("X-Frame-Options"), None, "{r:?}");
}

/// `add-header = Connection: close`, as SearXNG's and OpenStack's uWSGI
/// configs have it: each connection ends after one response, and the
/// header is written once.
#[test]
fn an_added_connection_close_ends_each_connection_after_its_response() {
    let dir = TempDir::new("add-header-close");
    dir.write("app.py", APP);
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--add-header",
            "Connection: close",
        ],
    );
    let mut c = Endpoint::from(s.port).connect();
    c.set_read_timeout(Some(PATIENCE)).expect("timeout");
    // Two requests that ask to keep the connection: one answer, then EOF.
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut data = Vec::new();
    c.read_to_end(&mut data).expect("read to EOF");
    assert_eq!(
        complete_responses(&data),
        1,
        "{}",
        String::from_utf8_lossy(&data)
    );
    let r = parse_response(&data).expect("a response");
    assert_eq!(r.text(), "hello\n");
    let closes: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .collect();
    assert_eq!(closes.len(), 1, "{r:?}");
    assert_eq!(closes[0].1, "close");
}

#[test]
fn a_header_value_that_could_split_a_response_is_a_config_error() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--add-header", "X-A: 1\r\nSet-Cookie: admin=1"],
            "add-header",
        ),
        (&["--add-header", "X-Frame-Options DENY"], "add-header"),
        (&["--add-header", "Content-Length: 0"], "add-header"),
        (&["--add-header", "Connection: keep-alive"], "add-header"),
        (&["--del-header", "Bad Name"], "del-header"),
    ];
    for (args, option) in cases {
        let mut all = vec!["--check-config", "--http-socket", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run(rsgi().args(&all), b"", PATIENCE);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(option), "{args:?}: {stderr}");
    }
}
