//! What a valid response head is: the status and headers an app may
//! send, checked before anything is written (a CR or LF in either would
//! let the app, or whoever feeds it text, split the response), and what
//! the headers declare about framing. [`ResponseHead`] holds a head that
//! passed; only it reaches the encoder. Also the reason phrases and the
//! cached Date the server writes itself. Pure: bytes in, verdicts out.
//!
//! WSGI statuses and headers are `str` holding latin-1 (PEP 3333); the
//! caller turns them into bytes with [`to_latin1`], which refuses what
//! latin-1 cannot hold instead of truncating it (`\u010d\u010a` would
//! otherwise become CR LF).

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a status or header cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error(
        "{what} {text:?} has the character {ch:?} (U+{code:04X}), outside latin-1: \
         WSGI statuses and headers are latin-1 str (PEP 3333)",
        code = u32::from(*ch)
    )]
    NotLatin1 {
        what: String,
        text: String,
        ch: char,
    },
    #[error(
        "invalid status {0:?}: it must be three digits, a space and a reason phrase, like '200 OK'"
    )]
    StatusFormat(String),
    #[error(
        "the status {0:?} is an interim (1xx) response, which a WSGI app cannot send: \
         give the final status"
    )]
    Interim(String),
    #[error(
        "the status {0:?} contains CR, LF, NUL or another control character, \
         which could split the response"
    )]
    StatusControl(String),
    #[error(
        "invalid response header name {0:?}: names are tokens (letters, digits, !#$%&'*+-.^_`|~)"
    )]
    Name(String),
    #[error(
        "invalid value for response header {0:?}: it contains CR, LF, NUL or another \
         control character (RFC 9110 5.5), which could split the response"
    )]
    ValueControl(String),
    #[error("the response header {0:?} is larger than 4 GiB")]
    TooLarge(String),
    #[error("invalid Content-Length {0:?}: it must be the body's size in bytes, like '1234'")]
    ContentLength(String),
    #[error(
        "the response declares Content-Length {0} and {1}: a body has one length; send one header"
    )]
    ContentLengthConflict(u64, u64),
}

/// `text` as latin-1 bytes (borrowed when it is ASCII), or the first
/// character latin-1 cannot hold.
pub fn to_latin1(text: &str) -> Result<Cow<'_, [u8]>, char> {
    if text.is_ascii() {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| c))
        .collect::<Result<Vec<u8>, char>>()
        .map(Cow::Owned)
}

/// Text for an error message from latin-1 bytes.
fn latin1_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A byte may appear in a token (RFC 9110 5.6.2: tchar).
const TCHAR: u8 = 1;
/// A byte may appear in a field value or a reason phrase (RFC 9110 5.5:
/// field-vchar = VCHAR / obs-text, with SP and HTAB between): everything
/// but the control characters below 0x20 and DEL.
const TEXT: u8 = 2;

/// The class of every byte: one lookup per byte on the hot path (each
/// response's headers are checked).
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            class[b] |= TCHAR;
        }
        if (c >= 0x20 || c == b'\t') && c != 0x7f {
            class[b] |= TEXT;
        }
        b += 1;
    }
    let extra = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < extra.len() {
        class[extra[i] as usize] |= TCHAR;
        i += 1;
    }
    class
};

fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes.iter().all(|&b| CLASS[usize::from(b)] & class != 0)
}

/// RFC 9110 5.6.2: token = 1*tchar.
pub fn is_token(b: &[u8]) -> bool {
    !b.is_empty() && all_in(b, TCHAR)
}

