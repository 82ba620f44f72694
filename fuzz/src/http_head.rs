//! `protocol::http::parse_request`, the HTTP/1.1 head parser the worker
//! calls after every read (`worker::conn`). Input: the bytes a client
//! sent, as they sit in the connection's buffer.
//!
//! On success: every span lies inside the head, the head is exactly the
//! bytes consumed, Content-Length and Transfer-Encoding never both, one
//! body length that every Content-Length agrees on, one Host on HTTP/1.1,
//! a path without dot segments or NUL, no CR/LF/NUL in a header value,
//! and memory bounded by buffer-size. The answer does not depend on how
//! the bytes trickled in, nor on the bytes after the head.

use rsgi_core::protocol::http::{self, HttpError, Limits, MAX_HEADERS};
use rsgi_core::protocol::{BodyFraming, HeadKind, RequestHead, RequestPath, Span};

/// buffer-size and limit-post at their defaults.
pub const LIMITS: Limits = Limits {
    max_head: 4096,
    max_body: 100 << 20,
};

type Parsed = Result<Option<(RequestHead, usize)>, HttpError>;

pub fn check(data: &[u8]) {
    let parsed = http::parse_request(data, &LIMITS);
    match &parsed {
        Err(e) => {
            assert!(
                [400, 413, 414, 431, 501, 505].contains(&e.status()),
                "{e:?}"
            );
            assert!(!e.to_string().is_empty());
        }
        // The worker waits for more only while the head may still fit.
        Ok(None) => assert!(
            data.len() <= LIMITS.max_head,
            "a partial head past buffer-size"
        ),
        Ok(Some((head, len))) => {
            check_head(data, head, *len);
            same_answer_for_any_arrival(data, &parsed, *len);
            limits_are_exact(data, head, *len);
        }
    }
}

fn in_head(head: &RequestHead, span: &Span) -> bool {
    span.start <= span.end && span.end as usize <= head.buf.len()
}

fn within(outer: &Span, inner: &Span) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn check_head(data: &[u8], head: &RequestHead, len: usize) {
    assert!(len <= data.len() && len <= LIMITS.max_head);
    assert_eq!(head.buf, data[..len], "the head is the bytes consumed");
    assert!(head.buf.ends_with(b"\n"), "a head ends with its empty line");
    let HeadKind::Http {
        method,
        target,
        query,
        authority,
        minor_version,
        headers,
    } = &head.kind
    else {
        panic!("an HTTP parse gave a uwsgi head");
    };
    for span in [method, target, query].into_iter().chain(authority) {
        assert!(in_head(head, span), "span {span:?} outside the head");
    }
    assert!(within(target, query), "the query lies inside the target");
    if let Some(a) = authority {
        assert!(within(target, a), "the authority lies inside the target");
        assert!(a.end <= query.start || query.is_empty());
        // RFC 9112 3.2.2: it stands in for Host, and follows its rule.
        let host = head.bytes_at(a);
        assert!(!host.is_empty(), "an empty host");
        assert!(
            host.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b)),
            "the host {host:?} could not be a Host header"
        );
    }
    assert!(is_token(head.bytes_at(method)), "method is a token");
    assert!(*minor_version <= 1);
    assert!(headers.len() <= MAX_HEADERS);

    let (mut lengths, mut codings, mut hosts, mut close) = (Vec::new(), Vec::new(), 0, false);
    for (name, value) in headers {
        assert!(in_head(head, name) && in_head(head, value));
        let (name, value) = (head.bytes_at(name), head.bytes_at(value));
        assert!(is_token(name), "header name {name:?} is a token");
        assert!(
            !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "a header value holds CR, LF or NUL: {value:?}"
        );
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths.push(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.extend(
                value
                    .split(|&b| b == b',')
                    .map(trim)
                    .filter(|c| !c.is_empty()),
            );
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= value
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"close"));
        }
    }
    let has_te = headers
        .iter()
        .any(|(n, _)| head.bytes_at(n).eq_ignore_ascii_case(b"transfer-encoding"));
    // RFC 9112 6.3: CL with TE is how requests are smuggled.
    assert!(
        lengths.is_empty() || !has_te,
        "Content-Length and Transfer-Encoding both"
    );
    let as_number = |v: &[u8]| -> Option<u64> {
        let v = trim(v);
        (!v.is_empty() && v.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(v).ok()?.parse().ok())
            .flatten()
    };
    match head.body {
        BodyFraming::Length(n) => {
            assert!(n > 0 && n <= LIMITS.max_body);
            assert!(!lengths.is_empty());
            for v in &lengths {
                assert_eq!(as_number(v), Some(n), "every Content-Length says {n}");
            }
        }
        BodyFraming::Chunked => {
            assert_eq!(*minor_version, 1, "chunked on HTTP/1.0");
            assert!(codings.len() == 1 && codings[0].eq_ignore_ascii_case(b"chunked"));
        }
        BodyFraming::Empty => {
            assert!(!has_te);
            for v in &lengths {
                assert_eq!(as_number(v), Some(0));
            }
        }
    }
    // RFC 9112 3.2: one Host on HTTP/1.1, at most one on HTTP/1.0.
    assert!(hosts <= 1 && (hosts == 1 || *minor_version == 0));
    assert!(!(close && head.keep_alive), "Connection: close kept alive");
    assert!(!head.expect_continue || *minor_version == 1);

    if let RequestPath::Raw(span) = &head.path {
        assert!(within(target, span), "a raw path lies inside the target");
    }
    let path = head.path();
    assert!(
        path.starts_with(b"/") || path == b"*",
        "path {path:?} is absolute"
    );
    assert!(!path.contains(&0), "a NUL in the path");
    assert!(
        !path.split(|&b| b == b'/').any(|s| s == b"." || s == b".."),
        "dot segments left in {path:?}"
    );
}

/// The worker parses the buffer again after each read: a shorter prefix
/// must say "need more", never answer differently, and what follows the
/// head (a body, a pipelined request) must not change it.
fn same_answer_for_any_arrival(data: &[u8], parsed: &Parsed, len: usize) {
    assert_eq!(&http::parse_request(&data[..len], &LIMITS), parsed);
    for cut in [len / 2, len - 1] {
        assert_eq!(
            http::parse_request(&data[..cut], &LIMITS),
            Ok(None),
            "the first {cut} of {len} bytes"
        );
    }
}

/// buffer-size bounds the head to the byte, limit-post the body.
fn limits_are_exact(data: &[u8], head: &RequestHead, len: usize) {
    let at = |max_head, max_body| http::parse_request(data, &Limits { max_head, max_body });
    assert!(matches!(at(len, LIMITS.max_body), Ok(Some(_))));
    let status = at(len - 1, LIMITS.max_body)
        .map(|_| ())
        .map_err(|e| e.status());
    assert!(matches!(status, Err(414 | 431)), "{status:?}");
    if let BodyFraming::Length(n) = head.body {
        assert!(matches!(at(len, n), Ok(Some(_))));
        if n > 1 {
            let status = at(len, n - 1).map(|_| ()).map_err(|e| e.status());
            assert_eq!(status, Err(413));
        }
    }
}
