//! gunicorn's HTTP request corpus, sent to the real server: every valid
//! request must reach the app as gunicorn expects it parsed, every invalid
//! one must be refused (4xx) or closed, never answered 2xx.
//!
//! The corpus comes from gunicorn's sdist on PyPI, fetched and converted by
//! tests/support/gunicorn_corpus.py into tests/.cache (not committed).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use crate::common::*;
use serde_json::Value;

const ECHO_APP: &str = r#"
import json

def application(environ, start_response):
    body = environ["wsgi.input"].read()
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["body"] = body.hex()
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
"#;

/// Cases where rsgi deliberately differs from gunicorn's expectation.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "valid/009",
        "Transfer-Encoding: identity was removed from HTTP/1.1 (RFC 9112 6.1); with Content-Length too, rsgi refuses it (400, RFC 9112 6.3) instead of guessing the framing",
    ),
    (
        "valid/025",
        "Transfer-Encoding: gzip, chunked: a transfer-coding rsgi does not implement gets 501 (RFC 9112 6.1)",
    ),
    ("valid/025_line", "as valid/025"),
    (
        "valid/029",
        "Transfer-Encoding: identity, chunked: identity is not a transfer-coding any more; 501 (RFC 9112 6.1)",
    ),
    ("valid/030", "as valid/029"),
    (
        "valid/099",
        "Content-Length says 17914 but the file carries 8603 body bytes once its escapes are applied; rsgi waits for the whole body and closes when the client half-closes",
    ),
    (
        "invalid/003c",
        "'-bl' is a valid method token (RFC 9110 9.1: method = token; '-' is a tchar); rsgi passes it to the app",
    ),
];

