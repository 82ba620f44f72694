//! The request-target (RFC 9112 3.2) and the path an app sees.
//!
//! Two rules here decide which app a request reaches, so both are written
//! down beside the code and tested byte by byte:
//!
//! - Only a target that *starts* with `http://` or `https://` is
//!   absolute-form. A `://` anywhere else is data (a query parameter
//!   holding a URL), and the query is never part of the path.
//! - The path is percent-decoded and then has its dot segments removed
//!   (RFC 3986 5.2.4) before a mountpoint is chosen, as nginx does before
//!   it chooses a location: a front server and rsgi must agree on which
//!   path a request names, or a location that guards `/admin` can be
//!   walked around with `/public/../admin`.

use std::borrow::Cow;
use std::ops::Range;

/// Where the parts of a request-target are, as byte ranges into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path (empty only for an absolute-form target without one, which
    /// means `/`: RFC 9110 4.2.3).
    pub path: Range<usize>,
    /// The query, without its `?` (empty when there is none).
    pub query: Range<usize>,
    /// The host and port of an absolute-form target: RFC 9112 3.2.2 says
    /// the server "MUST ignore the received Host header field" then and
    /// use this instead.
    pub authority: Option<Range<usize>>,
}

/// Why a target or a path was refused (each is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the request-target is neither a path, an http(s) URL, nor * for OPTIONS")]
    Form,
    #[error("the request-target's URL has no host")]
    EmptyHost,
    #[error("the request-target's URL carries user information")]
    Userinfo,
    #[error("the request-target's URL has a host that is not a valid host[:port]")]
    Host,
    #[error("the path holds a percent-encoded NUL")]
    Nul,
    #[error("a .. segment climbs above the root of the path")]
    AboveRoot,
    #[error("a .. segment follows an empty segment (//..), which servers resolve differently")]
    DotDotAfterEmpty,
}

/// Split a request-target into its parts. `method` matters for `*`.
///
/// RFC 9112 3.2: origin-form (`/path?query`), absolute-form
/// (`http://host/path?query`), asterisk-form (`*`, OPTIONS only);
/// authority-form is only for CONNECT, which a WSGI app cannot serve.
pub fn parse_target(method: &[u8], target: &[u8]) -> Result<Target, TargetError> {
    // A `#fragment` is not part of a request-target; some clients send one
    // anyway. It belongs to neither the path nor the query (nginx drops it
    // the same way).
    let end = target
        .iter()
        .position(|&b| b == b'#')
        .unwrap_or(target.len());
    if target.first() == Some(&b'/') {
        return Ok(origin(target, 0, end, None));
    }
    if target == b"*" && method == b"OPTIONS" {
        return Ok(Target {
            path: 0..1,
            query: 1..1,
            authority: None,
        });
    }
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| target.len() >= s.len() && target[..s.len()].eq_ignore_ascii_case(s))
        .ok_or(TargetError::Form)?;
    let host_start = scheme.len();
    let host_end = target[host_start..end]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .map_or(end, |p| host_start + p);
    let authority = host_start..host_end;
    if authority.is_empty() {
        // RFC 9110 4.2.1: a recipient "MUST reject it as invalid".
        return Err(TargetError::EmptyHost);
    }
    if target[authority.clone()].contains(&b'@') {
        // RFC 9110 4.2.4: a recipient "SHOULD ... treat its presence as an
        // error; it is likely being used to obscure the authority".
        return Err(TargetError::Userinfo);
    }
    Ok(origin(target, host_end, end, Some(authority)))
}

/// Path and query of `target[start..end]`: the path runs to the first `?`.
fn origin(target: &[u8], start: usize, end: usize, authority: Option<Range<usize>>) -> Target {
    match target[start..end].iter().position(|&b| b == b'?') {
        Some(q) => Target {
            path: start..start + q,
            query: start + q + 1..end,
            authority,
        },
        None => Target {
            path: start..end,
            query: end..end,
            authority,
        },
    }
}

