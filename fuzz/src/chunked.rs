//! `protocol::chunked::ChunkedDecoder`, fed as `worker::body` feeds it:
//! whatever bytes each read brought. Input: one byte that picks how the
//! stream is cut into reads, then the bytes after the request head.
//!
//! Invariants: every way of cutting the stream gives the same body, the
//! same end and the same error; every read is consumed whole unless the
//! body ends in it; limit-post holds to the byte; and the decoder agrees
//! with [`reference`], a whole-buffer reading of RFC 9112 7.1 written
//! separately, wherever both accept, and refuses what it refuses.

use rsgi_core::protocol::chunked::{ChunkedDecoder, ChunkedError};

pub fn check(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, 0, 0);
    let cut = decode(stream, seed, 0);
    assert_eq!(whole, cut, "cut by seed {seed}");
    agrees_with_reference(stream, &whole);
    if let Outcome::Done { body, .. } = &whole {
        limit_post_is_exact(stream, &whole, body.len() as u64);
    }
}

/// How a decode ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The body is complete after `used` bytes.
    Done {
        body: Vec<u8>,
        used: usize,
    },
    /// Every byte was taken; the body goes on.
    More {
        body: Vec<u8>,
    },
    Failed(ChunkedError),
}

/// Decode `stream` in reads whose lengths cycle through 1..=seed % 17
/// (0: one read of everything).
fn decode(stream: &[u8], seed: u8, max_body: u64) -> Outcome {
    let step = usize::from(seed % 17);
    let mut decoder = ChunkedDecoder::new(max_body);
    let mut body = Vec::new();
    let (mut at, mut n) = (0, 0);
    loop {
        let len = if step == 0 {
            stream.len() - at
        } else {
            n = n % step + 1;
            n.min(stream.len() - at)
        };
        let read = &stream[at..at + len];
        match decoder.decode(read, &mut body) {
            Err(e) => return Outcome::Failed(e),
            Ok(d) if d.done => {
                assert!(d.consumed <= read.len());
                return Outcome::Done {
                    body,
                    used: at + d.consumed,
                };
            }
            Ok(d) => assert_eq!(d.consumed, read.len(), "a read not taken whole"),
        }
        at += len;
        if at == stream.len() {
            return Outcome::More { body };
        }
    }
}

/// limit-post at exactly the body's size passes; one byte less is a 413.
fn limit_post_is_exact(stream: &[u8], unlimited: &Outcome, size: u64) {
    if size == 0 {
        return;
    }
    assert_eq!(&decode(stream, 0, size), unlimited);
    if size > 1 {
        assert_eq!(
            decode(stream, 0, size - 1),
            Outcome::Failed(ChunkedError::TooLarge)
        );
    }
}

/// The errors that are rsgi's own bounds, not the grammar's.
fn is_limit(e: &ChunkedError) -> bool {
    matches!(
        e,
        ChunkedError::LineTooLong
            | ChunkedError::ExtensionsTooLarge
            | ChunkedError::TrailersTooLarge
            | ChunkedError::TooLarge
    )
}

fn agrees_with_reference(stream: &[u8], got: &Outcome) {
    let want = reference(stream);
    match (got, &want) {
        (Outcome::Failed(e), _) if is_limit(e) => {}
        (Outcome::Done { body, used }, Reference::Complete { body: b, used: u }) => {
            assert_eq!((body, used), (b, u));
        }
        (Outcome::More { body }, Reference::Incomplete { body: b }) => assert_eq!(body, b),
        (Outcome::Failed(_), Reference::Invalid) => {}
        _ => panic!("decoder {got:?}, reference {want:?}"),
    }
}

/// What the reference reading found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Complete {
        body: Vec<u8>,
        used: usize,
    },
    /// Valid so far (with the body so far).
    Incomplete {
        body: Vec<u8>,
    },
    Invalid,
}

