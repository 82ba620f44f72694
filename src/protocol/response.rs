//! Response heads on the wire: status line, the app's headers, and the
//! framing and connection headers the server owns. Pure: it writes into
//! the caller's buffer.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// A header as bytes (latin-1, validated by the WSGI layer).
pub type HeaderPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The framing the server chose for this response's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPlan {
    /// Add `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The connection stays open after this response.
    pub keep_alive: bool,
}

/// The zero-length chunk and empty trailer that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Headers the server owns: the app's values would break framing.
fn server_owned(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"keep-alive")
}

/// Write the status line and headers, ending with the blank line.
pub fn write_head(
    out: &mut Vec<u8>,
    minor_version: u8,
    status: &[u8],
    headers: &[HeaderPair<'_>],
    plan: &BodyPlan,
) {
    out.extend_from_slice(if minor_version == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\n");
    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in headers {
        if server_owned(name) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        has_server |= name.eq_ignore_ascii_case(b"server");
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(b"Server: rsgi\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        with_http_date(|d| out.extend_from_slice(d));
        out.extend_from_slice(b"\r\n");
    }
    if plan.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    match (plan.keep_alive, minor_version) {
        (false, 1) => out.extend_from_slice(b"Connection: close\r\n"),
        (true, 0) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// `{len:x}\r\n`, the line before a chunk's data.
pub fn chunk_header(len: usize, out: &mut Vec<u8>) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase for the statuses the server itself sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

thread_local! {
    /// (second, IMF-fixdate): formatted at most once a second per thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// Call `f` with the current time as an IMF-fixdate (RFC 9110 5.6.7).
pub fn with_http_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 != now {
            *cache = (now, imf_fixdate(now));
        }
        f(&cache.1)
    })
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time.
pub fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = [0u8; 29];
    let mut w = 0;
    let mut put = |bytes: &[u8]| {
        out[w..w + bytes.len()].copy_from_slice(bytes);
        w += bytes.len();
    };
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    put(DAYS[(days % 7) as usize]);
    put(b", ");
    put(&two(day as u64));
    put(b" ");
    put(MONTHS[(month - 1) as usize]);
    put(b" ");
    let y = year.max(0) as u64;
    put(&[
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
    ]);
    put(b" ");
    put(&two(h));
    put(b":");
    put(&two(m));
    put(b":");
    put(&two(s));
    put(b" GMT");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(minor: u8, headers: &[(&str, &str)], plan: BodyPlan) -> String {
        let pairs: Vec<HeaderPair<'_>> = headers
            .iter()
            .map(|(n, v)| (Cow::Borrowed(n.as_bytes()), Cow::Borrowed(v.as_bytes())))
            .collect();
        let mut out = Vec::new();
        write_head(&mut out, minor, b"200 OK", &pairs, &plan);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_dates() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &imf_fixdate(1_709_164_800),
            b"Thu, 29 Feb 2024 00:00:00 GMT"
        );
    }

    #[test]
    fn writes_framing_and_connection_headers() {
        let h = head(
            1,
            &[("Content-Type", "text/plain")],
            BodyPlan {
                chunked: true,
                keep_alive: true,
            },
        );
        assert!(
            h.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: rsgi\r\nDate: ")
        );
        assert!(
            h.ends_with("GMT\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "{h}"
        );
        let h = head(
            1,
            &[],
            BodyPlan {
                chunked: false,
                keep_alive: false,
            },
        );
        assert!(h.ends_with("Connection: close\r\n\r\n"));
        let h = head(
            0,
            &[],
            BodyPlan {
                chunked: false,
                keep_alive: true,
            },
        );
        assert!(
            h.starts_with("HTTP/1.0 200 OK\r\n") && h.ends_with("Connection: keep-alive\r\n\r\n")
        );
    }

    #[test]
    fn drops_headers_the_server_owns_and_keeps_the_apps_server_and_date() {
        let h = head(
            1,
            &[
                ("Transfer-Encoding", "chunked"),
                ("Connection", "x"),
                ("Server", "app"),
                ("Date", "d"),
            ],
            BodyPlan {
                chunked: false,
                keep_alive: true,
            },
        );
        assert_eq!(h, "HTTP/1.1 200 OK\r\nServer: app\r\nDate: d\r\n\r\n");
    }

    #[test]
    fn chunk_headers_are_hex() {
        for (n, want) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let mut out = Vec::new();
            chunk_header(n, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