fn corpus() -> Vec<Value> {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = format!("{root}/tests/.cache/gunicorn-corpus.json");
    if !std::path::Path::new(&path).exists() {
        let out = run(
            std::process::Command::new("python3")
                .arg(format!("{root}/tests/support/gunicorn_corpus.py")),
            b"",
            PATIENCE * 4,
        );
        assert!(
            out.status.success(),
            "could not fetch gunicorn's corpus: run python3 tests/support/gunicorn_corpus.py (needs PyPI)"
        );
    }
    let text = std::fs::read_to_string(&path).expect("corpus json");
    serde_json::from_str::<Vec<Value>>(&text).expect("corpus is JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// gunicorn's parser takes HTTP/1.1 requests without Host; RFC 9112 3.2
/// says a server "MUST respond with a 400" to them, and rsgi does. So that
/// each case still tests what it was written for, a Host is added after
/// the request line of each of the first `requests` HTTP/1.1 requests of a
/// case that has none (walking over bodies: a body may look like a request,
/// as in valid/020).
fn with_host(raw: Vec<u8>, requests: usize) -> Vec<u8> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    if find(&raw.to_ascii_lowercase(), b"\nhost:").is_some() {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 32);
    let mut rest = &raw[..];
    for _ in 0..requests {
        let Some(line) = find(rest, b"\r\n") else {
            break;
        };
        out.extend_from_slice(&rest[..line + 2]);
        if rest[..line].ends_with(b" HTTP/1.1") {
            out.extend_from_slice(b"Host: corpus\r\n");
        }
        rest = &rest[line + 2..];
        let head_end = if rest.starts_with(b"\r\n") {
            2
        } else {
            match find(rest, b"\r\n\r\n") {
                Some(end) => end + 4,
                None => break,
            }
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let body = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        // A chunked body ends at its first empty line (no corpus case has
        // trailers or CRLFs in chunk data).
        let body = if head.contains("transfer-encoding: chunked") {
            find(&rest[head_end..], b"\r\n\r\n").map_or(0, |end| end + 4)
        } else {
            body
        };
        let end = (head_end + body).min(rest.len());
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

/// Send `raw`, half-close, and read everything the server answers.
fn exchange(port: u16, raw: &[u8]) -> Vec<u8> {
    let mut c = connect(port);
    let _ = c.write_all(raw);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

/// Split a byte stream of responses (each with Content-Length).
fn responses(mut data: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let total = (end + 4 + len).min(data.len());
        out.extend(parse_response(&data[..total]));
        data = &data[total..];
    }
    out
}

fn check_valid(name: &str, expect: &[Value], got: &[Response]) -> Result<(), String> {
    if got.len() < expect.len() {
        return Err(format!(
            "{} responses for {} requests",
            got.len(),
            expect.len()
        ));
    }
    for (want, resp) in expect.iter().zip(got) {
        if resp.status != 200 {
            return Err(format!("status {}: {}", resp.status, resp.text()));
        }
        let env: Value = serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?;
        let s = |k: &str| env.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let w = |k: &str| want[k].as_str().unwrap_or("").to_string();
        if s("REQUEST_METHOD") != w("method") {
            return Err(format!("method {} != {}", s("REQUEST_METHOD"), w("method")));
        }
        let uri = s("REQUEST_URI");
        let path = uri.split(['?', '#']).next().unwrap_or("");
        if !path.ends_with(&w("path")) || s("QUERY_STRING") != w("query") {
            return Err(format!(
                "uri {uri} (query {}) != path {} query {}",
                s("QUERY_STRING"),
                w("path"),
                w("query")
            ));
        }
        let version = format!("HTTP/{}.{}", want["version"][0], want["version"][1]);
        if s("SERVER_PROTOCOL") != version {
            return Err(format!("protocol {} != {version}", s("SERVER_PROTOCOL")));
        }
        let chunked = want["headers"].as_array().into_iter().flatten().any(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("transfer-encoding"))
        });
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in want["headers"].as_array().into_iter().flatten() {
            let (n, v) = (h[0].as_str().unwrap_or(""), h[1].as_str().unwrap_or(""));
            // rsgi drops names with '_' (spoofing); a chunked body reaches
            // the app decoded, with its own CONTENT_LENGTH and no
            // Transfer-Encoding (frameworks would decode it again).
            let framing = n.eq_ignore_ascii_case("content-length")
                || n.eq_ignore_ascii_case("transfer-encoding");
            if n.contains('_') || (chunked && framing) {
                continue;
            }
            let key = match n.to_ascii_uppercase().as_str() {
                "CONTENT-TYPE" => "CONTENT_TYPE".to_string(),
                "CONTENT-LENGTH" => "CONTENT_LENGTH".to_string(),
                other => format!("HTTP_{}", other.replace('-', "_")),
            };
            headers.entry(key).or_default().push(v.to_string());
        }
        for (key, values) in headers {
            let joined = values.join(",");
            if s(&key) != joined {
                return Err(format!("{key}: {:?} != {joined:?}", s(&key)));
            }
        }
        if unhex(&s("body")) != unhex(&w("body")) {
            return Err(format!("body {} != {}", s("body"), w("body")));
        }
    }
    let _ = name;
    Ok(())
}

#[test]
fn gunicorn_request_corpus() {
    let cases = corpus();
    assert!(cases.len() > 90, "the corpus has {} cases", cases.len());
    let dir = TempDir::new("corpus");
    dir.write("app.py", ECHO_APP);
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py"]);
    let mut failures = Vec::new();
    let (mut valid, mut invalid, mut skipped) = (0, 0, 0);
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        if case["gunicorn_config"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            skipped += 1; // exercises a gunicorn setting rsgi does not have
            continue;
        }
        if DIFFERENCES.iter().any(|(n, _)| *n == name) {
            skipped += 1;
            continue;
        }
        let requests = case["expect"].as_array().map_or(1, Vec::len);
        let raw = with_host(unhex(case["raw"].as_str().unwrap_or("")), requests);
        let answer = exchange(s.port, &raw);
        let got = responses(&answer);
        if let Some(expect) = case["expect"].as_array() {
            valid += 1;
            if let Err(e) = check_valid(name, expect, &got) {
                failures.push(format!("{name}: {e}"));
            }
        } else {
            invalid += 1;
            if let Some(ok) = got.iter().find(|r| (200..300).contains(&r.status)) {
                failures.push(format!(
                    "{name} ({}): answered {} instead of refusing",
                    case["error"], ok.status
                ));
            }
        }
    }
    eprintln!("gunicorn corpus: {valid} valid, {invalid} invalid, {skipped} skipped");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(s.get("/").status, 200, "still serving");
}
