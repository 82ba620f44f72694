//! The uwsgi binary protocol as nginx's `uwsgi_pass` speaks it: a 4-byte
//! header (modifier1, little-endian datasize, modifier2), then `datasize`
//! bytes of vars — repeated (u16le key length, key, u16le value length,
//! value) — then the body, whose length is the CONTENT_LENGTH var.
//!
//! nginx buffers chunked request bodies before sending them over uwsgi
//! ("when HTTP/1.1 chunked transfer encoding is used to send the original
//! request body, the request body will be buffered regardless of the
//! directive value", nginx's uwsgi_request_buffering docs), so a body
//! always comes with CONTENT_LENGTH.

use super::head::{BodyFraming, HeadKind, RequestHead, RequestPath, Span};
use super::http::Limits;
use super::target::{self, TargetError};

const HEADER: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UwsgiError {
    #[error("the packet ({0} bytes) is larger than buffer-size ({1} bytes)")]
    TooLarge(usize, usize),
    #[error("a var's {0} runs past the end of the vars block")]
    Truncated(&'static str),
    #[error("modifier1 {0} is not a WSGI request (expected 0)")]
    Modifier(u8),
    #[error("invalid CONTENT_LENGTH {0:?}")]
    ContentLength(String),
    #[error("the request body ({length} bytes) is larger than limit-post ({limit} bytes)")]
    BodyTooLarge { length: u64, limit: u64 },
    #[error("invalid PATH_INFO: {0}")]
    Path(#[from] TargetError),
}

impl UwsgiError {
    /// The status answered (over uwsgi the answer is an HTTP response
    /// too: nginx passes it on, where uWSGI's bare close becomes a 502).
    pub fn status(&self) -> u16 {
        match self {
            UwsgiError::TooLarge(..) => 431,
            UwsgiError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Parse one packet head (header + vars). `Ok(None)`: need more bytes.
/// `limits.max_head` bounds the packet (buffer-size, as in uWSGI),
/// `limits.max_body` its CONTENT_LENGTH (limit-post).
pub fn parse_packet(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, UwsgiError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let modifier1 = buf[0];
    let size = usize::from(u16::from_le_bytes([buf[1], buf[2]]));
    let modifier2 = buf[3];
    if modifier1 != 0 {
        return Err(UwsgiError::Modifier(modifier1));
    }
    if size > limits.max_head {
        return Err(UwsgiError::TooLarge(size, limits.max_head));
    }
    let total = HEADER + size;
    if buf.len() < total {
        return Ok(None);
    }
    let block = &buf[HEADER..total];
    let mut vars: Vec<(Span, Span)> = Vec::with_capacity(32);
    let mut content_length = None;
    let mut path_info = None;
    let mut i = 0;
    while i < block.len() {
        let key = field(block, &mut i, "key")?;
        let value = field(block, &mut i, "value")?;
        let (k, v) = (&block[key.clone()], &block[value.clone()]);
        if k == b"CONTENT_LENGTH" {
            content_length = Some(parse_length(v)?);
        } else if k == b"PATH_INFO" {
            // The last one wins, as in the environ (see `var`).
            path_info = Some(value.clone());
        }
        // Spans are into the head's buf, which keeps the 4-byte header.
        vars.push((offset(key), offset(value)));
    }
    // nginx sends PATH_INFO decoded and normalized already ($document_uri);
    // a uwsgi client that is not nginx gets the same rules as HTTP.
    let path = match path_info {
        None => RequestPath::Raw(0..0),
        Some(range) => match target::normalize_decoded(&block[range.clone()])? {
            None => RequestPath::Raw(offset(range)),
            Some(normalized) => RequestPath::Owned(normalized.into_boxed_slice()),
        },
    };
    let body = match content_length {
        None | Some(0) => BodyFraming::Empty,
        Some(n) if limits.max_body > 0 && n > limits.max_body => {
            return Err(UwsgiError::BodyTooLarge {
                length: n,
                limit: limits.max_body,
            });
        }
        Some(n) => BodyFraming::Length(n),
    };
    let head = RequestHead {
        buf: buf[..total].to_vec(),
        kind: HeadKind::Uwsgi {
            modifier1,
            modifier2,
            vars,
        },
        path,
        body,
        keep_alive: false,
        expect_continue: false,
    };
    Ok(Some((head, total)))
}

fn offset(r: std::ops::Range<usize>) -> Span {
    (r.start + HEADER) as u32..(r.end + HEADER) as u32
}

fn field(
    block: &[u8],
    i: &mut usize,
    what: &'static str,
) -> Result<std::ops::Range<usize>, UwsgiError> {
    let len_bytes = block.get(*i..*i + 2).ok_or(UwsgiError::Truncated(what))?;
    let len = usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]));
    let start = *i + 2;
    let end = start
        .checked_add(len)
        .filter(|&e| e <= block.len())
        .ok_or(UwsgiError::Truncated(what))?;
    *i = end;
    Ok(start..end)
}

fn parse_length(v: &[u8]) -> Result<u64, UwsgiError> {
    let bad = || UwsgiError::ContentLength(String::from_utf8_lossy(v).into_owned());
    if v.is_empty() {
        // nginx sends CONTENT_LENGTH "" for requests without a body.
        return Ok(0);
    }
    if !v.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

/// Build a packet from vars (tests and tools).
pub fn encode(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        for part in [k, v] {
            block.extend_from_slice(&(part.len() as u16).to_le_bytes());
            block.extend_from_slice(part.as_bytes());
        }
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&(block.len() as u16).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&block);
    out
}

impl RequestHead {
    /// A uwsgi var by name (None for HTTP heads). nginx sends a var twice
    /// when a `uwsgi_param` overrides an included one: the last one wins,
    /// as it does in the environ.
    pub fn var(&self, name: &str) -> Option<&[u8]> {
        let HeadKind::Uwsgi { vars, .. } = &self.kind else {
            return None;
        };
        vars.iter()
            .rev()
            .find(|(k, _)| self.bytes_at(k) == name.as_bytes())
            .map(|(_, v)| self.bytes_at(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 4096,
        max_body: 0,
    };

    #[test]
    fn parses_vars_and_body_length() {
        let mut p = encode(&[
            ("REQUEST_METHOD", "POST"),
            ("PATH_INFO", "/x"),
            ("CONTENT_LENGTH", "5"),
        ]);
        let head_len = p.len();
        p.extend_from_slice(b"hello");
        let (h, used) = parse_packet(&p, &LIMITS).unwrap().unwrap();
        assert_eq!(used, head_len);
        assert_eq!(h.var("REQUEST_METHOD"), Some(&b"POST"[..]));
        assert_eq!(h.var("PATH_INFO"), Some(&b"/x"[..]));
        assert_eq!(h.body, BodyFraming::Length(5));
        assert!(!h.keep_alive);
    }

    #[test]
    fn every_truncation_is_incomplete_not_a_panic() {
        let p = encode(&[("A", "1"), ("BB", "22"), ("CONTENT_LENGTH", "")]);
        for cut in 0..p.len() {
            assert_eq!(parse_packet(&p[..cut], &LIMITS), Ok(None), "cut at {cut}");
        }
        let (h, _) = parse_packet(&p, &LIMITS).unwrap().unwrap();
        assert_eq!(h.body, BodyFraming::Empty);
    }

    #[test]
    fn rejects_corrupt_packets() {
        // datasize larger than allowed
        assert!(matches!(
            parse_packet(&[0, 0xff, 0xff, 0], &LIMITS),
            Err(UwsgiError::TooLarge(..))
        ));
        // a key length that runs past the block
        let bad = [0, 4, 0, 0, 10, 0, b'A', b'B'];
        assert!(matches!(
            parse_packet(&bad, &LIMITS),
            Err(UwsgiError::Truncated("key"))
        ));
        // a value length that runs past the block
        let bad = [0, 6, 0, 0, 1, 0, b'A', 9, 0, b'x'];
        assert!(matches!(
            parse_packet(&bad, &LIMITS),
            Err(UwsgiError::Truncated("value"))
        ));
        // an odd byte left over
        let bad = [0, 1, 0, 0, 7];
        assert!(matches!(
            parse_packet(&bad, &LIMITS),
            Err(UwsgiError::Truncated("key"))
        ));
        assert!(matches!(
            parse_packet(&[5, 0, 0, 0], &LIMITS),
            Err(UwsgiError::Modifier(5))
        ));
        let p = encode(&[("CONTENT_LENGTH", "12a")]);
        assert!(matches!(
            parse_packet(&p, &LIMITS),
            Err(UwsgiError::ContentLength(_))
        ));
    }

    #[test]
    fn limit_post_applies_to_content_length() {
        let limits = Limits {
            max_head: 4096,
            max_body: 10,
        };
        let p = encode(&[("CONTENT_LENGTH", "10")]);
        assert!(parse_packet(&p, &limits).unwrap().is_some());
        let p = encode(&[("CONTENT_LENGTH", "9223372036854775807")]);
        let err = parse_packet(&p, &limits).unwrap_err();
        assert_eq!(
            (err.status(), err),
            (
                413,
                UwsgiError::BodyTooLarge {
                    length: i64::MAX as u64,
                    limit: 10
                }
            )
        );
    }

    #[test]
    fn path_info_is_normalized_never_decoded_again() {
        let cases: [(&str, Result<&str, UwsgiError>); 6] = [
            ("/a/b", Ok("/a/b")),
            ("/admin/../public", Ok("/public")),
            // nginx decoded %252e to %2e: a literal name, not a dot segment
            ("/a/%2e%2e/admin", Ok("/a/%2e%2e/admin")),
            ("", Ok("")),
            ("/../x", Err(UwsgiError::Path(TargetError::AboveRoot))),
            ("/a\0b", Err(UwsgiError::Path(TargetError::Nul))),
        ];
        for (path, want) in cases {
            let p = encode(&[("PATH_INFO", "/ignored"), ("PATH_INFO", path)]);
            let got = parse_packet(&p, &LIMITS).map(|h| {
                let (h, _) = h.expect("complete");
                String::from_utf8_lossy(h.path()).into_owned()
            });
            assert_eq!(got, want.map(str::to_string), "{path:?}");
        }
        let (h, _) = parse_packet(&encode(&[("REQUEST_METHOD", "GET")]), &LIMITS)
            .unwrap()
            .unwrap();
        assert_eq!(h.path(), b"");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_packet(&data, &Limits { max_head: 256, max_body: 0 });
        }
    }
}
