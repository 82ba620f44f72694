//! The server's rules for the headers of every response: `add-header`
//! (headers added to each response) and `del-header` / `rem-header`
//! (headers of the app's that are left out). [`encode`](super::encode)
//! applies them as it writes a head, so whatever produces a response (the
//! app, the server's own 404/500, static files) gets them in one place.
//!
//! As in uWSGI (core/writer.c): the added headers come after the app's,
//! and are not themselves removed; a removal compares names without
//! regard to case and applies to the app's headers. rsgi adds one header
//! of its own that uWSGI does not send, `Server: rsgi`, and `del-header
//! Server` leaves it out too. The framing headers are the server's
//! (Content-Length, Transfer-Encoding, Connection, Keep-Alive), as adding
//! or removing one would break the framing the server chose; the one
//! exception is `add-header = Connection: close`, which public configs
//! (SearXNG's, OpenStack's) use to end every connection after its
//! response: the server does that, and writes the Connection header itself.

use serde::{Deserialize, Serialize};

use super::response::{HeadError, check_header, is_token, to_latin1};

/// Why an `add-header` or `del-header` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("expected \"Name: value\", got {0:?}")]
    NoColon(String),
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("{what} {text:?} has {ch:?}, outside latin-1: HTTP headers are latin-1")]
    NotLatin1 {
        what: String,
        text: String,
        ch: char,
    },
    #[error(
        "{0} is a framing header, which rsgi writes itself from the response \
         (Content-Length, Transfer-Encoding, Connection and Keep-Alive cannot be set or \
         removed; only 'Connection: close' may be added)"
    )]
    Framing(String),
}

/// One `add-header` value: `Name: value`, checked as an app's header is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHeader {
    pub name: String,
    pub value: String,
}

