//! Response framing (RFC 9112 6): how a response body is delimited,
//! decided once from the request, the status and the app's headers, and
//! the bytes that carry it. Pure, like hyper's `proto/h1/encode.rs`: the
//! [`Encoder`] writes into an [`Output`] the worker owns, the worker
//! sends what it can and says how much went out, and the `Output` keeps
//! count of the head and body bytes that reached the socket (the request
//! log's `hsize` and `rsize`).
//!
//! The server owns the framing headers. An app's Content-Length is checked
//! (see [`check_header`](super::response::check_header)) and written again
//! by the server, once; its Transfer-Encoding, Connection and Keep-Alive
//! are dropped: PEP 3333 leaves transfer codings and connection management
//! to the server, as gunicorn does by dropping hop-by-hop headers.

use super::header_rules::HeaderRules;
use super::response::{Declared, ResponseHead, standard_reason, with_http_date};

/// The protocol a response goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Http10,
    Http11,
    /// The uwsgi protocol: an HTTP/1.1 head, and the body delimited by the
    /// connection's end (nginx reads to EOF), never chunked.
    Uwsgi,
}

/// What the request decides about its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub wire: Wire,
    /// The method was HEAD: a head and no body.
    pub head: bool,
    /// The client allows another request on this connection (and the
    /// worker is not stopping).
    pub keep_alive: bool,
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Content-Length: this many bytes are still owed.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0, uwsgi).
    Close,
    /// HEAD, 1xx, 204, 304: a head and nothing else.
    NoBody,
}

/// The zero-length chunk and empty trailer that end a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

impl Framing {
    /// RFC 9112 6.3: a response to HEAD, and 1xx, 204 and 304 responses,
    /// end with their head. Otherwise Content-Length if the app declared
    /// it, chunked where HTTP/1.1 allows it, and the connection's end where
    /// nothing else can (HTTP/1.0, the uwsgi protocol).
    pub fn choose(req: &Request, code: u16, declared: &Declared) -> Framing {
        if req.head || code < 200 || code == 204 || code == 304 {
            return Framing::NoBody;
        }
        match (declared.content_length, req.wire) {
            (Some(n), _) => Framing::Length(n),
            (None, Wire::Http11) => Framing::Chunked,
            (None, Wire::Http10 | Wire::Uwsgi) => Framing::Close,
        }
    }
}

/// The app's headers the server writes itself or leaves out: their
/// values from the app would contradict the framing the server chose.
pub(crate) fn server_owned(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"keep-alive")
}

/// One response's framing state, from its head to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    framing: Framing,
    keep_alive: bool,
    /// Content-Length as declared, for the message when the body falls short.
    declared: Option<u64>,
}

/// The app's body ended before its declared Content-Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortBody {
    pub declared: u64,
    pub missing: u64,
}

