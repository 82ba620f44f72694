//! HTTP/1.1 request heads (RFC 9112), parsed with `httparse` and then held
//! to the rules that keep a server safe behind proxies: one unambiguous
//! body length, one valid Host, no obsolete line folding, bounded sizes.
//!
//! What httparse already enforces (each pinned by a test below): a method
//! that is a token, single spaces in the request line, no bare CR (RFC 9112
//! 2.2), header names that are tokens with no whitespace before the colon
//! (RFC 9112 5.1: "MUST respond with a 400"), no whitespace-led line after
//! the request line (RFC 9112 2.2), no obs-fold (RFC 9112 5.2: reject with
//! 400), no CR, LF, NUL or other control in a value (RFC 9110 5.5).

use super::encode::{Encoder, Output, Request, Wire};
use super::head::{BodyFraming, HeadKind, RequestHead, RequestPath, Span};
use super::header_rules::HeaderRules;
use super::response::ResponseHead;
use super::target::{self, TargetError};

/// Limits from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `buffer-size`: the largest head accepted.
    pub max_head: usize,
    /// `limit-post`: the largest body accepted (0: no limit).
    pub max_body: u64,
}

/// Headers per request at most (431 beyond), as gunicorn's
/// `limit_request_fields`.
pub const MAX_HEADERS: usize = 100;

/// Why a head was refused; `status()` is the answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("the request head is larger than buffer-size ({0} bytes)")]
    HeadTooLarge(usize),
    #[error("the request line is longer than buffer-size ({0} bytes)")]
    TargetTooLong(usize),
    #[error("the request has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("invalid request-target: {0}")]
    Target(#[from] TargetError),
    #[error("the connection closed in the middle of a request head")]
    Incomplete,
    #[error("HTTP version not supported")]
    Version,
    #[error("unsupported transfer-coding {0:?}")]
    TransferCoding(String),
    #[error("the request body ({length} bytes) is larger than limit-post ({limit} bytes)")]
    BodyTooLarge { length: u64, limit: u64 },
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge(_) | HttpError::TooManyHeaders => 431,
            // RFC 9112 3: a server that receives a request-target longer
            // than it wishes to parse "MUST respond with a 414".
            HttpError::TargetTooLong(_) => 414,
            HttpError::Malformed(_) | HttpError::Target(_) | HttpError::Incomplete => 400,
            HttpError::Version => 505,
            HttpError::TransferCoding(_) => 501,
            HttpError::BodyTooLarge { .. } => 413,
        }
    }
}

fn span(base: *const u8, part: &[u8]) -> Span {
    // httparse hands out slices of the buffer it parsed; their offset from
    // its start is the span.
    let start = (part.as_ptr() as usize).wrapping_sub(base as usize) as u32;
    start..start + part.len() as u32
}

fn sub(span: &Span, range: std::ops::Range<usize>) -> Span {
    span.start + range.start as u32..span.start + range.end as u32
}

/// Parse one request head from the start of `buf`. `Ok(None)`: need more
/// bytes. On success, also returns how many bytes the head took.
///
/// httparse skips empty lines before the request line (RFC 9112 2.2: a
/// server "SHOULD ignore at least one empty line (CRLF)"); they count
/// towards buffer-size.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| parse_error(e, buf))?;
    let httparse::Status::Complete(len) = status else {
        if buf.len() > limits.max_head {
            return Err(too_large(buf, limits.max_head));
        }
        return Ok(None);
    };
    if len > limits.max_head {
        return Err(too_large(buf, limits.max_head));
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    let target = target::parse_target(method.as_bytes(), path.as_bytes())?;
    // RFC 9112 3.2.2: an absolute-form target's authority replaces the
    // Host header, so it is held to Host's rule (3.2: an invalid one is a
    // 400); else the app would see a SERVER_NAME no Host could carry.
    if let Some(authority) = &target.authority
        && !valid_host(&path.as_bytes()[authority.clone()])
    {
        return Err(TargetError::Host.into());
    }
    let base = buf.as_ptr();
    let target_span = span(base, path.as_bytes());
    let raw_path = &path.as_bytes()[target.path.clone()];
    let request_path = match target::request_path(raw_path)? {
        std::borrow::Cow::Borrowed(_) if !raw_path.is_empty() => {
            RequestPath::Raw(sub(&target_span, target.path.clone()))
        }
        other => RequestPath::Owned(other.into_owned().into_boxed_slice()),
    };
    let mut spans = Vec::with_capacity(req.headers.len());
    let mut framing = Framing::default();
    for h in req.headers.iter() {
        framing.see(h.name, h.value, minor)?;
        spans.push((span(base, h.name.as_bytes()), span(base, h.value)));
    }
    framing.check_host(minor)?;
    let body = framing.body(limits)?;
    let head = RequestHead {
        buf: buf[..len].to_vec(),
        kind: HeadKind::Http {
            method: span(base, method.as_bytes()),
            query: sub(&target_span, target.query),
            authority: target.authority.map(|a| sub(&target_span, a)),
            target: target_span,
            minor_version: minor,
            headers: spans,
        },
        path: request_path,
        body,
        keep_alive: framing.keep_alive(minor),
        // RFC 9110 10.1.1: "A server that receives a 100-continue
        // expectation in an HTTP/1.0 request MUST ignore that expectation."
        expect_continue: framing.expect_continue && minor == 1,
    };
    Ok(Some((head, len)))
}

