//! What a GET or HEAD of a file answers, given its validators and the
//! request's conditional and range headers (RFC 9110 13 and 14).

use super::httpdate;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Modification time, in whole seconds (HTTP dates have no finer grain).
    pub mtime: u64,
    pub size: u64,
}

impl Validators {
    /// A strong entity tag from the mtime and the size, as nginx makes
    /// its own (`"5f1c2a3b-1a2b"`). The gzip variant is another file and
    /// so has another tag, as RFC 9110 8.8.3 wants of another encoding.
    pub fn etag(&self) -> String {
        format!("\"{:x}-{:x}\"", self.mtime, self.size)
    }
}

/// The request headers that decide the answer (raw values; several
/// header lines of one name joined with commas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// GET (ranges apply) rather than HEAD (RFC 9110 14.2: GET is the
    /// only method range handling is defined for).
    pub get: bool,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 304: the client's copy is current.
    NotModified,
    /// 200 with the whole file.
    Full,
    /// 206 with bytes `first..=last`.
    Partial { first: u64, last: u64 },
    /// 416, with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// RFC 9110 13.2.2's order for GET and HEAD: If-None-Match, and only
/// without it If-Modified-Since; then Range, honoured only while
/// If-Range (when sent) still names this version.
pub fn decide(c: &Conditions<'_>, v: &Validators) -> Decision {
    let etag = v.etag();
    match c.if_none_match {
        // 13.1.2: weak comparison; `*` matches any current representation.
        Some(list) if matches_any(list, &etag) => return Decision::NotModified,
        Some(_) => {}
        None => {
            // 13.1.3: an invalid date is ignored.
            if let Some(since) = c.if_modified_since.and_then(httpdate::parse)
                && v.mtime <= since
            {
                return Decision::NotModified;
            }
        }
    }
    let Some(range) = c.range.filter(|_| c.get) else {
        return Decision::Full;
    };
    if let Some(if_range) = c.if_range
        && !if_range_holds(if_range, &etag, v.mtime)
    {
        return Decision::Full;
    }
    match parse_range(range, v.size) {
        RangeAnswer::Ignore => Decision::Full,
        RangeAnswer::Unsatisfiable => Decision::Unsatisfiable,
        RangeAnswer::Bytes(first, last) => Decision::Partial { first, last },
    }
}

