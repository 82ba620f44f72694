//! The response side: `protocol::response` (the status and headers a WSGI
//! app gives, as `to_latin1`, `ResponseHead::new` and `push_header` check
//! them) and `protocol::encode` (the framing decision, the head on the
//! wire, the body's framing, partial writes and their counts), driven the
//! way `worker::sink` drives them.
//!
//! Input: a flags byte (wire, HEAD, keep-alive), a header count, then
//! length-prefixed fields: the status and each header's name and value
//! (as UTF-8 text, the `str` an app hands over), then operations: a body
//! chunk, a file sent with sendfile (whole or cut short), a partial write.
//!
//! Invariants: what the checks accept holds no CR, LF or other control;
//! the head on the wire is a response httparse reads back line for line,
//! with exactly the app's headers the server does not own and exactly one
//! framing header where the framing needs one (Content-Length or chunked,
//! never both); the body decodes back to what the app gave (cut to its
//! Content-Length); nothing follows a body that ends with its framing;
//! the head and body byte counts match the bytes the socket took, after
//! every partial write.

use rsgi_core::protocol::encode::{Encoder, Framing, Output, Request, Wire};
use rsgi_core::protocol::header_rules::HeaderRules;
use rsgi_core::protocol::response::{self, HeadError, ResponseHead};

use super::chunked::{Reference, reference};

/// Reads length-prefixed fields off the input.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.byte()?).min(self.0.len());
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(field)
    }
}

pub fn check(data: &[u8]) {
    let mut input = Fields(data);
    let (Some(flags), Some(count)) = (input.byte(), input.byte()) else {
        return;
    };
    let req = Request {
        wire: [Wire::Http10, Wire::Http11, Wire::Uwsgi][usize::from(flags % 3)],
        head: flags & 4 != 0,
        keep_alive: flags & 8 != 0,
    };
    let Some(status) = input.field() else {
        return;
    };
    let Some(head) = build_head(&mut input, status, usize::from(count % 16)) else {
        return;
    };
    let mut socket = Socket::new();
    let mut out = Output::default();
    // No add-header/del-header rules: the head is what the app set.
    let mut enc = Encoder::start(&req, &head, &HeaderRules::default(), &mut out);
    let head_len = out.pending().len();
    let framing = enc.framing();
    check_head(&req, &head, &out.pending()[..head_len], &enc);

    // The body the app gives, and whether the response was cut off.
    let mut given = Vec::new();
    let mut aborted = false;
    while let Some(op) = input.byte() {
        match op % 3 {
            0 => {
                let chunk = input.field().unwrap_or_default();
                given.extend_from_slice(chunk);
                enc.body(chunk, &mut out);
            }
            1 => {
                // sendfile: what `out` holds goes first.
                let available = u64::from(input.byte().unwrap_or(0));
                let short = op & 8 != 0;
                let count = enc.begin_file(available, &mut out);
                assert!(count <= available);
                socket.send_all(&mut out, framing, head_len);
                let sent = if short { count / 2 } else { count };
                socket
                    .bytes
                    .extend(std::iter::repeat_n(b'F', sent as usize));
                given.extend(std::iter::repeat_n(b'F', available as usize));
                enc.end_file(count, sent, &mut out);
                socket.record(&out);
                if sent < count {
                    enc.abort(&mut out);
                    assert!(out.aborted() && !enc.keep_alive());
                    aborted = true;
                    break;
                }
            }
            _ => {
                let n = usize::from(input.byte().unwrap_or(0)).min(out.pending().len());
                socket.send(&mut out, n);
            }
        }
        socket.check_counts(framing, head_len);
    }
    if aborted {
        socket.check_counts(framing, head_len);
        assert!(out.pending().is_empty(), "nothing goes out after an abort");
        return;
    }
    let finished = enc.finish(&mut out);
    socket.send_all(&mut out, framing, head_len);
    check_body(
        &socket.bytes[head_len..],
        framing,
        &given,
        &head,
        finished.is_ok(),
    );
    if finished.is_err() {
        assert!(!enc.keep_alive(), "a short body keeps the connection");
    }
}

