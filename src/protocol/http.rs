//! HTTP/1.1 request heads (RFC 9112), parsed with `httparse` and then held
//! to the rules that keep a server safe behind proxies: one unambiguous
//! body length, no obsolete line folding, bounded sizes.

use super::head::{BodyFraming, HeadKind, RequestHead, Span};

/// Limits from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `buffer-size`: the largest head accepted.
    pub max_head: usize,
    /// `limit-post`: the largest body accepted (0: no limit).
    pub max_body: u64,
}

/// Headers per request at most (431 beyond).
pub const MAX_HEADERS: usize = 100;

/// Why a head was refused; `status()` is the answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("the request head is larger than buffer-size ({0} bytes)")]
    HeadTooLarge(usize),
    #[error("the request has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("the connection closed in the middle of a request head")]
    Incomplete,
    #[error("HTTP version not supported")]
    Version,
    #[error("unsupported transfer-coding {0:?}")]
    TransferCoding(String),
    #[error("the request body ({0} bytes) is larger than limit-post")]
    BodyTooLarge(u64),
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge(_) | HttpError::TooManyHeaders => 431,
            HttpError::Malformed(_) | HttpError::Incomplete => 400,
            HttpError::Version => 505,
            HttpError::TransferCoding(_) => 501,
            HttpError::BodyTooLarge(_) => 413,
        }
    }
}

fn span(base: *const u8, part: &[u8]) -> Span {
    // httparse hands out slices of the buffer it parsed; their offset from
    // its start is the span.
    let start = (part.as_ptr() as usize).wrapping_sub(base as usize) as u32;
    start..start + part.len() as u32
}