/// Check a WSGI status (`"200 OK"`) and return its code.
///
/// RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ],
/// reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). PEP 3333 asks for
/// the code and the reason separated by one space; a bare code is
/// accepted as uWSGI does, and sent with its standard reason.
pub fn check_status(status: &[u8]) -> Result<u16, HeadError> {
    let bad = || HeadError::StatusFormat(latin1_text(status));
    let (digits, rest) = status.split_at_checked(3).ok_or_else(bad)?;
    if !digits.iter().all(u8::is_ascii_digit) || rest.first().is_some_and(|&b| b != b' ') {
        return Err(bad());
    }
    if !all_in(rest, TEXT) {
        return Err(HeadError::StatusControl(latin1_text(status)));
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match code {
        0..100 => Err(bad()),
        100..200 => Err(HeadError::Interim(latin1_text(status))),
        _ => Ok(code),
    }
}

/// What the app's headers say about the body's framing, collected by
/// [`check_header`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared {
    /// The body's length, from Content-Length.
    pub content_length: Option<u64>,
    /// `Connection: close`: the app wants the connection closed after this
    /// response.
    pub close: bool,
}

impl Declared {
    /// A response of `len` bytes (the server's own answers).
    pub fn length(len: u64) -> Declared {
        Declared {
            content_length: Some(len),
            close: false,
        }
    }
}

/// A status and headers that passed [`check_status`] and [`check_header`],
/// as latin-1 bytes, with what they declare about framing.
///
/// One buffer holds it all (one allocation per response): the status, then
/// for each header its name's and value's lengths (u32, native order) and
/// the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    bytes: Vec<u8>,
    status_len: usize,
    count: usize,
    code: u16,
    declared: Declared,
}

/// Bytes before each header in [`ResponseHead`]'s buffer: two lengths.
const LENGTHS: usize = 8;

impl ResponseHead {
    /// A head with `status` (checked) and room for `headers` headers.
    pub fn new(status: &[u8], headers: usize) -> Result<ResponseHead, HeadError> {
        let code = check_status(status)?;
        let mut bytes = Vec::with_capacity(status.len() + (LENGTHS + 32) * headers);
        bytes.extend_from_slice(status);
        Ok(ResponseHead {
            bytes,
            status_len: status.len(),
            count: 0,
            code,
            declared: Declared::default(),
        })
    }

    /// Add a header (checked).
    pub fn push_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeadError> {
        check_header(name, value, &mut self.declared)?;
        let too_large = || HeadError::TooLarge(latin1_text(name));
        let name_len = u32::try_from(name.len()).map_err(|_| too_large())?;
        let value_len = u32::try_from(value.len()).map_err(|_| too_large())?;
        self.bytes.extend_from_slice(&name_len.to_ne_bytes());
        self.bytes.extend_from_slice(&value_len.to_ne_bytes());
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.count += 1;
        Ok(())
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    /// The status as given (`"200 OK"`).
    pub fn status(&self) -> &[u8] {
        &self.bytes[..self.status_len]
    }

    /// The headers in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = &self.bytes[self.status_len..];
        std::iter::from_fn(move || {
            let (lengths, tail) = rest.split_first_chunk::<LENGTHS>()?;
            let (name_len, value_len) = lengths.split_at(4);
            let len = |b: &[u8]| <[u8; 4]>::try_from(b).map(u32::from_ne_bytes).ok();
            let (name, tail) = tail.split_at_checked(len(name_len)? as usize)?;
            let (value, tail) = tail.split_at_checked(len(value_len)? as usize)?;
            rest = tail;
            Some((name, value))
        })
    }

    /// How many headers the app gave.
    pub fn header_count(&self) -> usize {
        self.count
    }

    pub fn declared(&self) -> &Declared {
        &self.declared
    }
}