/// Percent-decode a request path into raw bytes (`%2F` is decoded too, as
/// every WSGI server and nginx do; REQUEST_URI keeps the raw form). A `%`
/// not followed by two hex digits is kept as is.
pub fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'%') {
        return Cow::Borrowed(raw);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// The path an HTTP request names: `raw` (a target's path) percent-decoded,
/// then with dot segments removed. An empty path (`http://host`) is `/`.
///
/// The order is nginx's: `%2e%2e` is `..` and `%2F` is a `/` by the time
/// dot segments are resolved, so `/a/%2e%2e/admin` and `/a/..%2Fadmin`
/// both name `/admin` here as they do in nginx's `$uri`.
pub fn request_path(raw: &[u8]) -> Result<Cow<'_, [u8]>, TargetError> {
    if raw.is_empty() {
        return Ok(Cow::Borrowed(b"/"));
    }
    let decoded = percent_decode(raw);
    Ok(match normalize_decoded(&decoded)? {
        Some(normalized) => Cow::Owned(normalized),
        None => decoded,
    })
}

/// A path that is decoded already (a uwsgi PATH_INFO; nginx decoded it):
/// held to the same rules as [`request_path`], never decoded twice. `None`
/// when it is fine as it is.
pub fn normalize_decoded(path: &[u8]) -> Result<Option<Vec<u8>>, TargetError> {
    // nginx refuses a decoded NUL (400): a path holding one cannot name a
    // file, and C code reading PATH_INFO would stop at it.
    if path.contains(&0) {
        return Err(TargetError::Nul);
    }
    remove_dot_segments(path)
}