impl ExtraHeader {
    /// Parse `Name: value`. The value is what follows the colon, without
    /// the whitespace around it (RFC 9110 5.5: OWS is not part of it).
    pub fn parse(raw: &str) -> Result<ExtraHeader, RuleError> {
        let raw = raw.trim();
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| RuleError::NoColon(raw.to_string()))?;
        let (name, value) = (name.trim_end(), value.trim());
        let name_bytes = latin1("header name", name)?;
        let value_bytes = latin1("header value", value)?;
        let mut declared = Default::default();
        check_header(&name_bytes, &value_bytes, &mut declared)?;
        if !(name.eq_ignore_ascii_case("connection") && declared.close) {
            refuse_framing(name)?;
        }
        Ok(ExtraHeader {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

impl std::fmt::Display for ExtraHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// Parse a `del-header` value: a header name.
pub fn parse_removed(raw: &str) -> Result<String, RuleError> {
    let name = raw.trim();
    if !is_token(name.as_bytes()) {
        return Err(HeadError::Name(name.to_string()).into());
    }
    refuse_framing(name)?;
    Ok(name.to_string())
}

fn latin1(what: &str, text: &str) -> Result<Vec<u8>, RuleError> {
    to_latin1(text)
        .map(|b| b.into_owned())
        .map_err(|ch| RuleError::NotLatin1 {
            what: what.to_string(),
            text: text.to_string(),
            ch,
        })
}

fn refuse_framing(name: &str) -> Result<(), RuleError> {
    if super::encode::server_owned(name.as_bytes()) {
        return Err(RuleError::Framing(name.to_string()));
    }
    Ok(())
}

/// The rules as the encoder applies them: the bytes of each added header
/// and the names to leave out. Built once per worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    added: Vec<(Vec<u8>, Vec<u8>)>,
    removed: Vec<Vec<u8>>,
    /// `add-header = Connection: close`: no connection outlives its
    /// response.
    close: bool,
}

impl HeaderRules {
    /// No header added or removed.
    pub const NONE: HeaderRules = HeaderRules {
        added: Vec::new(),
        removed: Vec::new(),
        close: false,
    };

    /// From the checked option values. A value that is not latin-1 cannot
    /// have passed [`ExtraHeader::parse`]; it is skipped rather than sent
    /// mangled.
    pub fn new(added: &[ExtraHeader], removed: &[String]) -> HeaderRules {
        let bytes = |s: &str| to_latin1(s).ok().map(|b| b.into_owned());
        let mut declared = Default::default();
        let added: Vec<(Vec<u8>, Vec<u8>)> = added
            .iter()
            .filter_map(|h| Some((bytes(&h.name)?, bytes(&h.value)?)))
            .filter(|(n, v)| check_header(n, v, &mut declared).is_ok())
            .collect();
        HeaderRules {
            // The framing header left is Connection: close; it becomes
            // the server's decision, which writes the header.
            added: added
                .into_iter()
                .filter(|(n, _)| !super::encode::server_owned(n))
                .collect(),
            removed: removed.iter().filter_map(|n| bytes(n)).collect(),
            close: declared.close,
        }
    }

    /// Whether the app's header `name` is left out.
    pub fn removes(&self, name: &[u8]) -> bool {
        self.removed.iter().any(|r| r.eq_ignore_ascii_case(name))
    }

    /// Whether every connection closes after its response.
    pub fn close(&self) -> bool {
        self.close
    }

    /// The headers added to every response, as (name, value).
    pub fn added(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.added.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_headers_parse_like_an_apps() {
        let ok = |raw: &str, name: &str, value: &str| {
            assert_eq!(
                ExtraHeader::parse(raw),
                Ok(ExtraHeader {
                    name: name.into(),
                    value: value.into()
                }),
                "{raw:?}"
            );
        };
        ok("X-Frame-Options: DENY", "X-Frame-Options", "DENY");
        ok("  X-A:b  ", "X-A", "b");
        ok("X-Empty:", "X-Empty", "");
        ok(
            "Strict-Transport-Security: max-age=31536000; includeSubDomains",
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        );
        ok("X-Url: http://a:8/b", "X-Url", "http://a:8/b");
        ok("X-Latin: caf\u{e9}", "X-Latin", "caf\u{e9}");
        type Is = fn(&RuleError) -> bool;
        let bad: &[(&str, Is)] = &[
            ("X-Frame-Options DENY", |e| {
                matches!(e, RuleError::NoColon(_))
            }),
            (": DENY", |e| {
                matches!(e, RuleError::Head(HeadError::Name(_)))
            }),
            ("X A: b", |e| {
                matches!(e, RuleError::Head(HeadError::Name(_)))
            }),
            ("X-A: b\rSet-Cookie: x", |e| {
                matches!(e, RuleError::Head(HeadError::ValueControl(_)))
            }),
            ("X-A: b\nc", |e| {
                matches!(e, RuleError::Head(HeadError::ValueControl(_)))
            }),
            ("X-A: b\u{7}", |e| {
                matches!(e, RuleError::Head(HeadError::ValueControl(_)))
            }),
            ("X-A: \u{10d}", |e| matches!(e, RuleError::NotLatin1 { .. })),
            ("Content-Length: 5", |e| matches!(e, RuleError::Framing(_))),
            ("Connection: keep-alive", |e| {
                matches!(e, RuleError::Framing(_))
            }),
            ("Keep-Alive: timeout=5", |e| {
                matches!(e, RuleError::Framing(_))
            }),
            ("Transfer-Encoding: gzip", |e| {
                matches!(e, RuleError::Framing(_))
            }),
        ];
        for (raw, want) in bad {
            let e = ExtraHeader::parse(raw).expect_err(raw);
            assert!(want(&e), "{raw:?}: {e:?}");
        }
    }

    #[test]
    fn removed_names_are_tokens_but_not_framing() {
        assert_eq!(parse_removed(" Server "), Ok("Server".into()));
        assert_eq!(parse_removed("x-powered-by"), Ok("x-powered-by".into()));
        for bad in ["", "X A", "X:A", "Keep-Alive", "content-length"] {
            assert!(parse_removed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn connection_close_is_the_one_framing_header_added() {
        let added = ExtraHeader::parse("Connection: close").expect("allowed");
        let rules = HeaderRules::new(&[added], &[]);
        assert!(rules.close());
        assert_eq!(rules.added().count(), 0, "the server writes it");
        assert!(!HeaderRules::NONE.close());
    }

    #[test]
    fn removal_ignores_case() {
        let rules = HeaderRules::new(&[], &["x-powered-by".into()]);
        assert!(rules.removes(b"X-Powered-By"));
        assert!(rules.removes(b"x-powered-by"));
        assert!(!rules.removes(b"X-Powered"));
        assert!(!HeaderRules::NONE.removes(b"X-Powered-By"));
    }
}
