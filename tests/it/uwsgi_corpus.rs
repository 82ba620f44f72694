//! uwsgi packets captured from real nginx (tests/support/capture_uwsgi.py),
//! through the parser and through the running server; truncated and
//! corrupted variants must close the connection cleanly.

use std::io::{Read, Write};

use crate::common::*;
use rsgi_core::protocol::BodyFraming;
use rsgi_core::protocol::http::Limits;
use rsgi_core::protocol::uwsgi::parse_packet;

/// buffer-size 4096, limit-post off.
const LIMITS: Limits = Limits {
    max_head: 4096,
    max_body: 0,
};

/// A captured packet: its file, vars that must be there, body length.
type Case = (&'static str, &'static [(&'static str, &'static str)], u64);

const CASES: &[Case] = &[
    (
        "get_query",
        &[
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/search/caf\u{c3}\u{a9}"),
            ("QUERY_STRING", "q=rust&page=2"),
            ("HTTP_ACCEPT", "text/html"),
        ],
        0,
    ),
    (
        "post_form",
        &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("CONTENT_LENGTH", "19"),
        ],
        19,
    ),
    (
        "post_chunked_unbuffered",
        &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_LENGTH", "950"),
            ("PATH_INFO", "/stream/upload"),
        ],
        950,
    ),
    (
        "many_headers",
        &[
            ("HTTP_X_HEADER_0", "value-0"),
            ("HTTP_X_HEADER_39", "value-39"),
        ],
        0,
    ),
    (
        "overrides",
        &[
            ("HTTPS", "on"),
            ("SCRIPT_NAME", "/secure"),
            ("PATH_INFO", "/app/page"),
            ("HTTP_COOKIE", "a=1; b=2"),
        ],
        0,
    ),
];

const ECHO_APP: &str = r#"
import json

def application(environ, start_response):
    body = environ["wsgi.input"].read()
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["body_len"] = len(body)
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
"#;

fn packet(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/uwsgi/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("captured packet")
}

fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

#[test]
fn captured_packets_parse_with_their_vars_and_every_truncation_is_incomplete() {
    for (name, vars, body) in CASES {
        let p = packet(name);
        let (head, used) = parse_packet(&p, &LIMITS).expect("valid").expect("complete");
        for (k, v) in *vars {
            assert_eq!(head.var(k), Some(&latin1(v)[..]), "{name}: {k}");
        }
        let want = if *body == 0 {
            BodyFraming::Empty
        } else {
            BodyFraming::Length(*body)
        };
        assert_eq!(head.body, want, "{name}");
        assert_eq!(
            p.len() - used,
            *body as usize,
            "{name}: the body follows the vars"
        );
        for cut in 0..used {
            assert_eq!(
                parse_packet(&p[..cut], &LIMITS),
                Ok(None),
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn corrupted_packets_are_errors() {
    for (name, _, _) in CASES {
        let p = packet(name);
        // datasize larger than buffer-size
        assert!(
            parse_packet(
                &p,
                &Limits {
                    max_head: 64,
                    max_body: 0
                }
            )
            .is_err(),
            "{name}"
        );
        // a var length pointing past the vars block
        let mut bad = p.clone();
        bad[4] = 0xff;
        bad[5] = 0xff;
        assert!(parse_packet(&bad, &LIMITS).is_err(), "{name}");
        // datasize cutting a var in half
        let mut short = p.clone();
        let size = u16::from_le_bytes([p[1], p[2]]) - 3;
        short[1..3].copy_from_slice(&size.to_le_bytes());
        assert!(parse_packet(&short, &LIMITS).is_err(), "{name}");
    }
}

#[test]
fn the_server_serves_captured_packets_and_survives_broken_ones() {
    let dir = TempDir::new("uwsgi");
    dir.write("app.py", ECHO_APP);
    let uwsgi = Listener::tcp();
    let port = uwsgi.port();
    let s = Launch::new(dir)
        .args(&["--wsgi-file", "{dir}/app.py"])
        .socket("--socket", &uwsgi)
        .start();
    let send = |bytes: &[u8]| {
        let mut c = connect(port);
        c.write_all(bytes).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        out
    };
    for (name, vars, body) in CASES {
        let p = packet(name);
        let r = parse_response(&send(&p)).unwrap_or_else(|| panic!("{name}: no response"));
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let env: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for (k, v) in *vars {
            assert_eq!(env[*k].as_str(), Some(*v), "{name}: {k}");
        }
        assert_eq!(env["body_len"].as_u64(), Some(*body), "{name}");
        let scheme = if *name == "overrides" {
            "https"
        } else {
            "http"
        };
        assert_eq!(env["wsgi.url_scheme"].as_str(), Some(scheme), "{name}");
        // Every truncation: the server lives. A cut packet is answered 400
        // (nginx would pass it on); a cut body is a client gone: nothing
        // is answered, as for a connection that sent nothing.
        let (_, head_len) = parse_packet(&p, &LIMITS).unwrap().unwrap();
        for cut in (0..p.len()).step_by(37) {
            let out = send(&p[..cut]);
            let status = parse_response(&out).map(|r| r.status);
            assert_eq!(
                status,
                (cut > 0 && cut < head_len).then_some(400),
                "{name} cut at {cut}: answered {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }
    let mut oversized = packet("get_query");
    oversized[1..3].copy_from_slice(&60000u16.to_le_bytes());
    assert_eq!(
        parse_response(&send(&oversized)).map(|r| r.status),
        Some(431)
    );
    s.wait_for_log("invalid uwsgi packet", PATIENCE);
    let r = parse_response(&send(&packet("get_query"))).expect("still serving");
    assert_eq!(r.status, 200);
}