/// Check one header and note what it declares.
///
/// Content-Length must be digits (RFC 9110 8.6: 1*DIGIT); the same value
/// repeated, in several headers or as a list, is one length (8.6 lets a
/// recipient take it so), different values are an error. An invalid length
/// is refused rather than dropped, as gunicorn (`int(value)`) and hyper
/// (a user error) do: the app's idea of its body is wrong, and guessing
/// would hide that.
pub fn check_header(name: &[u8], value: &[u8], declared: &mut Declared) -> Result<(), HeadError> {
    if !is_token(name) {
        return Err(HeadError::Name(latin1_text(name)));
    }
    if !all_in(value, TEXT) {
        return Err(HeadError::ValueControl(latin1_text(name)));
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        for item in value.split(|&b| b == b',') {
            let len =
                parse_length(item).ok_or_else(|| HeadError::ContentLength(latin1_text(value)))?;
            match declared.content_length {
                Some(prev) if prev != len => {
                    return Err(HeadError::ContentLengthConflict(prev, len));
                }
                _ => declared.content_length = Some(len),
            }
        }
    } else if name.eq_ignore_ascii_case(b"connection") {
        // RFC 9110 7.6.1: Connection is a list of options.
        declared.close |= value
            .split(|&b| b == b',')
            .any(|o| o.trim_ascii().eq_ignore_ascii_case(b"close"));
    }
    Ok(())
}

/// `1*DIGIT` with optional surrounding whitespace, within u64.
fn parse_length(text: &[u8]) -> Option<u64> {
    let digits = text.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The reason phrase for a status the server sends itself.
pub fn reason_phrase(status: u16) -> &'static str {
    standard_reason(status).unwrap_or("Error")
}