/// Whether an If-None-Match list names `etag` (weak comparison: the
/// client's `W/` prefix does not matter; ours are strong).
fn matches_any(list: &[u8], etag: &str) -> bool {
    let list = String::from_utf8_lossy(list);
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// RFC 9110 13.1.5: an entity tag must match strongly (a weak one never
/// does); a date only if it is exactly the Last-Modified, which is a
/// strong validator here since a file's date cannot change twice within
/// the second it was last written without the size or tag telling.
fn if_range_holds(value: &[u8], etag: &str, mtime: u64) -> bool {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    if text.starts_with('"') {
        return text == etag;
    }
    if text.starts_with("W/") {
        return false;
    }
    httpdate::parse(text.as_bytes()) == Some(mtime)
}

enum RangeAnswer {
    /// No single byte range the server must honour: send the whole file.
    Ignore,
    Unsatisfiable,
    Bytes(u64, u64),
}

/// A Range header (RFC 9110 14.1.2) for a file of `size` bytes. Anything
/// unparsable, another unit, or several ranges (which RFC 9110 14.2 lets
/// a server answer with the whole representation) are ignored; a range
/// starting at or past the end, or an empty suffix, is unsatisfiable. An
/// empty file has no byte to range over, so it is sent whole.
fn parse_range(value: &[u8], size: u64) -> RangeAnswer {
    let Ok(text) = std::str::from_utf8(value) else {
        return RangeAnswer::Ignore;
    };
    let Some((unit, set)) = text.trim().split_once('=') else {
        return RangeAnswer::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || size == 0 {
        return RangeAnswer::Ignore;
    }
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeAnswer::Ignore;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if first.is_empty() {
        // A suffix: the last N bytes.
        return match number(last) {
            None => RangeAnswer::Ignore,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Bytes(size - n.min(size), size - 1),
        };
    }
    let Some(first) = number(first) else {
        return RangeAnswer::Ignore;
    };
    let last = if last.is_empty() {
        size - 1
    } else {
        match number(last) {
            Some(l) if l >= first => l.min(size - 1),
            // 14.1.1: last < first makes the range-spec invalid.
            _ => return RangeAnswer::Ignore,
        }
    };
    if first >= size {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Bytes(first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MTIME: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    const V: Validators = Validators {
        mtime: MTIME,
        size: 1000,
    };

    fn get() -> Conditions<'static> {
        Conditions {
            get: true,
            ..Conditions::default()
        }
    }

    #[test]
    fn etag_is_mtime_and_size_in_hex() {
        assert_eq!(V.etag(), "\"2ebc98a1-3e8\"");
    }

    #[test]
    fn conditional_gets() {
        let tag = V.etag();
        let weak = format!("W/{tag}");
        let listed = format!("\"other\", {tag}");
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Decision);
        let cases: Vec<Case> = vec![
            (None, None, Decision::Full),
            (Some(tag.as_bytes()), None, Decision::NotModified),
            (Some(weak.as_bytes()), None, Decision::NotModified),
            (Some(listed.as_bytes()), None, Decision::NotModified),
            (Some(b"*"), None, Decision::NotModified),
            (Some(b"\"other\""), None, Decision::Full),
            // If-None-Match wins over If-Modified-Since (13.2.2).
            (
                Some(b"\"other\""),
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                Decision::Full,
            ),
            (
                None,
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                Decision::NotModified,
            ),
            (
                None,
                Some(b"Sun, 06 Nov 1994 08:49:38 GMT"),
                Decision::NotModified,
            ),
            (None, Some(b"Sun, 06 Nov 1994 08:49:36 GMT"), Decision::Full),
            (
                None,
                Some(b"Sunday, 06-Nov-94 08:49:37 GMT"),
                Decision::NotModified,
            ),
            (None, Some(b"not a date"), Decision::Full),
        ];
        for (inm, ims, want) in cases {
            let c = Conditions {
                if_none_match: inm,
                if_modified_since: ims,
                ..get()
            };
            assert_eq!(decide(&c, &V), want, "{inm:?} {ims:?}");
        }
    }

    #[test]
    fn ranges() {
        use Decision::*;
        let cases: &[(&str, Decision)] = &[
            ("bytes=0-99", Partial { first: 0, last: 99 }),
            (
                "bytes=100-",
                Partial {
                    first: 100,
                    last: 999,
                },
            ),
            (
                "bytes=-100",
                Partial {
                    first: 900,
                    last: 999,
                },
            ),
            (
                "bytes=-5000",
                Partial {
                    first: 0,
                    last: 999,
                },
            ),
            (
                "bytes=990-5000",
                Partial {
                    first: 990,
                    last: 999,
                },
            ),
            ("BYTES = 1-1", Partial { first: 1, last: 1 }),
            (
                "bytes=999-999",
                Partial {
                    first: 999,
                    last: 999,
                },
            ),
            ("bytes=1000-", Unsatisfiable),
            ("bytes=1000-2000", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            // Several ranges: the whole file (RFC 9110 14.2 allows it).
            ("bytes=0-1,5-6", Full),
            ("bytes=0-1, ", Partial { first: 0, last: 1 }),
            // Invalid: ignored.
            ("bytes=5-1", Full),
            ("bytes=a-b", Full),
            ("bytes=+1-2", Full),
            ("bytes=", Full),
            ("items=0-1", Full),
            ("bytes 0-1", Full),
            ("bytes=99999999999999999999999-", Full),
        ];
        for (range, want) in cases {
            let c = Conditions {
                range: Some(range.as_bytes()),
                ..get()
            };
            assert_eq!(decide(&c, &V), *want, "{range}");
        }
        // HEAD ignores Range; an empty file is sent whole.
        let head = Conditions {
            get: false,
            range: Some(b"bytes=0-1"),
            ..Conditions::default()
        };
        assert_eq!(decide(&head, &V), Full);
        let empty = Validators { mtime: 1, size: 0 };
        let c = Conditions {
            range: Some(b"bytes=0-1"),
            ..get()
        };
        assert_eq!(decide(&c, &empty), Full);
    }

    #[test]
    fn if_range_keeps_the_range_only_for_this_version() {
        let tag = V.etag();
        let partial = Decision::Partial { first: 0, last: 9 };
        let weak = format!("W/{tag}");
        let cases: &[(&[u8], Decision)] = &[
            (tag.as_bytes(), partial),
            (b"\"other\"", Decision::Full),
            (weak.as_bytes(), Decision::Full),
            (b"Sun, 06 Nov 1994 08:49:37 GMT", partial),
            (b"Sun, 06 Nov 1994 08:49:38 GMT", Decision::Full),
            (b"garbage", Decision::Full),
        ];
        for (if_range, want) in cases {
            let c = Conditions {
                range: Some(b"bytes=0-9"),
                if_range: Some(if_range),
                ..get()
            };
            assert_eq!(
                decide(&c, &V),
                *want,
                "{}",
                String::from_utf8_lossy(if_range)
            );
        }
    }
}