/// The head as the WSGI layer builds it; `None` where it refuses (then
/// the refusal must have a reason).
fn build_head(input: &mut Fields<'_>, status: &[u8], count: usize) -> Option<ResponseHead> {
    let status = latin1(status)?;
    let mut head = match ResponseHead::new(&status, count) {
        Ok(head) => head,
        Err(e) => {
            refused(&status, &e);
            return None;
        }
    };
    assert!(accepted_text(&status));
    for _ in 0..count {
        let name = latin1(input.field()?)?;
        let value = latin1(input.field()?)?;
        match head.push_header(&name, &value) {
            Ok(()) => assert!(response::is_token(&name) && accepted_text(&value)),
            Err(e) => {
                refused(&value, &e);
                return None;
            }
        }
    }
    Some(head)
}

/// The field as an app's `str`, in latin-1 bytes, as the WSGI layer turns
/// it; a character above U+00FF is refused, never truncated.
fn latin1(field: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(field);
    match response::to_latin1(&text) {
        Ok(bytes) => {
            assert_eq!(bytes.len(), text.chars().count());
            Some(bytes.into_owned())
        }
        Err(ch) => {
            assert!(u32::from(ch) > 0xff);
            None
        }
    }
}

/// No control character but HTAB (RFC 9110 5.5).
fn accepted_text(b: &[u8]) -> bool {
    b.iter().all(|&c| (c >= 0x20 || c == b'\t') && c != 0x7f)
}

fn refused(text: &[u8], e: &HeadError) {
    assert!(!e.to_string().is_empty());
    if let HeadError::StatusControl(_) | HeadError::ValueControl(_) = e {
        assert!(!accepted_text(text), "{e}");
    }
}

/// The head on the wire, line by line.
fn check_head(req: &Request, head: &ResponseHead, bytes: &[u8], enc: &Encoder) {
    assert!(bytes.ends_with(b"\r\n\r\n"));
    // Every line ends in CRLF and holds no other CR, LF or control.
    let lines: Vec<&[u8]> = bytes[..bytes.len() - 2]
        .split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let line = line
                .strip_suffix(b"\r\n")
                .unwrap_or_else(|| panic!("a bare LF in {bytes:?}"));
            assert!(accepted_text(line), "a CR or control character in {line:?}");
            line
        })
        .collect();
    let mut parsed_headers = vec![httparse::EMPTY_HEADER; lines.len()];
    let mut parsed = httparse::Response::new(&mut parsed_headers);
    let status = parsed.parse(bytes);
    assert_eq!(
        status,
        Ok(httparse::Status::Complete(bytes.len())),
        "{bytes:?}"
    );
    assert_eq!(parsed.code, Some(head.code()));
    let version = if req.wire == Wire::Http10 { 0 } else { 1 };
    assert_eq!(parsed.version, Some(version));
    assert_eq!(parsed.headers.len(), lines.len() - 1, "one header per line");

    let owned = |n: &[u8]| {
        [
            &b"content-length"[..],
            b"transfer-encoding",
            b"connection",
            b"keep-alive",
        ]
        .iter()
        .any(|o| n.eq_ignore_ascii_case(o))
    };
    let app: Vec<_> = head.headers().filter(|(n, _)| !owned(n)).collect();
    let (ours, server) = parsed.headers.split_at(app.len());
    for ((name, value), h) in app.iter().zip(ours) {
        assert_eq!(h.name.as_bytes(), *name);
        assert_eq!(h.value.trim_ascii(), value.trim_ascii());
    }
    let count = |name: &str| {
        server
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    let has = |name: &[u8]| app.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    assert_eq!(count("server"), usize::from(!has(b"server")));
    assert_eq!(count("date"), usize::from(!has(b"date")));
    let (lengths, chunked) = (count("content-length"), count("transfer-encoding"));
    match enc.framing() {
        Framing::Length(n) => {
            assert_eq!((lengths, chunked), (1, 0), "one framing header");
            assert_eq!(head.declared().content_length, Some(n));
        }
        Framing::Chunked => {
            assert_eq!((lengths, chunked), (0, 1), "one framing header");
            assert_eq!(req.wire, Wire::Http11, "chunked only on HTTP/1.1");
        }
        Framing::Close => {
            assert_eq!((lengths, chunked), (0, 0));
            assert!(!enc.keep_alive());
        }
        Framing::NoBody => {
            assert_eq!(chunked, 0);
            let code = head.code();
            assert!(req.head || code < 200 || code == 204 || code == 304);
            // RFC 9110 8.6: never in a 204; in HEAD and 304 it tells the
            // size a GET would have had.
            let sent = head.declared().content_length.is_some() && code != 204;
            assert_eq!(lengths, usize::from(sent));
        }
    }
    let close = head.declared().close;
    assert_eq!(
        enc.keep_alive(),
        req.keep_alive && !close && enc.framing() != Framing::Close
    );
    let connection: Vec<&[u8]> = server
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value)
        .collect();
    let want: &[&[u8]] = match (enc.keep_alive(), req.wire) {
        (false, Wire::Http11 | Wire::Uwsgi) => &[b"close"],
        (true, Wire::Http10) => &[b"keep-alive"],
        _ => &[],
    };
    assert_eq!(connection, want);
}