/// How far a line has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its CRLF came; the next line starts here.
    Next(usize),
    /// Its CR came, its LF not yet: nothing that follows can make it
    /// valid, so it is judged as complete.
    Cr,
    /// More of it may come.
    Open,
}

/// One line from `at`: its content without CRLF, and how far it came. A
/// line ends in CRLF and holds no other CR or LF (RFC 9112 2.2: no bare
/// CR; rsgi takes no bare LF either).
fn line(stream: &[u8], at: usize) -> Result<(&[u8], End), ()> {
    let rest = &stream[at..];
    let (content, end) = match rest.iter().position(|&b| b == b'\n') {
        Some(lf) => (
            rest[..lf].strip_suffix(b"\r").ok_or(())?,
            End::Next(at + lf + 1),
        ),
        None => match rest.strip_suffix(b"\r") {
            Some(content) => (content, End::Cr),
            None => (rest, End::Open),
        },
    };
    if content.contains(&b'\r') {
        return Err(());
    }
    Ok((content, end))
}

/// chunk-size [ BWS ";" chunk-ext ] (RFC 9112 7.1, 7.1.1). The size is
/// hex without sign or prefix; whitespace may only come before a `;`.
/// Extensions are not parsed: a recipient "MUST ignore unrecognized chunk
/// extensions", and rsgi takes any bytes but CR and LF in them.
/// `Ok(None)`: a valid start of a line that goes on.
fn size_line(content: &[u8], complete: bool) -> Result<Option<u64>, ()> {
    let digits = content.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    // A size that does not fit in 64 bits is refused as soon as it is seen.
    let size = match digits {
        0 => None,
        _ => Some(
            u64::from_str_radix(std::str::from_utf8(&content[..digits]).map_err(|_| ())?, 16)
                .map_err(|_| ())?,
        ),
    };
    let rest = &content[digits..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let ext = &rest[blanks..];
    match (size, ext.first()) {
        (None, _) if complete || !content.is_empty() => Err(()),
        (None, _) => Ok(None),
        (Some(_), Some(b';')) | (Some(_), None) if !complete => Ok(None),
        (Some(size), Some(b';')) => Ok(Some(size)),
        (Some(size), None) if blanks == 0 => Ok(Some(size)),
        _ => Err(()),
    }
}

/// chunked-body = *chunk last-chunk trailer-section CRLF, read from a
/// whole buffer at once. Trailer lines are not parsed (rsgi discards
/// them): any line that is not empty is one.
pub fn reference(stream: &[u8]) -> Reference {
    let mut body = Vec::new();
    let (mut at, mut total) = (0, 0u64);
    let incomplete = |body: Vec<u8>| Reference::Incomplete { body };
    loop {
        let Ok((content, end)) = line(stream, at) else {
            return Reference::Invalid;
        };
        let size = match size_line(content, end != End::Open) {
            Err(()) => return Reference::Invalid,
            Ok(None) => return incomplete(body),
            Ok(Some(size)) => size,
        };
        let End::Next(next) = end else {
            return incomplete(body);
        };
        at = next;
        if size == 0 {
            break;
        }
        // The body's total size is a 64-bit number too.
        let Some(sum) = total.checked_add(size) else {
            return Reference::Invalid;
        };
        total = sum;
        let available = (stream.len() - at) as u64;
        if available < size {
            body.extend_from_slice(&stream[at..]);
            return incomplete(body);
        }
        let end = at + size as usize;
        body.extend_from_slice(&stream[at..end]);
        match &stream[end..] {
            [b'\r', b'\n', ..] => at = end + 2,
            [] | [b'\r'] => return incomplete(body),
            _ => return Reference::Invalid,
        }
    }
    loop {
        match line(stream, at) {
            Err(()) => return Reference::Invalid,
            Ok((_, End::Cr | End::Open)) => return incomplete(body),
            Ok((content, End::Next(next))) => {
                at = next;
                if content.is_empty() {
                    return Reference::Complete { body, used: at };
                }
            }
        }
    }
}