/// Parse one request head from the start of `buf`. `Ok(None)`: need more
/// bytes. On success, also returns how many bytes the head took.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HttpError> {
    // RFC 9112 2.2: "a server SHOULD ignore at least one empty line (CRLF)
    // received prior to the request-line".
    let skip = leading_crlf(buf);
    let data = &buf[skip..];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = match req.parse(data) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(HttpError::Version),
        Err(httparse::Error::HeaderName) => {
            return Err(HttpError::Malformed("invalid header name"));
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(HttpError::Malformed("invalid header value"));
        }
        Err(httparse::Error::Token) => return Err(HttpError::Malformed("invalid method")),
        Err(_) => return Err(HttpError::Malformed("invalid request line")),
    };
    let httparse::Status::Complete(len) = status else {
        if buf.len() > limits.max_head {
            return Err(HttpError::HeadTooLarge(limits.max_head));
        }
        return Ok(None);
    };
    if len > limits.max_head {
        return Err(HttpError::HeadTooLarge(limits.max_head));
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    if path.is_empty() {
        return Err(HttpError::Malformed("empty request-target"));
    }
    // RFC 9112 3.2: origin-form, absolute-form, or "*" for OPTIONS;
    // authority-form is only for CONNECT, which a WSGI app cannot serve.
    let absolute = |scheme: &str| {
        path.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    let target_ok = path.starts_with('/')
        || absolute("http://")
        || absolute("https://")
        || (path == "*" && method == "OPTIONS");
    if !target_ok {
        return Err(HttpError::Malformed("invalid request-target"));
    }
    let base = data.as_ptr();
    let mut spans = Vec::with_capacity(req.headers.len());
    let mut framing = Framing::default();
    for h in req.headers.iter() {
        check_value(h.value)?;
        framing.see(h.name, h.value, minor)?;
        spans.push((
            shift(span(base, h.name.as_bytes()), skip),
            shift(span(base, h.value), skip),
        ));
    }
    let body = framing.body(limits)?;
    let head = RequestHead {
        buf: buf[..skip + len].to_vec(),
        kind: HeadKind::Http {
            method: shift(span(base, method.as_bytes()), skip),
            target: shift(span(base, path.as_bytes()), skip),
            minor_version: minor,
            headers: spans,
        },
        body,
        keep_alive: framing.keep_alive(minor),
        expect_continue: framing.expect_continue && minor == 1,
    };
    Ok(Some((head, skip + len)))
}

fn shift(s: Span, by: usize) -> Span {
    s.start + by as u32..s.end + by as u32
}

fn leading_crlf(buf: &[u8]) -> usize {
    let mut i = 0;
    while i < buf.len() && (buf[i] == b'\r' || buf[i] == b'\n') && i < 8 {
        i += 1;
    }
    i
}

/// RFC 9110 5.5: field values carry no CR, LF or NUL. httparse already
/// refuses CR/LF inside values and obs-fold; NUL is checked here.
fn check_value(value: &[u8]) -> Result<(), HttpError> {
    if value.contains(&0) {
        return Err(HttpError::Malformed("NUL in a header value"));
    }
    Ok(())
}

/// What the headers say about the body and the connection.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
    transfer_encoding: bool,
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
            // repeated values are invalid too.
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
                    // RFC 9112 6.1: chunked must be the final coding, once.
                    return Err(HttpError::Malformed(
                        "chunked is not the final transfer-coding",
                    ));
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.chunked = true;
                } else {
                    return Err(HttpError::TransferCoding(
                        String::from_utf8_lossy(coding).into_owned(),
                    ));
                }
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
            if !self.chunked {
                return Err(HttpError::Malformed("Transfer-Encoding without chunked"));
            }
            return Ok(BodyFraming::Chunked);
        }
        match self.content_length {
            None | Some(0) => Ok(BodyFraming::Empty),
            Some(n) if limits.max_body > 0 && n > limits.max_body => {
                Err(HttpError::BodyTooLarge(n))
            }
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
        let h = ok("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n");
        let HeadKind::Http {
            method,
            target,
            minor_version,
            headers,
        } = &h.kind
        else {
            panic!()
        };
        assert_eq!(h.bytes_at(method), b"GET");
        assert_eq!(h.bytes_at(target), b"/a?b=1");
        assert_eq!(*minor_version, 1);
        assert_eq!(headers.len(), 2);
        assert_eq!(h.bytes_at(&headers[1].0), b"X-Y");
        assert_eq!(h.bytes_at(&headers[1].1), b"z");
        assert_eq!(h.body, BodyFraming::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn reports_incomplete_heads_and_consumed_bytes() {
        assert!(parse("GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        let raw = "GET / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
        let (_, used) = parse(raw).unwrap().unwrap();
        assert_eq!(used, 18);
        let (h, used) = parse("\r\nGET / HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(used, 20);
        let HeadKind::Http { method, .. } = &h.kind else {
            panic!()
        };
        assert_eq!(h.bytes_at(method), b"GET");
    }

    #[test]
    fn body_framing() {
        assert_eq!(
            ok("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").body,
            BodyFraming::Length(5)
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").body,
            BodyFraming::Chunked
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").body,
            BodyFraming::Length(3)
        );
    }

    #[test]
    fn connection_persistence() {
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n").keep_alive);
        assert!(
            ok("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn refuses_what_could_smuggle_or_split() {
        let cases = [
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX : a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\n\r\n", 505),
            ("GET  / HTTP/1.1\r\n\r\n", 400),
            ("GET foo HTTP/1.1\r\n\r\n", 400),
            ("PUT s://]ufd/: HTTP/1.1\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\n\r\n", 400),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn limits() {
        let small = Limits {
            max_head: 32,
            max_body: 10,
        };
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(64));
        assert_eq!(
            parse_request(long.as_bytes(), &small).unwrap_err().status(),
            431
        );
        let partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(64));
        assert_eq!(
            parse_request(partial.as_bytes(), &small)
                .unwrap_err()
                .status(),
            431
        );
        let big = "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        let limits = Limits {
            max_head: 4096,
            max_body: 10,
        };
        assert_eq!(
            parse_request(big.as_bytes(), &limits).unwrap_err().status(),
            413
        );
        let many: String = (0..120).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
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
