//! HTTP-date (RFC 9110 5.6.7): the IMF-fixdate a server sends, and the
//! three forms a recipient must accept.

use crate::protocol::response::imf_fixdate;

/// A Unix time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn format(secs: u64) -> String {
    String::from_utf8_lossy(&imf_fixdate(secs)).into_owned()
}

/// Parse an HTTP-date into a Unix time. RFC 9110 5.6.7: "A recipient that
/// parses a timestamp value in an HTTP field MUST accept all three
/// HTTP-date formats": IMF-fixdate, the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime's
/// (`Sun Nov  6 08:49:37 1994`). `None` for anything else, which the
/// conditional requests then ignore (RFC 9110 13.1.3, 13.1.4).
pub fn parse(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let (day, month, year, time) = if let Some((_, rest)) = text.split_once(", ") {
        if rest.len() == 24 && rest.ends_with(" GMT") {
            // IMF-fixdate: 06 Nov 1994 08:49:37 GMT
            let mut parts = rest.split(' ');
            (
                parts.next()?,
                parts.next()?,
                four_digits(parts.next()?)?,
                parts.next()?,
            )
        } else if rest.ends_with(" GMT") {
            // RFC 850: 06-Nov-94 08:49:37 GMT
            let (date, time) = rest.strip_suffix(" GMT")?.split_once(' ')?;
            let mut parts = date.split('-');
            let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || yy.len() != 2 {
                return None;
            }
            // RFC 9110 5.6.7: a two-digit year more than 50 years in the
            // future is the most recent past year with those digits.
            let yy: u64 = digits(yy)?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (day, month, year, time)
        } else {
            return None;
        }
    } else {
        // asctime: Sun Nov  6 08:49:37 1994
        let mut parts = text.split_ascii_whitespace();
        let _weekday = parts.next()?;
        let (month, day, time, year) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (day, month, four_digits(year)?, time)
    };
    let day: u64 = digits(day).filter(|d| (1..=31).contains(d))?;
    let month = month_number(month)?;
    let mut clock = time.split(':');
    let (h, m, s) = (clock.next()?, clock.next()?, clock.next()?);
    if clock.next().is_some() || h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s): (u64, u64, u64) = (digits(h)?, digits(m)?, digits(s)?);
    // 60 is a leap second.
    if h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    Some(days_from_civil(year, month, day)? * 86_400 + h * 3600 + m * 60 + s)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn four_digits(s: &str) -> Option<u64> {
    if s.len() == 4 { digits(s) } else { None }
}

fn month_number(m: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|name| *name == m)
        .map(|i| i as u64 + 1)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the
/// inverse of the one `imf_fixdate` uses).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = year as i64 - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_rfc_9110() {
        let t = Some(784_111_777);
        let cases: &[(&str, Option<u64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", t),
            ("Sunday, 06-Nov-94 08:49:37 GMT", t),
            ("Sun Nov  6 08:49:37 1994", t),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Thu, 29 Feb 2024 00:00:00 GMT", Some(1_709_164_800)),
            ("Sat, 01 Jan 2000 00:00:00 GMT", Some(946_684_800)),
            ("Saturday, 01-Jan-00 00:00:00 GMT", Some(946_684_800)),
            // Not dates: ignored, never a panic.
            ("", None),
            ("yesterday", None),
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
            ("Sun, 06 Nov 1969 08:49:37 GMT", None),
            ("Sun, +6 Nov 1994 08:49:37 GMT", None),
            ("Sun Nov  6 08:49:37 1994 extra", None),
            ("\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT", t),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), *want, "{text:?}");
        }
        assert_eq!(parse(&[0xff, 0xfe]), None);
    }

    #[test]
    fn round_trips_what_it_formats() {
        for secs in [0, 1, 784_111_777, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse(format(secs).as_bytes()), Some(secs), "{secs}");
        }
    }
}