impl Encoder {
    /// Decide the framing and write the head into `out`, with the
    /// server's header `rules` applied (every response passes here, so
    /// every response gets them). A [`ResponseHead`] holds only checked
    /// bytes, and the rules were checked at config load: no CR or LF
    /// reaches the wire.
    pub fn start(
        req: &Request,
        head: &ResponseHead,
        rules: &HeaderRules,
        out: &mut Output,
    ) -> Encoder {
        let (code, status, declared) = (head.code(), head.status(), head.declared());
        let framing = Framing::choose(req, code, declared);
        let head_at = out.buf.len();
        let keep_alive =
            req.keep_alive && !declared.close && !rules.close() && framing != Framing::Close;
        out.chunked = framing == Framing::Chunked;
        out.close_delimited = framing == Framing::Close;
        let buf = &mut out.buf;
        buf.extend_from_slice(if req.wire == Wire::Http10 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        buf.extend_from_slice(status);
        if status.len() == 3 {
            // A bare code (as uWSGI takes it): RFC 9112 4 still wants the
            // space, and a reason helps whoever reads it.
            buf.push(b' ');
            buf.extend_from_slice(standard_reason(code).unwrap_or("").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let (mut has_date, mut has_server) = (false, false);
        let apps = head
            .headers()
            .filter(|(name, _)| !server_owned(name) && !rules.removes(name));
        for (name, value) in apps.chain(rules.added()) {
            has_date |= name.eq_ignore_ascii_case(b"date");
            has_server |= name.eq_ignore_ascii_case(b"server");
            buf.extend_from_slice(name);
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n");
        }
        if !has_server && !rules.removes(b"server") {
            buf.extend_from_slice(b"Server: rsgi\r\n");
        }
        if !has_date {
            buf.extend_from_slice(b"Date: ");
            with_http_date(|d| buf.extend_from_slice(d));
            buf.extend_from_slice(b"\r\n");
        }
        match declared.content_length {
            // RFC 9110 8.6: "A server MUST NOT send a Content-Length header
            // field in any response with a status code of 1xx
            // (Informational) or 204 (No Content)". In a HEAD or 304
            // response it tells the size the GET would have had.
            Some(n) if code >= 200 && code != 204 => {
                buf.extend_from_slice(b"Content-Length: ");
                push_decimal(n, buf);
                buf.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
        if framing == Framing::Chunked {
            buf.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        match (keep_alive, req.wire) {
            (false, Wire::Http11 | Wire::Uwsgi) => buf.extend_from_slice(b"Connection: close\r\n"),
            (true, Wire::Http10) => buf.extend_from_slice(b"Connection: keep-alive\r\n"),
            _ => {}
        }
        buf.extend_from_slice(b"\r\n");
        out.lead = out.buf.len();
        out.head = head_at..out.buf.len();
        Encoder {
            framing,
            keep_alive,
            declared: declared.content_length,
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the connection can carry another request after this
    /// response (once it is complete).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Queue body bytes, framed.
    pub fn body(&mut self, chunk: &[u8], out: &mut Output) {
        if chunk.is_empty() {
            // An empty chunk would read as the last one.
            return;
        }
        match &mut self.framing {
            Framing::NoBody => {}
            Framing::Close => out.push_body(chunk),
            Framing::Chunked => {
                push_chunk_size(chunk.len() as u64, &mut out.buf);
                out.push_body(chunk);
                out.buf.extend_from_slice(b"\r\n");
            }
            Framing::Length(remaining) => {
                // Never send more than declared: the surplus would be read
                // as the start of the next response.
                let n = (chunk.len() as u64).min(*remaining);
                out.push_body(&chunk[..n as usize]);
                *remaining -= n;
            }
        }
    }

    /// A body part of `available` bytes that the worker sends itself
    /// (sendfile): how many of them to send, with any framing that goes
    /// before them queued in `out`. Send what `out` holds first.
    pub fn begin_file(&mut self, available: u64, out: &mut Output) -> u64 {
        match self.framing {
            Framing::NoBody => 0,
            Framing::Length(remaining) => available.min(remaining),
            Framing::Close => available,
            Framing::Chunked => {
                if available > 0 {
                    push_chunk_size(available, &mut out.buf);
                }
                available
            }
        }
    }

    /// `sent` of the `count` bytes from [`begin_file`](Self::begin_file)
    /// went out. Fewer than `count` breaks the framing: abort.
    pub fn end_file(&mut self, count: u64, sent: u64, out: &mut Output) {
        out.sent_directly(sent);
        match &mut self.framing {
            Framing::Length(remaining) => *remaining -= sent.min(*remaining),
            Framing::Chunked if count > 0 && sent == count => {
                // The CRLF that closes the chunk, before any frame.
                out.buf.extend_from_slice(b"\r\n");
                if out.buf.len() == 2 {
                    out.lead = 2;
                }
            }
            _ => {}
        }
    }

    /// The body is complete: queue what ends it. A body shorter than its
    /// Content-Length cannot be completed, so the connection must close
    /// after it (the client then sees it short); the error says by how much.
    pub fn finish(&mut self, out: &mut Output) -> Result<(), ShortBody> {
        match self.framing {
            Framing::Chunked => out.buf.extend_from_slice(LAST_CHUNK),
            Framing::Length(missing) if missing > 0 => {
                self.keep_alive = false;
                return Err(ShortBody {
                    declared: self.declared.unwrap_or(missing),
                    missing,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The response cannot be completed as framed: nothing more goes out,
    /// what is queued is dropped, and the connection must close at once.
    pub fn abort(&mut self, out: &mut Output) {
        self.keep_alive = false;
        out.abort();
    }
}

/// Response bytes on their way to the socket, and the count of head and
/// body bytes among those that left.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    buf: Vec<u8>,
    /// Bytes of `buf` already sent.
    pos: usize,
    /// Bytes at the front of `buf` before any body or chunk: the head, or
    /// the CRLF that closes a chunk sent with sendfile.
    lead: usize,
    /// Body bytes in `buf`.
    body_in_buf: u64,
    /// Body bytes sent before `buf` (earlier buffers, files).
    body_sent: u64,
    /// Where the head lies in `buf`, until `buf` is sent and cleared.
    head: std::ops::Range<usize>,
    /// Head bytes sent before `buf`.
    head_sent: u64,
    /// The body in `buf` is chunk-framed.
    chunked: bool,
    /// Only the connection's end delimits this body.
    close_delimited: bool,
    /// Some byte of the response reached the socket.
    committed: bool,
    aborted: bool,
}

impl Output {
    /// An empty output that reuses `buf`'s allocation.
    pub fn with_buffer(mut buf: Vec<u8>) -> Output {
        buf.clear();
        Output {
            buf,
            ..Output::default()
        }
    }

    /// What is still to be sent.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// `n` bytes of [`pending`](Self::pending) were sent.
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        self.committed |= n > 0;
        if self.pos == self.buf.len() {
            self.body_sent += self.body_in_buf;
            self.head_sent += self.head.len() as u64;
            self.head = 0..0;
            self.buf.clear();
            self.pos = 0;
            self.lead = 0;
            self.body_in_buf = 0;
        }
    }

    /// `n` body bytes went to the socket without passing through `buf`.
    fn sent_directly(&mut self, n: u64) {
        self.body_sent += n;
        self.committed |= n > 0;
    }

    fn push_body(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.body_in_buf += data.len() as u64;
    }

    /// Body bytes that reached the socket.
    pub fn body_sent(&self) -> u64 {
        self.body_sent + self.body_in_prefix(self.pos)
    }

    /// Head bytes that reached the socket: all of the head, or the part a
    /// client that stopped reading took.
    pub fn head_sent(&self) -> u64 {
        let in_buf = self.pos.min(self.head.end).saturating_sub(self.head.start);
        self.head_sent + in_buf as u64
    }

    /// Body bytes given to the socket or waiting for it.
    pub fn body_queued(&self) -> u64 {
        self.body_sent + self.body_in_buf
    }

    /// Whether any byte of the response reached the socket: until then a
    /// failed response can still be replaced by another.
    pub fn committed(&self) -> bool {
        self.committed
    }

    /// The response was cut off; the connection must close.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// Only the connection's end delimits the body: cut short, the client
    /// can tell only from a reset.
    pub fn close_delimited(&self) -> bool {
        self.close_delimited
    }

    /// Drop everything queued for a response that never reached the
    /// socket, to start another in its place.
    pub fn discard(&mut self) {
        debug_assert!(!self.committed, "discarding a response already on the wire");
        *self = Output::with_buffer(std::mem::take(&mut self.buf));
    }

    fn abort(&mut self) {
        self.body_sent = self.body_sent();
        self.head_sent = self.head_sent();
        self.head = 0..0;
        self.buf.clear();
        self.pos = 0;
        self.lead = 0;
        self.body_in_buf = 0;
        self.aborted = true;
    }

    /// Body bytes within the first `n` bytes of `buf`. Chunked framing is
    /// walked frame by frame (the encoder wrote it, so it parses); only a
    /// response that was not sent whole needs this.
    fn body_in_prefix(&self, n: usize) -> u64 {
        let n = n.min(self.buf.len());
        if n <= self.lead {
            return 0;
        }
        if !self.chunked {
            return ((n - self.lead) as u64).min(self.body_in_buf);
        }
        let mut body = 0;
        let mut at = self.lead;
        while at < n {
            let Some(line) = self.buf[at..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let size = self.buf[at..at + line]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .try_fold(0u64, |n, &d| {
                    let digit = char::from(d).to_digit(16)?;
                    n.checked_mul(16)?.checked_add(u64::from(digit))
                });
            let data = at + line + 1;
            match size {
                Some(size) if size > 0 && data < n => {
                    body += size.min((n - data) as u64);
                    at = data.saturating_add(size as usize).saturating_add(2);
                }
                _ => break,
            }
        }
        body
    }
}

/// `{len:x}\r\n`, the line before a chunk's data.
fn push_chunk_size(len: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut n = n;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const H10: Wire = Wire::Http10;
    const H11: Wire = Wire::Http11;
    const UW: Wire = Wire::Uwsgi;

    fn req(wire: Wire, head: bool, keep_alive: bool) -> Request {
        Request {
            wire,
            head,
            keep_alive,
        }
    }

    /// Start a response with checked headers; the head as text.
    fn start(req: &Request, status: &str, headers: &[(&str, &str)]) -> (Encoder, Output, String) {
        let mut head = ResponseHead::new(status.as_bytes(), headers.len()).unwrap();
        for (n, v) in headers {
            head.push_header(n.as_bytes(), v.as_bytes()).unwrap();
        }
        let mut out = Output::default();
        let enc = Encoder::start(req, &head, &HeaderRules::NONE, &mut out);
        let head = String::from_utf8(out.pending().to_vec()).unwrap();
        (enc, out, head)
    }

    type Headers<'a> = &'a [(&'a str, &'a str)];

    /// The head's lines after the status line, without Date (it varies).
    fn lines(head: &str) -> Vec<&str> {
        head.split("\r\n")
            .skip(1)
            .filter(|l| !(l.is_empty() || l.starts_with("Date: ") && l.ends_with(" GMT")))
            .collect()
    }

    #[test]
    fn framing_rules() {
        use Framing::*;
        let cl = [("Content-Length", "5")];
        // (request, status, headers) -> (framing, keep-alive)
        let cases: &[(Request, &str, Headers<'_>, Framing, bool)] = &[
            // HTTP/1.1: the declared length, else chunked; both keep alive.
            (req(H11, false, true), "200 OK", &cl, Length(5), true),
            (req(H11, false, true), "200 OK", &[], Chunked, true),
            // HTTP/1.0: the declared length keeps alive if the client
            // asked; else the close delimits the body.
            (req(H10, false, true), "200 OK", &cl, Length(5), true),
            (req(H10, false, true), "200 OK", &[], Close, false),
            (req(H10, false, false), "200 OK", &cl, Length(5), false),
            // uwsgi: never chunked; nginx reads to the close.
            (req(UW, false, false), "200 OK", &[], Close, false),
            (req(UW, false, false), "200 OK", &cl, Length(5), false),
            // No body: HEAD, 204, 304, whatever the headers say.
            (req(H11, true, true), "200 OK", &cl, NoBody, true),
            (req(H11, true, true), "200 OK", &[], NoBody, true),
            (req(H10, true, true), "200 OK", &[], NoBody, true),
            (req(H11, false, true), "204 No Content", &[], NoBody, true),
            (req(H11, false, true), "304 Not Modified", &cl, NoBody, true),
            (
                req(UW, false, false),
                "304 Not Modified",
                &[],
                NoBody,
                false,
            ),
            // The app's Connection: close is honoured.
            (
                req(H11, false, true),
                "200 OK",
                &[("Connection", "close"), ("Content-Length", "5")],
                Length(5),
                false,
            ),
            // A request that does not keep alive closes.
            (req(H11, false, false), "200 OK", &[], Chunked, false),
        ];
        for (r, status, headers, framing, keep_alive) in cases {
            let (enc, out, head) = start(r, status, headers);
            assert_eq!(
                (enc.framing(), enc.keep_alive()),
                (*framing, *keep_alive),
                "{r:?} {status} {headers:?}\n{head}"
            );
            assert_eq!(out.close_delimited(), *framing == Close);
        }
    }

    #[test]
    fn heads_carry_the_framing_and_connection_headers() {
        let ct = ("Content-Type", "text/plain");
        let cases: &[(Request, &str, Headers<'_>, &str, &[&str])] = &[
            (
                req(H11, false, true),
                "200 OK",
                &[ct],
                "HTTP/1.1 200 OK",
                &[
                    "Content-Type: text/plain",
                    "Server: rsgi",
                    "Transfer-Encoding: chunked",
                ],
            ),
            (
                req(H11, false, true),
                "200 OK",
                &[ct, ("Content-Length", "5")],
                "HTTP/1.1 200 OK",
                &[
                    "Content-Type: text/plain",
                    "Server: rsgi",
                    "Content-Length: 5",
                ],
            ),
            (
                req(H11, false, false),
                "200 OK",
                &[("Content-Length", "5")],
                "HTTP/1.1 200 OK",
                &["Server: rsgi", "Content-Length: 5", "Connection: close"],
            ),
            (
                req(H10, false, true),
                "200 OK",
                &[("Content-Length", "5")],
                "HTTP/1.0 200 OK",
                &[
                    "Server: rsgi",
                    "Content-Length: 5",
                    "Connection: keep-alive",
                ],
            ),
            (
                req(H10, false, true),
                "200 OK",
                &[],
                "HTTP/1.0 200 OK",
                &["Server: rsgi"],
            ),
            (
                req(UW, false, false),
                "404 Not Found",
                &[],
                "HTTP/1.1 404 Not Found",
                &["Server: rsgi", "Connection: close"],
            ),
            // HEAD keeps the length the GET would have, and no TE.
            (
                req(H11, true, true),
                "200 OK",
                &[("Content-Length", "5")],
                "HTTP/1.1 200 OK",
                &["Server: rsgi", "Content-Length: 5"],
            ),
            (
                req(H11, true, true),
                "200 OK",
                &[],
                "HTTP/1.1 200 OK",
                &["Server: rsgi"],
            ),
            // RFC 9110 8.6: never a Content-Length in a 204; a 304 may
            // tell the length.
            (
                req(H11, false, true),
                "204 No Content",
                &[("Content-Length", "0")],
                "HTTP/1.1 204 No Content",
                &["Server: rsgi"],
            ),
            (
                req(H11, false, true),
                "304 Not Modified",
                &[("Content-Length", "5")],
                "HTTP/1.1 304 Not Modified",
                &["Server: rsgi", "Content-Length: 5"],
            ),
            // The server owns the framing headers: the app's Content-Length
            // is written once, canonically; Transfer-Encoding, Connection
            // and Keep-Alive are the server's.
            (
                req(H11, false, true),
                "200 OK",
                &[
                    ("Content-Length", " 5"),
                    ("content-length", "5"),
                    ("Transfer-Encoding", "chunked"),
                    ("Connection", "keep-alive"),
                    ("Keep-Alive", "timeout=5"),
                ],
                "HTTP/1.1 200 OK",
                &["Server: rsgi", "Content-Length: 5"],
            ),
            (
                req(H11, false, true),
                "200 OK",
                &[("Transfer-Encoding", "gzip")],
                "HTTP/1.1 200 OK",
                &["Server: rsgi", "Transfer-Encoding: chunked"],
            ),
            // The app's Server and Date win.
            (
                req(H11, false, true),
                "200 OK",
                &[("Server", "app"), ("Date", "d"), ("Content-Length", "0")],
                "HTTP/1.1 200 OK",
                &["Server: app", "Date: d", "Content-Length: 0"],
            ),
            // A bare code gets its reason (as uWSGI); an unknown one, none.
            (
                req(H11, false, true),
                "404",
                &[("Content-Length", "0")],
                "HTTP/1.1 404 Not Found",
                &["Server: rsgi", "Content-Length: 0"],
            ),
            (
                req(H11, false, true),
                "299",
                &[("Content-Length", "0")],
                "HTTP/1.1 299 ",
                &["Server: rsgi", "Content-Length: 0"],
            ),
        ];
        for (r, status, headers, status_line, want) in cases {
            let (_, _, head) = start(r, status, headers);
            assert!(head.ends_with("\r\n\r\n"), "{head:?}");
            assert_eq!(head.split("\r\n").next(), Some(*status_line), "{head:?}");
            assert_eq!(lines(&head), *want, "{r:?} {status} {headers:?}");
            assert_eq!(head.matches("\r\nDate: ").count(), 1, "{head:?}");
        }
    }

    #[test]
    fn header_rules_apply_to_every_response() {
        use super::super::header_rules::ExtraHeader;
        let added = ["X-Frame-Options: DENY", "X-Served-By: rsgi-1"]
            .map(|h| ExtraHeader::parse(h).unwrap());
        let rules = HeaderRules::new(&added, &["x-powered-by".into(), "SERVER".into()]);
        let app = [
            ("X-Powered-By", "PHP"),
            ("Content-Type", "text/plain"),
            ("x-powered-by", "again"),
            ("Server", "app"),
        ];
        // (request, status) -> the head's lines: the app's kept headers,
        // then the added ones; HEAD, 204 and 304 get them too (RFC 9110
        // allows any field there; only the body is absent).
        let cases: &[(Request, &str, &[&str])] = &[
            (
                req(H11, false, true),
                "200 OK",
                &[
                    "Content-Type: text/plain",
                    "X-Frame-Options: DENY",
                    "X-Served-By: rsgi-1",
                    "Transfer-Encoding: chunked",
                ],
            ),
            (
                req(H11, true, true),
                "200 OK",
                &[
                    "Content-Type: text/plain",
                    "X-Frame-Options: DENY",
                    "X-Served-By: rsgi-1",
                ],
            ),
            (
                req(H11, false, true),
                "304 Not Modified",
                &[
                    "Content-Type: text/plain",
                    "X-Frame-Options: DENY",
                    "X-Served-By: rsgi-1",
                ],
            ),
            (
                req(UW, false, false),
                "204 No Content",
                &[
                    "Content-Type: text/plain",
                    "X-Frame-Options: DENY",
                    "X-Served-By: rsgi-1",
                    "Connection: close",
                ],
            ),
        ];
        for (r, status, want) in cases {
            let mut head = ResponseHead::new(status.as_bytes(), app.len()).unwrap();
            for (n, v) in app {
                head.push_header(n.as_bytes(), v.as_bytes()).unwrap();
            }
            let mut out = Output::default();
            Encoder::start(r, &head, &rules, &mut out);
            let text = String::from_utf8(out.pending().to_vec()).unwrap();
            assert_eq!(lines(&text), *want, "{r:?} {status}");
            // The server's Date stays: an origin server with a clock sends
            // one (RFC 9110 6.6.1).
            assert_eq!(text.matches("\r\nDate: ").count(), 1, "{text:?}");
        }
        // An added Server or Date replaces the server's own.
        let own = HeaderRules::new(
            &[ExtraHeader::parse("Server: edge").unwrap()],
            &["Date".into()],
        );
        let mut head = ResponseHead::new(b"200 OK", 1).unwrap();
        head.push_header(b"Date", b"yesterday").unwrap();
        let mut out = Output::default();
        Encoder::start(&req(H11, true, true), &head, &own, &mut out);
        let text = String::from_utf8(out.pending().to_vec()).unwrap();
        assert_eq!(lines(&text), ["Server: edge"], "{text:?}");
        assert!(
            !text.contains("yesterday") && text.contains("\r\nDate: "),
            "{text:?}"
        );
    }

    #[test]
    fn an_added_connection_close_ends_every_connection() {
        use super::super::header_rules::ExtraHeader;
        let rules = HeaderRules::new(&[ExtraHeader::parse("Connection: close").unwrap()], &[]);
        let head = ResponseHead::new(b"200 OK", 0).unwrap();
        for wire in [H10, H11, UW] {
            let mut out = Output::default();
            let enc = Encoder::start(&req(wire, false, true), &head, &rules, &mut out);
            assert!(!enc.keep_alive(), "{wire:?}");
            let text = String::from_utf8(out.pending().to_vec()).unwrap();
            let closes = text.matches("Connection: close").count();
            assert_eq!(closes, usize::from(wire != H10), "{wire:?}: {text:?}");
            assert!(!text.contains("keep-alive"), "{text:?}");
        }
    }

    /// Encode `chunks` and finish; the body bytes as they go on the wire.
    fn body(
        r: &Request,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
    ) -> (Vec<u8>, Result<(), ShortBody>, Encoder) {
        let (mut enc, mut out, head) = start(r, "200 OK", headers);
        for c in chunks {
            enc.body(c, &mut out);
        }
        let end = enc.finish(&mut out);
        (out.pending()[head.len()..].to_vec(), end, enc)
    }

    #[test]
    fn bodies_are_framed() {
        let r = req(H11, false, true);
        let (wire, end, _) = body(&r, &[], &[b"hello", b"", b" world"]);
        assert_eq!(wire, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        assert_eq!(end, Ok(()));
        let (wire, end, _) = body(&r, &[], &[]);
        assert_eq!(wire, b"0\r\n\r\n");
        assert_eq!(end, Ok(()));
        let (wire, _, _) = body(&r, &[], &[&[b'x'; 4096]]);
        assert!(wire.starts_with(b"1000\r\n"));
        let (wire, end, _) = body(&req(H10, false, true), &[], &[b"hello", b" world"]);
        assert_eq!((wire.as_slice(), end), (&b"hello world"[..], Ok(())));
        let (wire, _, _) = body(&req(H11, true, true), &[], &[b"hello"]);
        assert_eq!(wire, b"");
    }

    #[test]
    fn a_length_is_never_exceeded_and_a_short_body_closes() {
        let r = req(H11, false, true);
        let cl = [("Content-Length", "5")];
        let (wire, end, enc) = body(&r, &cl, &[b"hel", b"lo, and more"]);
        assert_eq!((wire.as_slice(), end), (&b"hello"[..], Ok(())));
        assert!(enc.keep_alive());
        let (wire, end, enc) = body(&r, &cl, &[b"hel"]);
        assert_eq!(wire, b"hel");
        assert_eq!(
            end,
            Err(ShortBody {
                declared: 5,
                missing: 2
            })
        );
        assert!(!enc.keep_alive(), "a short body must close the connection");
    }

    #[test]
    fn files_are_framed_around_sendfile() {
        // Chunked: the size line before, the CRLF after.
        let (mut enc, mut out, _) = start(&req(H11, false, true), "200 OK", &[]);
        let count = enc.begin_file(10, &mut out);
        assert_eq!(count, 10);
        assert!(out.pending().ends_with(b"\r\n\r\na\r\n"));
        let n = out.pending().len();
        out.advance(n);
        enc.end_file(count, 10, &mut out);
        enc.finish(&mut out).unwrap();
        assert_eq!(out.pending(), b"\r\n0\r\n\r\n");
        assert_eq!(out.body_sent(), 10);
        let n = out.pending().len();
        out.advance(n);
        assert_eq!(out.body_sent(), 10);
        // Length: clamped to what is still owed.
        let (mut enc, mut out, _) =
            start(&req(H11, false, true), "200 OK", &[("Content-Length", "4")]);
        enc.body(b"ab", &mut out);
        assert_eq!(enc.begin_file(10, &mut out), 2);
        // No body: nothing to send.
        let (mut enc, mut out, _) = start(&req(H11, true, true), "200 OK", &[]);
        assert_eq!(enc.begin_file(10, &mut out), 0);
        // An empty file adds no chunk (a zero size would end the body).
        let (mut enc, mut out, head) = start(&req(H11, false, true), "200 OK", &[]);
        assert_eq!(enc.begin_file(0, &mut out), 0);
        assert_eq!(out.pending().len(), head.len());
    }

    #[test]
    fn head_and_body_bytes_sent_are_counted_exactly_whatever_the_cut() {
        let chunks: [&[u8]; 3] = [b"hello", b" ", b"world!"];
        for (r, headers) in [
            (req(H11, false, true), &[][..]),
            (req(H11, false, true), &[("Content-Length", "12")][..]),
            (req(H10, false, false), &[][..]),
        ] {
            let (mut enc, mut out, head) = start(&r, "200 OK", headers);
            for c in chunks {
                enc.body(c, &mut out);
            }
            enc.finish(&mut out).unwrap();
            let wire = out.pending().to_vec();
            // Cut the wire at every byte: the body bytes before the cut
            // are what a client reading the framing would have got.
            for cut in 0..=wire.len() {
                let mut partial = out.clone();
                partial.advance(cut);
                let got = if cut <= head.len() {
                    0
                } else if enc.framing() == Framing::Chunked {
                    dechunked_prefix(&wire[head.len()..cut])
                } else {
                    (cut - head.len()) as u64
                };
                assert_eq!(partial.body_sent(), got, "{headers:?} cut at {cut}");
                assert_eq!(partial.head_sent(), cut.min(head.len()) as u64);
                assert_eq!(partial.body_queued(), 12);
                assert_eq!(partial.committed(), cut > 0);
            }
        }
    }

    /// Body bytes in a prefix of a chunked body, by a separate reading.
    fn dechunked_prefix(mut wire: &[u8]) -> u64 {
        let mut body = 0;
        loop {
            let Some(line) = wire.windows(2).position(|w| w == b"\r\n") else {
                return body;
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&wire[..line]).unwrap(), 16).unwrap();
            wire = &wire[line + 2..];
            if size == 0 {
                return body;
            }
            body += size.min(wire.len()) as u64;
            if wire.len() < size + 2 {
                return body;
            }
            wire = &wire[size + 2..];
        }
    }

    #[test]
    fn an_abort_drops_what_is_queued_and_keeps_the_count() {
        let (mut enc, mut out, head) = start(&req(H11, false, true), "200 OK", &[]);
        enc.body(b"hello", &mut out);
        out.advance(head.len() + 3 + 2);
        enc.body(b"more", &mut out);
        enc.abort(&mut out);
        assert!(out.aborted() && !enc.keep_alive());
        assert!(out.pending().is_empty());
        assert_eq!(out.body_sent(), 2);
        assert_eq!(out.head_sent(), head.len() as u64);
        assert!(!out.close_delimited());
        let (mut enc, mut out, _) = start(&req(H10, false, true), "200 OK", &[]);
        enc.abort(&mut out);
        assert!(
            out.close_delimited(),
            "a cut close-delimited body needs a reset"
        );
    }

    #[test]
    fn a_response_not_yet_sent_can_be_replaced() {
        let (mut enc, mut out, _) = start(&req(H11, false, true), "200 OK", &[]);
        enc.body(b"hello", &mut out);
        assert!(!out.committed());
        out.discard();
        assert_eq!(out, Output::default());
        let (_, _, head) = start(&req(H11, false, true), "500 Internal Server Error", &[]);
        assert!(head.starts_with("HTTP/1.1 500 "));
    }

    #[test]
    fn numbers() {
        for (n, dec, hex) in [
            (0u64, "0", "0\r\n"),
            (10, "10", "a\r\n"),
            (4096, "4096", "1000\r\n"),
            (u64::MAX, "18446744073709551615", "ffffffffffffffff\r\n"),
        ] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(out, dec.as_bytes());
            out.clear();
            push_chunk_size(n, &mut out);
            assert_eq!(out, hex.as_bytes());
        }
    }
}

#[cfg(test)]
mod property {
    use proptest::prelude::*;

    use super::*;

    /// Header names the framing rules care about, and any bytes.
    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"Content-Length".to_vec()),
            Just(b"content-length".to_vec()),
            Just(b"Transfer-Encoding".to_vec()),
            Just(b"Connection".to_vec()),
            Just(b"Date".to_vec()),
            Just(b"X-A".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ]
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[0-9]{1,3}".prop_map(String::into_bytes),
            Just(b"chunked".to_vec()),
            Just(b"close".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ]
    }

    fn status() -> impl Strategy<Value = Vec<u8>> {
        ("[0-9]{3}", proptest::collection::vec(any::<u8>(), 0..8)).prop_map(|(code, reason)| {
            let mut s = code.into_bytes();
            if !reason.is_empty() {
                s.push(b' ');
                s.extend(reason);
            }
            s
        })
    }

    /// Decode a chunked body; the body and the bytes after its end.
    fn dechunk(mut wire: &[u8]) -> Option<(Vec<u8>, &[u8])> {
        let mut body = Vec::new();
        loop {
            let line = wire.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&wire[..line]).ok()?, 16).ok()?;
            wire = &wire[line + 2..];
            if size == 0 {
                return Some((body, wire.strip_prefix(b"\r\n")?));
            }
            body.extend_from_slice(wire.get(..size)?);
            wire = wire.get(size..)?.strip_prefix(b"\r\n")?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever an app gives, a head that passes the checks encodes to
        /// exactly one response that a parser reads with the same status,
        /// one framing header at most, and the body framed as declared,
        /// with nothing after it: no input splits or smuggles a response.
        #[test]
        fn an_accepted_head_is_exactly_one_well_framed_response(
            status in status(),
            headers in proptest::collection::vec((name(), value()), 0..5),
            wire in prop_oneof![Just(Wire::Http10), Just(Wire::Http11), Just(Wire::Uwsgi)],
            head_only in any::<bool>(),
            keep_alive in any::<bool>(),
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4),
        ) {
            let Ok(mut head) = ResponseHead::new(&status, headers.len()) else {
                return Ok(());
            };
            for (n, v) in &headers {
                if head.push_header(n, v).is_err() {
                    return Ok(());
                }
            }
            let req = Request { wire, head: head_only, keep_alive };
            let mut out = Output::default();
            let mut enc = Encoder::start(&req, &head, &HeaderRules::NONE, &mut out);
            for c in &chunks {
                enc.body(c, &mut out);
            }
            let short = enc.finish(&mut out);
            let bytes = out.pending().to_vec();

            let mut parsed_headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Response::new(&mut parsed_headers);
            let end = match parsed.parse(&bytes) {
                Ok(httparse::Status::Complete(end)) => end,
                other => return Err(TestCaseError::fail(format!("{other:?}: {:?}", String::from_utf8_lossy(&bytes)))),
            };
            prop_assert_eq!(parsed.code, Some(head.code()));
            let count = |name: &str| parsed.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).count();
            prop_assert!(count("content-length") <= 1);
            prop_assert!(count("transfer-encoding") <= 1);
            prop_assert!(count("content-length") + count("transfer-encoding") <= 1);
            prop_assert!(count("connection") <= 1);

            let rest = &bytes[end..];
            let given: Vec<u8> = chunks.concat();
            let body = match enc.framing() {
                Framing::NoBody => {
                    prop_assert!(rest.is_empty());
                    Vec::new()
                }
                Framing::Close => rest.to_vec(),
                Framing::Length(_) => {
                    let declared = head.declared().content_length.unwrap_or(0) as usize;
                    prop_assert_eq!(short.is_err(), given.len() < declared);
                    prop_assert_eq!(rest, &given[..given.len().min(declared)]);
                    rest.to_vec()
                }
                Framing::Chunked => {
                    let (body, after) = dechunk(rest).ok_or_else(|| TestCaseError::fail("bad chunks"))?;
                    prop_assert!(after.is_empty());
                    prop_assert_eq!(&body, &given);
                    body
                }
            };
            prop_assert_eq!(out.body_queued(), body.len() as u64);
            let n = bytes.len();
            out.advance(n);
            prop_assert_eq!(out.body_sent(), body.len() as u64);
            prop_assert_eq!(out.head_sent(), end as u64);
        }
    }
}
