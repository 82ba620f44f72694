//! Wire protocols: HTTP/1.1 and uwsgi. Pure functions from bytes to typed
//! heads and from response parts to bytes; no I/O lives here.

pub mod head;

pub use head::{BodyFraming, HeadKind, RequestHead, Span};
