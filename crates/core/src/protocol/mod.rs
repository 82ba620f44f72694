//! Wire protocols: HTTP/1.1 and uwsgi. Pure functions from bytes to typed
//! heads and from response parts to bytes; no I/O lives here.
//!
//! - [`head`]: `RequestHead`, what both parsers produce.
//! - [`http`]: HTTP/1.1 request heads (RFC 9112), limits and their statuses.
//! - [`chunked`]: the incremental chunked-body decoder.
//! - [`uwsgi`]: uwsgi packets from nginx's `uwsgi_pass`.
//! - [`target`]: request-target forms and the normalized request path.
//! - [`response`]: what a valid response status and header is, what the
//!   headers declare about framing; reason phrases, the cached Date.
//! - [`header_rules`]: `add-header` and `del-header`, which the encoder
//!   applies to every response.
//! - [`encode`]: response framing (Content-Length, chunked, close, none),
//!   the head and chunks on the wire, the count of body bytes sent.

pub mod chunked;
pub mod encode;
pub mod head;
pub mod header_rules;
pub mod http;
pub mod response;
pub mod target;
pub mod uwsgi;

pub use head::{BodyFraming, HeadKind, RequestHead, RequestPath, Span};
