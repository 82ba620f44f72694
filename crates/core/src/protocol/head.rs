//! The request head both protocols produce, and the WSGI layer consumes.
//!
//! A head owns the raw bytes it was parsed from and refers to its parts by
//! ranges, so parsing costs one copy of the head and no allocation per
//! header; the environ builder then reads `&str` slices straight out of it.

use std::ops::Range;

/// Byte range into [`RequestHead::buf`]. `u32` keeps a header pair at 16 bytes.
pub type Span = Range<u32>;

/// How the request body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// HTTP/1.1 chunked transfer-coding.
    Chunked,
}

/// What differs between the two wire protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadKind {
    /// An HTTP/1.x request line and headers.
    Http {
        method: Span,
        /// The raw request-target, as sent (becomes REQUEST_URI).
        target: Span,
        /// The target's query, without its `?` (QUERY_STRING).
        query: Span,
        /// The host of an absolute-form target, which stands in for the
        /// Host header (RFC 9112 3.2.2).
        authority: Option<Span>,
        /// 0 for HTTP/1.0, 1 for HTTP/1.1.
        minor_version: u8,
        /// Header (name, value) pairs in wire order; names as sent.
        headers: Vec<(Span, Span)>,
    },
    /// A uwsgi packet's vars block: CGI variables set by the front server.
    Uwsgi {
        modifier1: u8,
        modifier2: u8,
        vars: Vec<(Span, Span)>,
    },
}

/// The path a request names, percent-decoded (HTTP) and with dot segments
/// removed: PATH_INFO before a mountpoint is taken off, and what the
/// mountpoints are matched against. Parsers compute it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestPath {
    /// The bytes at this span of the head already are the path.
    Raw(Span),
    /// The path differs from anything in the head (decoded or normalized).
    Owned(Box<[u8]>),
}

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The bytes every [`Span`] points into. Parsers guarantee every span is
    /// in bounds and, for the spans `str_at` is used on, valid UTF-8 or
    /// latin-1 mapped text (see `text_at`).
    pub buf: Vec<u8>,
    pub kind: HeadKind,
    pub path: RequestPath,
    pub body: BodyFraming,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue` and waits for a go-ahead.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The raw bytes of a span.
    pub fn bytes_at(&self, span: &Span) -> &[u8] {
        &self.buf[span.start as usize..span.end as usize]
    }

    /// The request path (see [`RequestPath`]).
    pub fn path(&self) -> &[u8] {
        match &self.path {
            RequestPath::Raw(span) => self.bytes_at(span),
            RequestPath::Owned(path) => path,
        }
    }

    /// Whether the method is HEAD (its answer has no content: RFC 9110
    /// 9.3.2).
    pub fn is_head(&self) -> bool {
        match &self.kind {
            HeadKind::Http { method, .. } => self.bytes_at(method) == b"HEAD",
            HeadKind::Uwsgi { .. } => self.var("REQUEST_METHOD") == Some(b"HEAD"),
        }
    }

    /// The request URI as sent: the request-target, or for uwsgi
    /// REQUEST_URI (PATH_INFO when the front server sent none).
    pub fn uri(&self) -> &[u8] {
        match &self.kind {
            HeadKind::Http { target, .. } => self.bytes_at(target),
            HeadKind::Uwsgi { .. } => self
                .var("REQUEST_URI")
                .or_else(|| self.var("PATH_INFO"))
                .unwrap_or_default(),
        }
    }
}