fn parse_error(e: httparse::Error, buf: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::Version => version_error(buf),
        httparse::Error::HeaderName => HttpError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HttpError::Malformed("invalid header value"),
        httparse::Error::Token => HttpError::Malformed("invalid method or request-target"),
        _ => HttpError::Malformed("invalid request line"),
    }
}

/// 505 is for an HTTP version we do not speak (`HTTP/2.0`); a version
/// field that is not `HTTP/` and a digit is a malformed request line (the
/// name is case-sensitive: RFC 9112 2.3). httparse takes only 1.0 and 1.1,
/// so `HTTP/1.2`, which RFC 9110 2.5 says a server "SHOULD" serve as 1.1,
/// gets a 505 too: no client sends it.
fn version_error(buf: &[u8]) -> HttpError {
    let line = first_line(buf);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, ..] if major.is_ascii_digit() => HttpError::Version,
        _ => HttpError::Malformed("invalid HTTP version"),
    }
}

/// The request line (without empty lines before it or its line end).
fn first_line(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end])
}

/// A head past buffer-size: 414 when the request line alone does not fit
/// (nginx does the same), 431 when the header fields are what is too big.
fn too_large(buf: &[u8], max_head: usize) -> HttpError {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line_fits = buf[start..].iter().take(max_head).any(|&b| b == b'\n');
    if line_fits {
        HttpError::HeadTooLarge(max_head)
    } else {
        HttpError::TargetTooLong(max_head)
    }
}

/// RFC 9110 7.2: Host = uri-host [ ":" port ], with uri-host an
/// IP-literal in brackets, or a reg-name / IPv4 address (RFC 3986 3.2.2:
/// unreserved, pct-encoded and sub-delims characters). An empty value is
/// valid (RFC 9112 3.2, for targets without an authority).
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        if !valid_ip_literal(&value[1..close]) {
            return false;
        }
        match &value[close + 1..] {
            [] => (&value[..0], None),
            [b':', port @ ..] => (&value[..0], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        }
    };
    host.iter().all(|&b| reg_name_char(b)) && port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

/// RFC 3986 3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]", with
/// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ). A
/// zone ID (RFC 6874) is not part of a URI's host here.
fn valid_ip_literal(literal: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = literal {
        let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        return match &rest[digits..] {
            [b'.', tail @ ..] => {
                digits > 0
                    && !tail.is_empty()
                    && tail
                        .iter()
                        .all(|&b| b == b':' || (b != b'%' && reg_name_char(b)))
            }
            _ => false,
        };
    }
    std::str::from_utf8(literal).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// RFC 3986: unreserved / pct-encoded / sub-delims.
fn reg_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

/// What the headers say about the body, the Host and the connection.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// `chunked` was seen (as the last coding so far: anything after it
    /// is refused at once).
    chunked: bool,
    /// The first transfer-coding other than chunked, if any.
    unknown_coding: Option<String>,
    hosts: usize,
    close: bool,
    keep_alive_token: bool,
    expect_continue: bool,
}