/// What reached the body's place on the wire decodes to what the app gave.
fn check_body(sent: &[u8], framing: Framing, given: &[u8], head: &ResponseHead, finished: bool) {
    match framing {
        Framing::NoBody => assert!(sent.is_empty(), "a body after a bodiless head"),
        Framing::Close => assert_eq!(sent, given),
        Framing::Length(_) => {
            let declared = head.declared().content_length.unwrap_or_default();
            let want = &given[..given.len().min(declared as usize)];
            assert_eq!(sent, want, "never more than Content-Length");
            assert_eq!(finished, given.len() as u64 >= declared);
        }
        Framing::Chunked => match reference(sent) {
            Reference::Complete { body, used } => {
                assert_eq!(body, given);
                assert_eq!(used, sent.len(), "bytes after the last chunk");
            }
            other => panic!("the chunked body does not parse: {other:?}"),
        },
    }
}

/// The socket: what it took, and the counts `Output` gave after each write.
struct Socket {
    bytes: Vec<u8>,
    /// (bytes on the wire, head bytes counted, body bytes counted).
    counts: Vec<(usize, u64, u64)>,
}

impl Socket {
    fn new() -> Socket {
        Socket {
            bytes: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn send(&mut self, out: &mut Output, n: usize) {
        self.bytes.extend_from_slice(&out.pending()[..n]);
        out.advance(n);
        self.record(out);
    }

    fn send_all(&mut self, out: &mut Output, framing: Framing, head_len: usize) {
        let n = out.pending().len();
        self.send(out, n);
        self.check_counts(framing, head_len);
    }

    fn record(&mut self, out: &Output) {
        assert!(out.body_sent() <= out.body_queued());
        self.counts
            .push((self.bytes.len(), out.head_sent(), out.body_sent()));
    }

    /// Head and body bytes counted are those in what the socket took.
    fn check_counts(&mut self, framing: Framing, head_len: usize) {
        for &(len, head, body) in &self.counts {
            let on_wire = &self.bytes[..len];
            assert_eq!(head, len.min(head_len) as u64, "head bytes sent");
            let after = &on_wire[len.min(head_len)..];
            let want = match framing {
                Framing::NoBody => 0,
                Framing::Length(_) | Framing::Close => after.len(),
                Framing::Chunked => match reference(after) {
                    Reference::Complete { body, .. } | Reference::Incomplete { body } => body.len(),
                    Reference::Invalid => panic!("invalid chunk framing: {after:?}"),
                },
            };
            assert_eq!(body, want as u64, "body bytes sent after {len} bytes");
        }
        self.counts.clear();
    }
}
