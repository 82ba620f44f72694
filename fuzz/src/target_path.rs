//! `protocol::target`: the request-target split (`parse_target`), the
//! path an app sees and mountpoints are matched against (`request_path`,
//! `normalize_decoded`) and `percent_decode`. Input: a request-target (or
//! a uwsgi PATH_INFO), raw bytes.
//!
//! In process: the split's parts lie where RFC 9112 3.2 puts them, the
//! decoding round-trips, an accepted path is what RFC 3986 5.2.4 (written
//! out literally below, as its five rules) makes of it, with no dot
//! segment or NUL left, and a request line carrying the target
//! (`GET <target> HTTP/1.1`) gives the app that path and query.
//!
//! Against Python: [`compare_with_python`] holds rsgi's PATH_INFO and
//! QUERY_STRING for a target up to `urllib.parse` on the same bytes, as
//! `fuzz/differential/urlsplit.py` reports it. tests/it/fuzz_corpus.rs runs
//! it over the committed corpus (libFuzzer targets stay in process).

use rsgi_core::protocol::HeadKind;
use rsgi_core::protocol::http::{self, HttpError, Limits};
use rsgi_core::protocol::target::{self, Target, TargetError};
use serde_json::Value;

pub fn check(data: &[u8]) {
    for method in [&b"GET"[..], b"OPTIONS"] {
        if let Ok(t) = target::parse_target(method, data) {
            check_split(method, data, &t);
            check_path(&data[t.path.clone()]);
        }
    }
    check_request_line(data);
    check_percent_decode(data);
    check_uwsgi_path(data);
}

/// The target in a request line, as the worker sees it: what
/// `parse_request` accepts, `parse_target` and `request_path` accept, and
/// the head carries their path and query.
fn check_request_line(data: &[u8]) {
    let raw = request_line(data);
    let limits = Limits {
        max_head: raw.len(),
        max_body: 0,
    };
    match http::parse_request(&raw, &limits) {
        Ok(Some((head, _))) => {
            let t = target::parse_target(b"GET", data).expect("a target the parser took");
            let path = target::request_path(&data[t.path.clone()]).expect("a path it took");
            assert_eq!(head.path(), &*path);
            let HeadKind::Http { query, .. } = &head.kind else {
                panic!("an HTTP parse gave a uwsgi head");
            };
            assert_eq!(head.bytes_at(query), &data[t.query]);
        }
        Ok(None) => panic!("a whole request line was taken as partial"),
        Err(HttpError::Target(TargetError::Host)) => {
            // Only an absolute-form target has a host to refuse.
            let t = target::parse_target(b"GET", data).expect("split before the host check");
            assert!(t.authority.is_some());
        }
        Err(HttpError::Target(e)) => {
            let split = target::parse_target(b"GET", data);
            let refused = split
                .and_then(|t| target::request_path(&data[t.path]).map(|_| ()))
                .err();
            assert_eq!(refused, Some(e));
        }
        Err(_) => {}
    }
}

fn request_line(target_bytes: &[u8]) -> Vec<u8> {
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target_bytes);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    raw
}

fn check_split(method: &[u8], data: &[u8], t: &Target) {
    let end = data.iter().position(|&b| b == b'#').unwrap_or(data.len());
    assert!(t.path.start <= t.path.end && t.path.end <= t.query.start);
    assert!(t.query.start <= t.query.end && t.query.end <= end);
    let path = &data[t.path.clone()];
    assert!(!path.contains(&b'?') && !data[t.query.clone()].contains(&b'#'));
    if t.query.is_empty() {
        // No query: the path runs to the end (or the `#`), or a bare `?`
        // ends it.
        assert!(t.path.end == end || (t.path.end + 1 == end && data[t.path.end] == b'?'));
    } else {
        assert_eq!(data[t.path.end], b'?');
        assert_eq!(t.query.end, end);
    }
    match (&t.authority, data.first()) {
        (None, Some(b'/')) => assert_eq!(t.path.start, 0),
        (None, _) => assert!(data == b"*" && method == b"OPTIONS"),
        // RFC 9112 3.2.2: only a target that starts with a scheme is
        // absolute-form.
        (Some(a), _) => {
            let scheme = &data[..a.start];
            assert!(
                scheme.eq_ignore_ascii_case(b"http://") || scheme.eq_ignore_ascii_case(b"https://")
            );
            let host = &data[a.clone()];
            assert!(!host.is_empty() && !host.iter().any(|b| b"@/?#".contains(b)));
            assert_eq!(t.path.start, a.end);
            assert!(path.is_empty() || path.starts_with(b"/"));
        }
    }
}

fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|s| s == b"." || s == b"..")
}

