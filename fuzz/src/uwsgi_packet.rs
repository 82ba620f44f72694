//! `protocol::uwsgi::parse_packet`, the uwsgi packet parser the worker
//! calls after every read on a `socket`. Input: the bytes nginx (or any
//! uwsgi client) sent.
//!
//! On success: the packet is exactly its 4-byte header and `datasize`
//! bytes, its vars written out again give back those bytes (nothing
//! skipped, nothing invented), every span lies inside the vars block, the
//! body length is the last CONTENT_LENGTH, and the path has no dot segment
//! or NUL. buffer-size and limit-post hold to the byte, and a shorter
//! prefix always says "need more".

use rsgi_core::protocol::http::Limits;
use rsgi_core::protocol::uwsgi::{self, UwsgiError};
use rsgi_core::protocol::{BodyFraming, HeadKind, RequestHead, RequestPath};

/// buffer-size and limit-post at their defaults.
pub const LIMITS: Limits = Limits {
    max_head: 4096,
    max_body: 100 << 20,
};

pub fn check(data: &[u8]) {
    let parsed = uwsgi::parse_packet(data, &LIMITS);
    let declared = match data {
        [_, lo, hi, _, ..] => Some(4 + usize::from(u16::from_le_bytes([*lo, *hi]))),
        _ => None,
    };
    match &parsed {
        Err(e) => {
            assert!([400, 413, 431].contains(&e.status()), "{e:?}");
            if let UwsgiError::TooLarge(size, _) = e {
                assert!(*size > LIMITS.max_head);
            }
        }
        Ok(None) => assert!(declared.is_none_or(|total| data.len() < total)),
        Ok(Some((head, len))) => {
            assert_eq!(Some(*len), declared);
            check_head(data, head, *len);
            for cut in [0, 3, len / 2, len - 1] {
                assert_eq!(
                    uwsgi::parse_packet(&data[..cut.min(*len)], &LIMITS),
                    Ok(None)
                );
            }
            assert_eq!(uwsgi::parse_packet(&data[..*len], &LIMITS), parsed);
            limits_are_exact(data, head, *len);
        }
    }
}

fn check_head(data: &[u8], head: &RequestHead, len: usize) {
    assert_eq!(head.buf, data[..len]);
    assert_eq!(data[0], 0, "only modifier1 0 (WSGI) is served");
    let HeadKind::Uwsgi {
        modifier1,
        modifier2,
        vars,
    } = &head.kind
    else {
        panic!("a uwsgi parse gave an HTTP head");
    };
    assert_eq!((*modifier1, *modifier2), (data[0], data[3]));
    // Written out again, the vars are the block, byte for byte.
    let mut block = Vec::new();
    for (k, v) in vars {
        for span in [k, v] {
            assert!(span.start >= 4 && span.start <= span.end && span.end as usize <= len);
            let bytes = head.bytes_at(span);
            block.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            block.extend_from_slice(bytes);
        }
    }
    assert_eq!(block, data[4..len], "the vars are the whole block");

    let content_length = head.var("CONTENT_LENGTH");
    match head.body {
        BodyFraming::Length(n) => {
            assert!(n > 0 && n <= LIMITS.max_body);
            let said = content_length.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
            assert_eq!(said, Some(n), "the body length is the last CONTENT_LENGTH");
        }
        BodyFraming::Empty => {
            assert!(content_length.is_none_or(|v| v.iter().all(|&b| b == b'0')));
        }
        BodyFraming::Chunked => panic!("a uwsgi body is never chunked"),
    }
    assert!(!head.keep_alive && !head.expect_continue);

    match (&head.path, head.var("PATH_INFO")) {
        (RequestPath::Raw(span), None) => assert!(span.is_empty()),
        (RequestPath::Raw(_), Some(info)) => assert_eq!(head.path(), info),
        (RequestPath::Owned(_), info) => assert!(info.is_some()),
    }
    let path = head.path();
    assert!(!path.contains(&0), "a NUL in the path");
    if path.starts_with(b"/") {
        assert!(
            !path.split(|&b| b == b'/').any(|s| s == b"." || s == b".."),
            "dot segments left in {path:?}"
        );
    }
}

/// buffer-size bounds the vars block, limit-post the body, to the byte.
fn limits_are_exact(data: &[u8], head: &RequestHead, len: usize) {
    let at = |max_head, max_body| uwsgi::parse_packet(data, &Limits { max_head, max_body });
    let size = len - 4;
    assert!(matches!(at(size, LIMITS.max_body), Ok(Some(_))));
    if size > 0 {
        assert!(matches!(
            at(size - 1, LIMITS.max_body),
            Err(UwsgiError::TooLarge(..))
        ));
    }
    if let BodyFraming::Length(n) = head.body {
        assert!(matches!(at(size, n), Ok(Some(_))));
        if n > 1 {
            assert!(matches!(
                at(size, n - 1),
                Err(UwsgiError::BodyTooLarge { .. })
            ));
        }
    }
}