/// The standard reason phrase (RFC 9110 15) of the statuses the server
/// sends itself and the common ones an app may give as a bare code.
pub fn standard_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
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
    fn latin1_is_refused_not_truncated() {
        assert_eq!(to_latin1("200 OK").unwrap(), &b"200 OK"[..]);
        assert_eq!(to_latin1("caf\u{e9}").unwrap(), &b"caf\xe9"[..]);
        // U+010D U+010A would become CR LF if cut to their low byte.
        assert_eq!(to_latin1("200 OK\u{10d}\u{10a}X: y"), Err('\u{10d}'));
        assert_eq!(to_latin1("\u{20ac}"), Err('\u{20ac}'));
    }

    #[test]
    fn statuses() {
        for (status, code) in [
            ("200 OK", 200),
            ("404 Not Found", 404),
            ("599 x", 599),
            ("200", 200),
            ("200 ", 200),
            ("999 Custom", 999),
            ("200 tab\there", 200),
            ("200 caf\u{e9}", 200),
        ] {
            let bytes = to_latin1(status).unwrap();
            assert_eq!(check_status(&bytes), Ok(code), "{status:?}");
        }
        for status in [
            "", "20", "20 OK", "2000 OK", "abc OK", "200-OK", "099 low", " 200 OK", "+20 OK",
        ] {
            assert!(
                matches!(
                    check_status(status.as_bytes()),
                    Err(HeadError::StatusFormat(_))
                ),
                "{status:?}"
            );
        }
        for status in [
            "200 OK\r\nX: y",
            "200 a\nb",
            "200 a\0",
            "200 a\x01",
            "200 a\x7f",
            "200 OK\r",
        ] {
            assert!(
                matches!(
                    check_status(status.as_bytes()),
                    Err(HeadError::StatusControl(_))
                ),
                "{status:?}"
            );
        }
        for status in ["100 Continue", "101 Switching Protocols", "103"] {
            assert!(matches!(
                check_status(status.as_bytes()),
                Err(HeadError::Interim(_))
            ));
        }
    }

    fn declared(headers: &[(&str, &str)]) -> Result<Declared, HeadError> {
        let mut d = Declared::default();
        for (n, v) in headers {
            check_header(n.as_bytes(), v.as_bytes(), &mut d)?;
        }
        Ok(d)
    }

    #[test]
    fn header_names_are_tokens_and_values_have_no_controls() {
        assert!(is_token(b"Content-Type"));
        assert!(is_token(b"X-A_b!"));
        for name in ["", "Bad Name", "a:b", "x\r\n", "X-\u{e9}"] {
            let bytes = to_latin1(name).unwrap();
            let mut d = Declared::default();
            assert_eq!(
                check_header(&bytes, b"v", &mut d),
                Err(HeadError::Name(name.into())),
                "{name:?}"
            );
        }
        for value in [
            "a\rb",
            "a\nb",
            "a\0b",
            "a\x01b",
            "a\x1fb",
            "a\x7fb",
            "\r\nSet-Cookie: x=1",
        ] {
            assert_eq!(
                declared(&[("X-V", value)]),
                Err(HeadError::ValueControl("X-V".into())),
                "{value:?}"
            );
        }
        for value in [
            "",
            "plain",
            "tab\tinside",
            " spaced ",
            "caf\u{e9}",
            "\u{ff}",
        ] {
            let bytes = to_latin1(value).unwrap();
            let mut d = Declared::default();
            assert_eq!(check_header(b"X-V", &bytes, &mut d), Ok(()), "{value:?}");
        }
    }

    #[test]
    fn content_length_is_one_number() {
        for (headers, want) in [
            (&[("Content-Length", "5")][..], Some(5)),
            (&[("content-length", " 5 ")], Some(5)),
            (&[("Content-Length", "0")], Some(0)),
            (&[("Content-Length", "007")], Some(7)),
            (&[("Content-Length", "5"), ("Content-Length", "5")], Some(5)),
            (&[("Content-Length", "5, 5")], Some(5)),
            (
                &[("Content-Length", "18446744073709551615")],
                Some(u64::MAX),
            ),
            (&[("X-Content-Length", "abc")], None),
        ] {
            assert_eq!(
                declared(headers).map(|d| d.content_length),
                Ok(want),
                "{headers:?}"
            );
        }
        for value in [
            "",
            " ",
            "12abc",
            "-5",
            "+5",
            "5.0",
            "0x10",
            "1e3",
            "18446744073709551616",
            "5,",
            ",5",
        ] {
            assert_eq!(
                declared(&[("Content-Length", value)]),
                Err(HeadError::ContentLength(value.into())),
                "{value:?}"
            );
        }
        assert_eq!(
            declared(&[("Content-Length", "5"), ("Content-Length", "6")]),
            Err(HeadError::ContentLengthConflict(5, 6))
        );
        assert_eq!(
            declared(&[("Content-Length", "5, 6")]),
            Err(HeadError::ContentLengthConflict(5, 6))
        );
    }

    #[test]
    fn connection_close_is_an_option_in_a_list() {
        for (value, close) in [
            ("close", true),
            ("Close", true),
            ("keep-alive, close", true),
            ("keep-alive", false),
            ("closed", false),
            ("upgrade", false),
        ] {
            assert_eq!(
                declared(&[("Connection", value)]).unwrap().close,
                close,
                "{value}"
            );
        }
    }

    #[test]
    fn a_response_head_keeps_what_passed_in_order() {
        let mut head = ResponseHead::new(b"404 Not Found", 2).unwrap();
        head.push_header(b"Content-Type", b"text/plain").unwrap();
        assert_eq!(
            head.push_header(b"X-Bad", b"a\r\nb"),
            Err(HeadError::ValueControl("X-Bad".into()))
        );
        head.push_header(b"Content-Length", b"7").unwrap();
        assert_eq!(head.code(), 404);
        assert_eq!(head.status(), b"404 Not Found");
        assert_eq!(
            head.headers().collect::<Vec<_>>(),
            [
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (b"Content-Length", b"7")
            ]
        );
        assert_eq!(head.header_count(), 2);
        assert_eq!(head.declared(), &Declared::length(7));
        assert_eq!(
            ResponseHead::new(b"200\r\nX: y", 0),
            Err(HeadError::StatusFormat("200\r\nX: y".into()))
        );
    }

    #[test]
    fn messages_name_the_fault() {
        let e = HeadError::NotLatin1 {
            what: "the status".into(),
            text: "200 OK\u{10d}".into(),
            ch: '\u{10d}',
        };
        assert!(e.to_string().contains("U+010D"), "{e}");
        assert!(e.to_string().contains("outside latin-1"), "{e}");
        let e = HeadError::ValueControl("X-A".into());
        assert!(e.to_string().contains("CR, LF"), "{e}");
        assert!(e.to_string().contains("control character"), "{e}");
    }
}