fn check_path(raw: &[u8]) {
    let decoded = target::percent_decode(raw);
    match target::request_path(raw) {
        Ok(path) => {
            assert!(!path.contains(&0) && !has_dot_segment(&path), "{path:?}");
            assert!(path.len() <= raw.len().max(1));
            assert_eq!(target::remove_dot_segments(&path), Ok(None), "idempotent");
            let want = match raw {
                b"" => b"/".to_vec(),
                b"*" => b"*".to_vec(),
                _ => rfc3986_remove_dot_segments(&decoded),
            };
            assert_eq!(*path, want, "RFC 3986 5.2.4 of {decoded:?}");
        }
        Err(TargetError::Nul) => assert!(decoded.contains(&0)),
        Err(TargetError::AboveRoot | TargetError::DotDotAfterEmpty) => {
            assert!(!decoded.contains(&0));
            assert!(decoded.split(|&b| b == b'/').any(|s| s == b".."));
        }
        Err(e) => panic!("request_path refused {raw:?} with {e:?}"),
    }
}

/// Every byte written as `%XX` decodes back to itself; a decode never
/// grows, and copies only when there is a `%`.
fn check_percent_decode(data: &[u8]) {
    let decoded = target::percent_decode(data);
    assert!(decoded.len() <= data.len());
    assert_eq!(
        matches!(decoded, std::borrow::Cow::Borrowed(_)),
        !data.contains(&b'%')
    );
    let mut encoded = Vec::with_capacity(data.len() * 3);
    for (i, b) in data.iter().enumerate() {
        let hex = if i % 2 == 0 {
            format!("%{b:02X}")
        } else {
            format!("%{b:02x}")
        };
        encoded.extend_from_slice(hex.as_bytes());
    }
    assert_eq!(*target::percent_decode(&encoded), *data);
}

/// A uwsgi PATH_INFO (decoded by nginx already): the same rules, no decode.
fn check_uwsgi_path(data: &[u8]) {
    match target::normalize_decoded(data) {
        Err(TargetError::Nul) => assert!(data.contains(&0)),
        Err(TargetError::AboveRoot | TargetError::DotDotAfterEmpty) => {
            assert!(data.starts_with(b"/") && !data.contains(&0));
        }
        Err(e) => panic!("normalize_decoded refused {data:?} with {e:?}"),
        Ok(None) => {
            assert!(!data.contains(&0));
            assert!(!data.starts_with(b"/") || !has_dot_segment(data));
        }
        Ok(Some(path)) => {
            assert!(data.starts_with(b"/"));
            assert_eq!(path, rfc3986_remove_dot_segments(data));
        }
    }
}

/// RFC 3986 5.2.4, rule by rule, on a byte buffer (the RFC's own
/// formulation, unlike rsgi's segment stack).
pub fn rfc3986_remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut input = path.to_vec();
    let mut output: Vec<u8> = Vec::with_capacity(path.len());
    let pop = |output: &mut Vec<u8>| {
        let last = output.iter().rposition(|&b| b == b'/').unwrap_or(0);
        output.truncate(last);
    };
    while !input.is_empty() {
        if input.starts_with(b"../") {
            input.drain(..3); // A
        } else if input.starts_with(b"./") {
            input.drain(..2); // A
        } else if input.starts_with(b"/./") {
            input.drain(..2); // B
        } else if input == b"/." {
            input = b"/".to_vec(); // B
        } else if input.starts_with(b"/../") {
            input.drain(..3); // C
            pop(&mut output);
        } else if input == b"/.." {
            input = b"/".to_vec(); // C
            pop(&mut output);
        } else if input == b"." || input == b".." {
            input.clear(); // D
        } else {
            // E: the first segment, with its leading "/" if any.
            let from = usize::from(input[0] == b'/');
            let end = input[from..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(input.len(), |p| from + p);
            output.extend(input.drain(..end));
        }
    }
    output
}

/// How one target compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// Both took it and agree on authority, path, query and PATH_INFO.
    Same,
    /// rsgi refused it for a reason Python's reading confirms.
    ExpectedRefusal(TargetError),
    /// The HTTP parser refuses the request line before the target rules
    /// apply (bytes httparse does not take in a target): not compared.
    NotATarget,
}