/// RFC 3986 5.2.4 "Remove Dot Segments" on an absolute path; `None` when
/// the path has no dot segment (the common case: no copy). A path that
/// does not start with `/` (a uwsgi PATH_INFO from some front servers) is
/// left alone: no mountpoint can match it but the root app.
///
/// Two inputs are refused where RFC 3986 would quietly pick an answer,
/// because nginx (in its default config) picks another and a request must
/// not name one app in nginx and another in rsgi:
/// - `..` above the root (`/../x`): RFC 3986 drops it; nginx answers 400.
/// - `..` after an empty segment (`/admin//../x`): RFC 3986 pops the empty
///   segment (`/admin/x`); nginx merges slashes first (`/x`).
pub fn remove_dot_segments(path: &[u8]) -> Result<Option<Vec<u8>>, TargetError> {
    let Some(rest) = path.strip_prefix(b"/") else {
        return Ok(None);
    };
    let is_dot = |s: &[u8]| s == b"." || s == b"..";
    if !rest.split(|&b| b == b'/').any(is_dot) {
        return Ok(None);
    }
    let mut out: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for segment in rest.split(|&b| b == b'/') {
        // "/a/." and "/a/b/.." end in a directory: "/a/".
        trailing_slash = is_dot(segment);
        match segment {
            b"." => {}
            b".." => match out.pop() {
                None => return Err(TargetError::AboveRoot),
                Some([]) => return Err(TargetError::DotDotAfterEmpty),
                Some(_) => {}
            },
            _ => out.push(segment),
        }
    }
    let mut normalized = Vec::with_capacity(path.len());
    for segment in &out {
        normalized.push(b'/');
        normalized.extend_from_slice(segment);
    }
    if trailing_slash || normalized.is_empty() {
        normalized.push(b'/');
    }
    Ok(Some(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, target: &str) -> Result<(String, String, Option<String>), TargetError> {
        let t = parse_target(method.as_bytes(), target.as_bytes())?;
        let s = |r: Range<usize>| target[r].to_string();
        Ok((s(t.path), s(t.query), t.authority.map(s)))
    }

    #[test]
    fn splits_the_three_forms() {
        let cases: [(&str, &str, &str, &str, Option<&str>); 12] = [
            ("GET", "/p?q=1", "/p", "q=1", None),
            ("GET", "/p", "/p", "", None),
            ("GET", "/p?", "/p", "", None),
            ("GET", "/p?q=1#frag", "/p", "q=1", None),
            ("GET", "/p#f?x", "/p", "", None),
            ("GET", "http://h:1/x?y", "/x", "y", Some("h:1")),
            ("GET", "HTTPS://h/x", "/x", "", Some("h")),
            ("GET", "http://h", "", "", Some("h")),
            ("GET", "http://h?q", "", "q", Some("h")),
            ("OPTIONS", "*", "*", "", None),
            // The defect of issue 13: "://" inside an origin-form target.
            (
                "GET",
                "/public?next=http://x/admin/secret",
                "/public",
                "next=http://x/admin/secret",
                None,
            ),
            ("GET", "/a/http://x/b", "/a/http://x/b", "", None),
        ];
        for (method, target, path, query, authority) in cases {
            assert_eq!(
                parts(method, target),
                Ok((
                    path.to_string(),
                    query.to_string(),
                    authority.map(str::to_string)
                )),
                "{target}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_target_for_us() {
        let cases = [
            ("GET", "*", TargetError::Form),
            ("CONNECT", "example.com:443", TargetError::Form),
            ("GET", "foo", TargetError::Form),
            ("GET", "ftp://h/x", TargetError::Form),
            ("GET", "http:/x", TargetError::Form),
            ("GET", "http:///x", TargetError::EmptyHost),
            ("GET", "http://user@h/x", TargetError::Userinfo),
            ("GET", "", TargetError::Form),
        ];
        for (method, target, want) in cases {
            assert_eq!(parts(method, target), Err(want), "{target}");
        }
    }

    #[test]
    fn decodes_percent_escapes() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"/plain", b"/plain"),
            (b"/a%20b", b"/a b"),
            (b"/%2Fx", b"//x"),
            (b"/bad%zz", b"/bad%zz"),
            (b"/end%4", b"/end%4"),
            (b"/end%", b"/end%"),
            (b"/%C3%A9", b"/\xc3\xa9"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                &*percent_decode(raw),
                want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    /// Each case was sent to nginx 1.22 (default config) and its `$uri`
    /// noted; rsgi names the same path, or refuses where nginx does, or
    /// refuses where nginx would merge slashes (see remove_dot_segments).
    #[test]
    fn request_paths_agree_with_nginx() {
        let cases: [(&str, Result<&str, TargetError>); 24] = [
            ("/admin/../public", Ok("/public")),
            ("/public/../admin/x", Ok("/admin/x")),
            ("/a/%2e%2e/admin", Ok("/admin")),
            ("/x/%2E%2E/admin", Ok("/admin")),
            ("/a/..%2Fadmin", Ok("/admin")),
            ("/admin%2f..%2fz", Ok("/z")),
            ("/admin/.%2e/z", Ok("/z")),
            ("/admin/./z", Ok("/admin/z")),
            ("/a/..", Ok("/")),
            ("/a/.", Ok("/a/")),
            ("/a/b/..", Ok("/a/")),
            ("/a/./", Ok("/a/")),
            ("/.", Ok("/")),
            ("/", Ok("/")),
            ("", Ok("/")),
            ("//x//y/", Ok("//x//y/")),
            ("/a/.../b", Ok("/a/.../b")),
            ("/a/..b/.c", Ok("/a/..b/.c")),
            ("/..", Err(TargetError::AboveRoot)),
            ("/%2e%2e/admin", Err(TargetError::AboveRoot)),
            ("/a%2F..%2F..%2Fadmin", Err(TargetError::AboveRoot)),
            ("/a/b/../../..", Err(TargetError::AboveRoot)),
            ("/a%00b", Err(TargetError::Nul)),
            // nginx: /z (slashes merged first); RFC 3986: /admin/z.
            ("/admin//../z", Err(TargetError::DotDotAfterEmpty)),
        ];
        for (raw, want) in cases {
            let got =
                request_path(raw.as_bytes()).map(|p| String::from_utf8_lossy(&p).into_owned());
            assert_eq!(got, want.map(str::to_string), "{raw}");
        }
    }

    #[test]
    fn a_relative_path_is_left_alone() {
        assert_eq!(remove_dot_segments(b""), Ok(None));
        assert_eq!(remove_dot_segments(b"a/../b"), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(
            method in proptest::sample::select(vec!["GET", "OPTIONS"]),
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            if let Ok(t) = parse_target(method.as_bytes(), &data) {
                let _ = request_path(&data[t.path.clone()]);
                proptest::prop_assert!(t.path.end <= data.len() && t.query.end <= data.len());
            }
        }

        /// A normalized path has no dot segment left, and normalizing it
        /// again changes nothing.
        #[test]
        fn normalizing_is_idempotent(
            segments in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", ".", "..", "", "%2e", "%2E%2e", "x%2fy"]),
                0..8,
            )
        ) {
            let raw = format!("/{}", segments.join("/"));
            if let Ok(path) = request_path(raw.as_bytes()) {
                proptest::prop_assert!(!path.split(|&b| b == b'/').any(|s| s == b"." || s == b".."));
                proptest::prop_assert_eq!(remove_dot_segments(&path), Ok(None));
                proptest::prop_assert!(path.starts_with(b"/"));
            }
        }
    }
}