impl Framing {
    fn see(&mut self, name: &str, value: &[u8], minor: u8) -> Result<(), HttpError> {
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            // RFC 9112 6.3: "If a message is received without
            // Transfer-Encoding and with an invalid Content-Length header
            // field, then the message framing is invalid" — differing
            // repeated values are invalid too. Identical repeats are kept,
            // as RFC 9110 8.6 allows: every hop agrees on them.
            if self.content_length.is_some_and(|prev| prev != n) {
                return Err(HttpError::Malformed("conflicting Content-Length headers"));
            }
            self.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if minor == 0 {
                // RFC 9112 6.1: a server that receives Transfer-Encoding in
                // an HTTP/1.0 message "MUST treat the message as if the
                // framing is faulty".
                return Err(HttpError::Malformed(
                    "Transfer-Encoding in an HTTP/1.0 request",
                ));
            }
            self.transfer_encoding = true;
            for coding in value.split(|&b| b == b',').map(trim) {
                if coding.is_empty() {
                    continue;
                }
                if self.chunked {
                    // RFC 9112 7: chunked is applied once, and last.
                    return Err(HttpError::Malformed(
                        "chunked is not the final transfer-coding",
                    ));
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.chunked = true;
                } else if self.unknown_coding.is_none() {
                    self.unknown_coding = Some(String::from_utf8_lossy(coding).into_owned());
                }
            }
        } else if name.eq_ignore_ascii_case("host") {
            self.hosts += 1;
            if !valid_host(value) {
                return Err(HttpError::Malformed("invalid Host header"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive_token = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect")
            && trim(value).eq_ignore_ascii_case(b"100-continue")
        {
            self.expect_continue = true;
        }
        Ok(())
    }

    /// RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request)
    /// status code to any HTTP/1.1 request message that lacks a Host
    /// header field and to any request message that contains more than one
    /// Host header field line or a Host header field with an invalid field
    /// value."
    fn check_host(&self, minor: u8) -> Result<(), HttpError> {
        match self.hosts {
            0 if minor == 1 => Err(HttpError::Malformed(
                "an HTTP/1.1 request without a Host header",
            )),
            0 | 1 => Ok(()),
            _ => Err(HttpError::Malformed("more than one Host header")),
        }
    }

    fn body(&self, limits: &Limits) -> Result<BodyFraming, HttpError> {
        if self.transfer_encoding {
            // RFC 9112 6.3: "If a message is received with both a
            // Transfer-Encoding and a Content-Length header field ... a
            // server MAY reject the request" — we do: it is how requests
            // are smuggled past proxies.
            if self.content_length.is_some() {
                return Err(HttpError::Malformed(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            // RFC 9112 6.3: if "the chunked transfer coding is not the
            // final encoding, ... the server MUST respond with the 400 (Bad
            // Request) status code and then close the connection."
            if !self.chunked {
                return Err(HttpError::Malformed(
                    "chunked is not the final transfer-coding",
                ));
            }
            // RFC 9112 6.1: a coding the server does not understand
            // "SHOULD" get a 501; the framing itself was clear.
            if let Some(coding) = &self.unknown_coding {
                return Err(HttpError::TransferCoding(coding.clone()));
            }
            return Ok(BodyFraming::Chunked);
        }
        match self.content_length {
            None | Some(0) => Ok(BodyFraming::Empty),
            Some(n) if limits.max_body > 0 && n > limits.max_body => Err(HttpError::BodyTooLarge {
                length: n,
                limit: limits.max_body,
            }),
            Some(n) => Ok(BodyFraming::Length(n)),
        }
    }

    fn keep_alive(&self, minor: u8) -> bool {
        // RFC 9112 9.3: 1.1 persists unless "close"; 1.0 only with keep-alive.
        if minor == 0 {
            self.keep_alive_token && !self.close
        } else {
            !self.close
        }
    }
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

/// RFC 9110 8.6: Content-Length = 1*DIGIT (a list of identical values is
/// tolerated by the RFC, but we keep it strict: digits only).
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    let v = trim(value);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::Malformed("invalid Content-Length"));
    }
    let mut n: u64 = 0;
    for &d in v {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(HttpError::Malformed("Content-Length overflows"))?;
    }
    Ok(n)
}

/// The answer to a request refused before the app saw it: a complete
/// response that closes the connection (the framing of anything after the
/// refused head is unknown), with the Date an origin server "MUST" send
/// with a 4xx (RFC 9110 6.6.1). `head`: the request was a HEAD, whose
/// answer "MUST NOT" carry content (RFC 9110 9.3.2). It is encoded as
/// every response is, so `rules` (add-header) apply to it too.
pub fn error_answer(status: u16, head: bool, rules: &HeaderRules) -> Vec<u8> {
    let reason = super::response::reason_phrase(status);
    let text = format!("{status} {reason}\n");
    let length = text.len().to_string();
    let status_line = format!("{status} {reason}");
    let mut out = Output::with_buffer(Vec::with_capacity(200));
    // The server's own status and headers always pass the checks; were
    // one refused, the bare status line still answers.
    let response = ResponseHead::new(status_line.as_bytes(), 2).and_then(|mut h| {
        h.push_header(b"Content-Type", b"text/plain")?;
        h.push_header(b"Content-Length", length.as_bytes())?;
        Ok(h)
    });
    let Ok(response) = response else {
        return format!("HTTP/1.1 {status_line}\r\nConnection: close\r\n\r\n").into_bytes();
    };
    let req = Request {
        wire: Wire::Http11,
        head,
        keep_alive: false,
    };
    let mut enc = Encoder::start(&req, &response, rules, &mut out);
    enc.body(text.as_bytes(), &mut out);
    let _complete = enc.finish(&mut out);
    out.pending().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 4096,
        max_body: 0,
    };

    fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, HttpError> {
        parse_request(raw.as_bytes(), &LIMITS)
    }

    fn ok(raw: &str) -> RequestHead {
        parse(raw).expect("valid").expect("complete").0
    }

    fn status(raw: &str) -> u16 {
        parse(raw).expect_err("invalid").status()
    }

    #[test]
    fn parses_a_simple_get() {
        let h = ok("GET /a%20b?b=1 HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n");
        let HeadKind::Http {
            method,
            target,
            query,
            authority,
            minor_version,
            headers,
        } = &h.kind
        else {
            panic!()
        };
        assert_eq!(h.bytes_at(method), b"GET");
        assert_eq!(h.bytes_at(target), b"/a%20b?b=1");
        assert_eq!(h.bytes_at(query), b"b=1");
        assert_eq!(h.path(), b"/a b");
        assert_eq!(*authority, None);
        assert_eq!(*minor_version, 1);
        assert_eq!(headers.len(), 2);
        assert_eq!(h.bytes_at(&headers[1].0), b"X-Y");
        assert_eq!(h.bytes_at(&headers[1].1), b"z");
        assert_eq!(h.body, BodyFraming::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn the_path_is_decoded_and_normalized_once_and_the_query_kept_apart() {
        let cases = [
            (
                "/public?next=http://x/admin/secret",
                "/public",
                "next=http://x/admin/secret",
            ),
            ("/admin/../public", "/public", ""),
            ("/a/%2e%2e/admin?x=/../y", "/admin", "x=/../y"),
            ("http://h/p/./q?r", "/p/q", "r"),
            ("http://h", "/", ""),
            ("/plain", "/plain", ""),
        ];
        for (target, path, q) in cases {
            let h = ok(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
            let HeadKind::Http { query, .. } = &h.kind else {
                panic!()
            };
            assert_eq!(h.path(), path.as_bytes(), "{target}");
            assert_eq!(h.bytes_at(query), q.as_bytes(), "{target}");
        }
        // No copy when the target's path is the path already.
        assert!(matches!(
            ok("GET /plain?q HTTP/1.1\r\nHost: x\r\n\r\n").path,
            RequestPath::Raw(_)
        ));
        let h = ok("GET http://example.com:8080/x HTTP/1.1\r\nHost: other\r\n\r\n");
        let HeadKind::Http { authority, .. } = &h.kind else {
            panic!()
        };
        assert_eq!(
            authority.as_ref().map(|a| h.bytes_at(a)),
            Some(&b"example.com:8080"[..])
        );
    }

    #[test]
    fn reports_incomplete_heads_and_consumed_bytes() {
        assert!(parse("GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n\r").unwrap().is_none());
        let raw = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
        let (_, used) = parse(raw).unwrap().unwrap();
        assert_eq!(used, 27);
        let (h, used) = parse("\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(used, 30);
        let HeadKind::Http { method, .. } = &h.kind else {
            panic!()
        };
        assert_eq!(h.bytes_at(method), b"GET");
    }

    #[test]
    fn body_framing() {
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").body,
            BodyFraming::Length(5)
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").body,
            BodyFraming::Chunked
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n").body,
            BodyFraming::Chunked
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n")
                .body,
            BodyFraming::Length(3)
        );
    }

    #[test]
    fn connection_persistence() {
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Close\r\n\r\n").keep_alive);
        assert!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
        assert!(
            !ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn hosts() {
        for host in [
            "x",
            "",
            "a.b:80",
            "[::1]",
            "[::1]:8080",
            "127.0.0.1:1",
            "xn--p-1ga.de",
            "a%41",
            "[::ffff:127.0.0.1]:80",
            "[v1.fe:80]",
            "[2001:db8::1]",
        ] {
            ok(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        }
        // The bracketed ones: an IP-literal holds an IPv6 address or an
        // IPvFuture, nothing else (found by the fuzz differential against
        // Python's urllib.parse, which refuses them too).
        for host in [
            "a b",
            "a/b",
            "a@b",
            "a:x",
            "[::1",
            "[::1]x",
            "a\\b",
            "[]",
            "[j]",
            "[.]",
            "[:]",
            "[:1]:8080",
            "[1.2.3.4]",
            "[fe80::1%25eth0]",
            "[v1]",
            "[v.x]",
            "[vx.y]",
        ] {
            assert_eq!(
                status(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")),
                400,
                "{host}"
            );
        }
        // HTTP/1.0 may leave Host out; nobody may send two.
        ok("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    }

    /// Each row: the request, the status, and the rule it breaks.
    #[test]
    fn refuses_what_could_smuggle_or_split() {
        let cases = [
            // RFC 9112 6.3: CL with TE
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                400,
            ),
            // RFC 9112 6.3: invalid or conflicting CL
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400,
            ),
            // RFC 9112 6.3: chunked not final (MUST 400)
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            // RFC 9112 6.1: understood framing, a coding we lack (SHOULD 501)
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                501,
            ),
            // RFC 9112 6.1: TE in HTTP/1.0 is faulty framing
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            // RFC 9112 5.1/5.2: whitespace before the colon, obs-fold
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX\t: a\r\n\r\n", 400),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
                400,
            ),
            ("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
            // RFC 9110 5.1/5.5: field names are tokens; values hold no CTL
            ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n", 400),
            // RFC 9112 2.2: bare CR
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
            ("\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            // RFC 9112 3: request line syntax
            ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /\t HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
            ("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET / http/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            ("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
            // RFC 9112 3.2: target forms
            ("GET foo HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("PUT s://]ufd/: HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET http://u@h/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            // RFC 9112 3.2.2: the authority stands in for Host, and is
            // held to its rule (found by fuzz/differential/urlsplit.py:
            // Python refuses the first two as invalid IPv6 URLs).
            ("GET http://[x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET http://a]b/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET http://a<b>/p HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET http://h:x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            // dot segments nginx and RFC 3986 resolve differently
            ("GET /admin//../x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /../x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), want, "{raw:?}");
        }
        ok("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        ok("GET http://[::1]:8080/x HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn limits() {
        let small = Limits {
            max_head: 32,
            max_body: 10,
        };
        let status_of = |raw: &str| parse_request(raw.as_bytes(), &small).unwrap_err().status();
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(64));
        assert_eq!(status_of(&long), 431);
        assert_eq!(status_of(&long[..40]), 431, "partial head");
        let target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(64));
        assert_eq!(status_of(&target), 414);
        assert_eq!(status_of(&target[..40]), 414, "partial request line");
        let body_limit = Limits {
            max_head: 4096,
            max_body: 10,
        };
        let big = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(
            parse_request(big.as_bytes(), &body_limit)
                .unwrap_err()
                .status(),
            413
        );
        let fits = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
        assert!(
            parse_request(fits.as_bytes(), &body_limit)
                .unwrap()
                .is_some()
        );
        let many: String = (0..120).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        // exactly buffer-size is accepted
        let exact = format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(32 - 18));
        assert_eq!(exact.len(), 32);
        assert!(parse_request(exact.as_bytes(), &small).unwrap().is_some());
    }

    #[test]
    fn error_answers_are_complete_responses_that_close() {
        let rules = HeaderRules::new(
            &[super::super::header_rules::ExtraHeader::parse("X-Frame-Options: DENY").unwrap()],
            &[],
        );
        let answer = String::from_utf8(error_answer(414, false, &rules)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with(
                "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\n\
                 X-Frame-Options: DENY\r\nServer: rsgi\r\nDate: "
            ),
            "{head}"
        );
        assert!(
            head.ends_with("GMT\r\nContent-Length: 17\r\nConnection: close"),
            "{head}"
        );
        assert_eq!(body, "414 URI Too Long\n");
        // The same head, no content, for a HEAD request.
        let answer = String::from_utf8(error_answer(414, true, &rules)).unwrap();
        assert_eq!(answer.split_once("\r\n\r\n"), Some((head, "")));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_request(&data, &LIMITS);
        }

        #[test]
        fn split_points_do_not_change_the_result(cut in 0usize..60) {
            let raw = b"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
            let cut = cut.min(raw.len());
            let whole = parse_request(raw, &LIMITS).unwrap().unwrap();
            match parse_request(&raw[..cut], &LIMITS).unwrap() {
                None => {}
                Some(partial) => proptest::prop_assert_eq!(partial, whole),
            }
        }
    }
}