fn hex(value: &Value, key: &str) -> Result<Vec<u8>, String> {
    let s = value[key]
        .as_str()
        .ok_or_else(|| format!("python gave no {key}: {value}"))?;
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Compare rsgi's reading of `target` (as `GET <target> HTTP/1.1`) with
/// `python`, one line of `fuzz/differential/urlsplit.py`'s output.
///
/// The differences that are expected, and nothing else:
/// - rsgi refuses a target that is not origin-form or an `http(s)://`
///   URL with an authority (RFC 9112 3.2: authority-form is for CONNECT;
///   other schemes are not ours to serve); urlsplit reads any URL.
/// - rsgi refuses an absolute-form target with userinfo (RFC 9110 4.2.4)
///   or an empty host (RFC 9110 4.2.1); urlsplit splits them.
/// - Where urlsplit raises ValueError (a malformed bracketed host), rsgi
///   refuses the request too.
/// - rsgi refuses an absolute-form target whose host is not a valid
///   `uri-host [":" port]` (RFC 9112 3.2.2: it replaces Host, whose rule
///   it then follows); urlsplit checks only a bracketed host, so the
///   script checks every host against RFC 3986 3.2.2 itself. urlsplit
///   takes an IPvFuture's `v` in lower case only; rsgi in either case
///   (RFC 5234: ABNF strings are case-insensitive).
/// - rsgi refuses a path whose decoding holds a NUL, or where a `..`
///   climbs above the root or follows an empty segment: RFC 3986 5.2.4
///   picks an answer there that nginx does not (see `protocol::target`).
///   Python reports the first of these it meets; rsgi must refuse with
///   exactly that one.
/// - urlsplit does not remove dot segments: the script applies RFC 3986
///   5.2.4 (its own code) to `unquote_to_bytes(path)`, the order nginx
///   uses, and an empty path is `/` (RFC 9110 4.2.3).
/// - An origin-form target is handed to urlsplit behind `http://h`, so
///   that `//x` stays a path (RFC 9112 3.2.1: origin-form is an
///   absolute-path) instead of a network-path reference.
pub fn compare_with_python(target_bytes: &[u8], python: &Value) -> Result<Compared, String> {
    let raw = request_line(target_bytes);
    let limits = Limits {
        max_head: raw.len(),
        max_body: 0,
    };
    let problem = python["problem"].as_str();
    let python_error = python["error"].as_str();
    let (head, _) = match http::parse_request(&raw, &limits) {
        // Where urlsplit raises, rsgi must refuse too, for any reason.
        Err(HttpError::Target(e)) if python_error.is_some() => {
            return Ok(Compared::ExpectedRefusal(e));
        }
        Err(HttpError::Target(e)) => {
            let confirmed = match e {
                TargetError::Form => {
                    !matches!(python["scheme"].as_str(), Some("http" | "https"))
                        || python["has_authority"] != Value::Bool(true)
                }
                TargetError::EmptyHost => hex(python, "netloc")?.is_empty(),
                TargetError::Userinfo => hex(python, "netloc")?.contains(&b'@'),
                TargetError::Host => python["host_valid"] == Value::Bool(false),
                TargetError::Nul => problem == Some("nul"),
                TargetError::AboveRoot => problem == Some("above_root"),
                TargetError::DotDotAfterEmpty => problem == Some("dotdot_after_empty"),
            };
            return if confirmed {
                Ok(Compared::ExpectedRefusal(e))
            } else {
                Err(format!("rsgi refused it ({e:?}); python read {python}"))
            };
        }
        Err(_) => return Ok(Compared::NotATarget),
        Ok(None) => return Err("a whole request line was taken as partial".into()),
        Ok(Some(parsed)) => parsed,
    };
    let split = target::parse_target(b"GET", target_bytes).map_err(|e| format!("{e:?}"))?;
    let authority = split.authority.clone().map(|a| target_bytes[a].to_vec());
    if let Some(e) = python_error {
        if authority.as_ref().is_some_and(|a| a.starts_with(b"[V")) {
            // urlsplit takes IPvFuture's "v" in lower case only; RFC 5234
            // makes ABNF strings case-insensitive.
            return Ok(Compared::Same);
        }
        return Err(format!("rsgi accepted it; python raised {e}"));
    }
    if let Some(p) = problem {
        return Err(format!("rsgi accepted it; python found {p}"));
    }
    if split.authority.is_some() && python["host_valid"] != Value::Bool(true) {
        return Err(format!(
            "rsgi took the host; python finds it invalid: {python}"
        ));
    }
    let scheme = python["scheme"].as_str().unwrap_or_default();
    let python_authority = match (scheme, python["has_authority"].as_bool()) {
        ("http" | "https", Some(true)) if !target_bytes.starts_with(b"/") => {
            Some(hex(python, "netloc")?)
        }
        _ => None,
    };
    let HeadKind::Http { query, .. } = &head.kind else {
        return Err("an HTTP parse gave a uwsgi head".into());
    };
    let ours = (
        authority,
        target_bytes[split.path].to_vec(),
        head.bytes_at(query).to_vec(),
        head.path().to_vec(),
    );
    let theirs = (
        python_authority,
        hex(python, "path")?,
        hex(python, "query")?,
        hex(python, "normalized")?,
    );
    if ours == theirs {
        Ok(Compared::Same)
    } else {
        Err(format!(
            "(authority, path, query, PATH_INFO): rsgi {ours:?}, python {theirs:?}"
        ))
    }
}
