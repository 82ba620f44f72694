//! Static files, as uWSGI's `static-map` family serves them: which file a
//! request names ([`locate`]), whether its gzip variant is sent
//! ([`encoding`]), what the answer is given the request's conditional
//! and range headers ([`conditional`]), its Content-Type ([`mime`]) and
//! Expires ([`expires`]). All of it decides; the worker does the I/O
//! (open, fstat, sendfile) on its async front, never on a Python thread.

pub mod conditional;
pub mod encoding;
pub mod expires;
pub mod httpdate;
pub mod locate;
pub mod mime;

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use regex::bytes::Regex;

use crate::config::Config;
use crate::config::value::Expiry;
use crate::protocol::{HeadKind, RequestHead};
use conditional::{Conditions, Decision, Validators};
use encoding::GzipRule;
use expires::{Matcher, Since};
use locate::{Join, Locator, Lookup};
use mime::MimeTable;

/// uWSGI's default `mimefile`.
const DEFAULT_MIME_FILE: &str = "/etc/mime.types";

/// Everything the static-file options configure.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    locator: Locator,
    mime: MimeTable,
    gzip: GzipRule,
    expires: expires::Rules,
}

/// What a request asks of a static file: the method's kind and the
/// headers that matter, from HTTP headers or nginx's uwsgi vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest<'a> {
    /// HEAD: the head a GET would get, no body.
    pub head_only: bool,
    /// The decoded, normalized path.
    pub path: &'a [u8],
    /// The URI as sent (the query included).
    pub uri: &'a [u8],
    pub accept_encoding: Option<Cow<'a, [u8]>>,
    pub if_none_match: Option<Cow<'a, [u8]>>,
    pub if_modified_since: Option<Cow<'a, [u8]>>,
    pub range: Option<Cow<'a, [u8]>>,
    pub if_range: Option<Cow<'a, [u8]>>,
}

impl<'a> FileRequest<'a> {
    /// `None` unless the method is GET or HEAD: other methods go to the
    /// app, as in uWSGI.
    pub fn of(head: &'a RequestHead) -> Option<FileRequest<'a>> {
        let method = match &head.kind {
            HeadKind::Http { method, .. } => head.bytes_at(method),
            HeadKind::Uwsgi { .. } => head.var("REQUEST_METHOD")?,
        };
        let head_only = match method {
            b"GET" => false,
            b"HEAD" => true,
            _ => return None,
        };
        Some(FileRequest {
            head_only,
            path: head.path(),
            uri: head.uri(),
            accept_encoding: header(head, "accept-encoding"),
            if_none_match: header(head, "if-none-match"),
            if_modified_since: header(head, "if-modified-since"),
            range: header(head, "range"),
            if_range: header(head, "if-range"),
        })
    }
}

/// A request header by its lowercase name: HTTP header lines of that
/// name joined with commas (RFC 9110 5.3), or nginx's `HTTP_*` var.
fn header<'a>(head: &'a RequestHead, name: &str) -> Option<Cow<'a, [u8]>> {
    match &head.kind {
        HeadKind::Http { headers, .. } => {
            let mut values = headers
                .iter()
                .filter(|(n, _)| head.bytes_at(n).eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| head.bytes_at(v));
            let first = values.next()?;
            let mut joined = Cow::Borrowed(first);
            for more in values {
                let j = joined.to_mut();
                j.extend_from_slice(b", ");
                j.extend_from_slice(more);
            }
            Some(joined)
        }
        HeadKind::Uwsgi { .. } => {
            let cgi = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
            head.var(&cgi).map(Cow::Borrowed)
        }
    }
}

/// The file to send: the one found, or its gzip variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The real path of the file the request named (its type and expiry
    /// come from it).
    pub named: PathBuf,
    /// The file whose bytes are sent (`named`, or `named.gz`).
    pub send: PathBuf,
    pub gzip: bool,
    /// A gzip variant exists: the answer depends on Accept-Encoding.
    pub vary: bool,
}

/// The answer to send: status, headers besides the framing ones (the
/// encoder adds Content-Length from the declared one, Date, Server,
/// Connection), and the byte range of the file that is the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub status: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// (offset, length) of the file to send; none for 304 and 416.
    pub body: Option<(u64, u64)>,
}

impl StaticFiles {
    /// The static-file setup a config asks for; `None` when it asks for
    /// none. What could not be used (a mapped directory that does not
    /// exist, an unreadable mimefile) comes back as sentences for the
    /// log: uWSGI skips such a map too.
    pub fn from_config(c: &Config) -> (Option<StaticFiles>, Vec<String>) {
        let mut notes = Vec::new();
        let mut roots = Vec::new();
        let maps = c
            .check_static
            .iter()
            .map(|dir| ("/", dir, Join::WholePath, "check-static"))
            .chain(
                c.static_map
                    .iter()
                    .map(|m| (m.mount.as_str(), &m.dir, Join::AfterMount, "static-map")),
            )
            .chain(
                c.static_map2
                    .iter()
                    .map(|m| (m.mount.as_str(), &m.dir, Join::WholePath, "static-map2")),
            );
        let mut configured = false;
        for (mount, dir, join, option) in maps {
            configured = true;
            match locate::root(mount, dir, join) {
                Ok(root) => roots.push(root),
                Err(e) => notes.push(format!(
                    "{option} {mount}={}: not served ({e})",
                    dir.display()
                )),
            }
        }
        if !configured {
            return (None, notes);
        }
        let safe = c
            .static_safe
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let default_mime = [PathBuf::from(DEFAULT_MIME_FILE)];
        let mime_files: Vec<&Path> = if c.mimefile.is_empty() {
            default_mime.iter().map(PathBuf::as_path).collect()
        } else {
            c.mimefile.iter().map(PathBuf::as_path).collect()
        };
        let (mime, unread) = MimeTable::load(&mime_files);
        for (file, e) in unread {
            // The default file missing is normal in a slim container.
            if !c.mimefile.is_empty() {
                notes.push(format!(
                    "mimefile {file}: not read ({e}); using the built-in types"
                ));
            }
        }
        let regexes = |list: &[String]| -> Vec<Regex> {
            // The config loader already compiled each one.
            list.iter().filter_map(|r| Regex::new(r).ok()).collect()
        };
        let gzip = GzipRule {
            all: c.static_gzip_all,
            prefixes: c.static_gzip_dir.clone(),
            suffixes: c.static_gzip_ext.clone(),
            patterns: regexes(&c.static_gzip),
        };
        let mut rules = Vec::new();
        let mut add = |list: &[Expiry], since: Since, matcher: fn(&str) -> Option<Matcher>| {
            for e in list {
                if let Some(m) = matcher(&e.pattern) {
                    rules.push(expires::Rule {
                        matcher: m,
                        since,
                        seconds: e.seconds,
                    });
                }
            }
        };
        let by_type = |t: &str| Some(Matcher::Type(t.to_string()));
        let by_file = |r: &str| Regex::new(r).ok().map(Matcher::File);
        let by_path = |r: &str| Regex::new(r).ok().map(Matcher::PathInfo);
        let by_uri = |r: &str| Regex::new(r).ok().map(Matcher::Uri);
        add(&c.static_expires_type, Since::Now, by_type);
        add(&c.static_expires_type_mtime, Since::Mtime, by_type);
        add(&c.static_expires, Since::Now, by_file);
        add(&c.static_expires_mtime, Since::Mtime, by_file);
        add(&c.static_expires_path_info, Since::Now, by_path);
        add(&c.static_expires_path_info_mtime, Since::Mtime, by_path);
        add(&c.static_expires_uri, Since::Now, by_uri);
        add(&c.static_expires_uri_mtime, Since::Mtime, by_uri);
        let files = StaticFiles {
            locator: Locator {
                roots,
                index: c.static_index.clone(),
                skip_ext: c.static_skip_ext.clone(),
                safe,
            },
            mime,
            gzip,
            expires: expires::Rules::new(rules),
        };
        (Some(files), notes)
    }

    pub fn locate(&self, path: &[u8]) -> Lookup {
        self.locator.locate(path)
    }

    /// The file to send for `named`: its `.gz` sibling when a gzip rule
    /// covers it, the sibling is a regular file the same root may serve,
    /// and the client accepts gzip.
    pub fn variant(&self, named: PathBuf, accept_encoding: Option<&[u8]>) -> Variant {
        let plain = |named: PathBuf, vary| Variant {
            send: named.clone(),
            named,
            gzip: false,
            vary,
        };
        if !self.gzip.applies_to(named.as_os_str().as_bytes()) {
            return plain(named, false);
        }
        let mut gz = named.clone().into_os_string();
        gz.push(".gz");
        // `a.css.gz` may be a symlink too: its real path must lie where
        // the file's does (or under static-safe), and not be a dotfile.
        let dir = named.parent().unwrap_or(Path::new("/"));
        let usable = std::fs::canonicalize(&gz).ok().filter(|real| {
            let hidden = real
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b"."));
            real.is_file()
                && !hidden
                && (real.starts_with(dir) || self.locator.safe.iter().any(|s| real.starts_with(s)))
        });
        let Some(gz) = usable else {
            return plain(named, false);
        };
        if !encoding::accepts_gzip(accept_encoding) {
            return plain(named, true);
        }
        Variant {
            named,
            send: gz,
            gzip: true,
            vary: true,
        }
    }

    /// The answer for `file`, whose bytes (the file opened) have these
    /// validators, at Unix time `now`.
    pub fn plan(&self, req: &FileRequest<'_>, file: &Variant, v: &Validators, now: u64) -> Plan {
        let named = file.named.as_os_str().as_bytes();
        let mime = self.mime.of(named);
        let mut headers = vec![
            ("Last-Modified", httpdate::format(v.mtime)),
            ("ETag", v.etag()),
        ];
        if file.vary {
            headers.push(("Vary", "Accept-Encoding".to_string()));
        }
        let expires = self.expires.expires(&expires::Subject {
            file: named,
            path_info: req.path,
            uri: req.uri,
            mime,
            mtime: v.mtime,
            now,
        });
        if let Some(at) = expires {
            headers.push(("Expires", httpdate::format(at)));
        }
        let conditions = Conditions {
            get: !req.head_only,
            if_none_match: req.if_none_match.as_deref(),
            if_modified_since: req.if_modified_since.as_deref(),
            range: req.range.as_deref(),
            if_range: req.if_range.as_deref(),
        };
        let decision = conditional::decide(&conditions, v);
        let (status, body) = match decision {
            // RFC 9110 15.4.5: a 304 carries the validators, Vary and
            // Expires a 200 would, and no content headers.
            Decision::NotModified => {
                return Plan {
                    status: "304 Not Modified",
                    headers,
                    body: None,
                };
            }
            Decision::Unsatisfiable => {
                return Plan {
                    status: "416 Range Not Satisfiable",
                    headers: vec![
                        ("Content-Range", format!("bytes */{}", v.size)),
                        ("Content-Length", "0".to_string()),
                    ],
                    body: None,
                };
            }
            Decision::Full => ("200 OK", (0, v.size)),
            Decision::Partial { first, last } => {
                headers.push(("Content-Range", format!("bytes {first}-{last}/{}", v.size)));
                ("206 Partial Content", (first, last - first + 1))
            }
        };
        headers.push(("Content-Type", mime::content_type(mime)));
        if file.gzip {
            headers.push(("Content-Encoding", "gzip".to_string()));
        }
        headers.push(("Accept-Ranges", "bytes".to_string()));
        headers.push(("Content-Length", body.1.to_string()));
        Plan {
            status,
            headers,
            body: Some(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::{Limits, parse_request};

    const LIMITS: Limits = Limits {
        max_head: 8192,
        max_body: 0,
    };

    fn files() -> StaticFiles {
        StaticFiles {
            locator: Locator::default(),
            mime: MimeTable::built_in(),
            gzip: GzipRule::default(),
            expires: expires::Rules::new(vec![expires::Rule {
                matcher: expires::Matcher::Type("text/css".into()),
                since: Since::Mtime,
                seconds: 60,
            }]),
        }
    }

    fn plan_for(raw: &str, gzip: bool) -> Plan {
        let (head, _) = parse_request(raw.as_bytes(), &LIMITS).unwrap().unwrap();
        let req = FileRequest::of(&head).unwrap();
        let named = PathBuf::from("/srv/static/site.css");
        let file = Variant {
            send: named.clone(),
            named,
            gzip,
            vary: gzip,
        };
        files().plan(
            &req,
            &file,
            &Validators {
                mtime: 0,
                size: 100,
            },
            1000,
        )
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.headers.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn answers_and_their_headers() {
        let p = plan_for("GET /s/site.css HTTP/1.1\r\nHost: x\r\n\r\n", false);
        assert_eq!(p.status, "200 OK");
        assert_eq!(p.body, Some((0, 100)));
        assert_eq!(
            p.headers,
            vec![
                ("Last-Modified", "Thu, 01 Jan 1970 00:00:00 GMT".to_string()),
                ("ETag", "\"0-64\"".to_string()),
                ("Expires", "Thu, 01 Jan 1970 00:01:00 GMT".to_string()),
                ("Content-Type", "text/css; charset=utf-8".to_string()),
                ("Accept-Ranges", "bytes".to_string()),
                ("Content-Length", "100".to_string()),
            ]
        );
        let p = plan_for(
            "GET /s/site.css HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n",
            true,
        );
        assert_eq!(p.status, "206 Partial Content");
        assert_eq!(p.body, Some((10, 10)));
        assert_eq!(
            names(&p),
            [
                "Last-Modified",
                "ETag",
                "Vary",
                "Expires",
                "Content-Range",
                "Content-Type",
                "Content-Encoding",
                "Accept-Ranges",
                "Content-Length"
            ]
        );
        assert!(
            p.headers
                .contains(&("Content-Range", "bytes 10-19/100".into()))
        );
        let p = plan_for(
            "GET /s/site.css HTTP/1.1\r\nHost: x\r\nRange: bytes=100-\r\n\r\n",
            false,
        );
        assert_eq!(p.status, "416 Range Not Satisfiable");
        assert_eq!(p.body, None);
        assert!(p.headers.contains(&("Content-Range", "bytes */100".into())));
        let p = plan_for(
            "GET /s/site.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"0-64\"\r\n\r\n",
            true,
        );
        assert_eq!(p.status, "304 Not Modified");
        assert_eq!(names(&p), ["Last-Modified", "ETag", "Vary", "Expires"]);
        // HEAD: the GET's head, whole (Range is for GET only).
        let p = plan_for(
            "HEAD /s/site.css HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
            false,
        );
        assert_eq!((p.status, p.body), ("200 OK", Some((0, 100))));
    }

    #[test]
    fn only_get_and_head_and_headers_from_either_protocol() {
        let (post, _) = parse_request(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            &LIMITS,
        )
        .unwrap()
        .unwrap();
        assert!(FileRequest::of(&post).is_none());
        let packet = crate::protocol::uwsgi::encode(&[
            ("REQUEST_METHOD", "HEAD"),
            ("PATH_INFO", "/s/a.css"),
            ("REQUEST_URI", "/s/a.css?v=1"),
            ("HTTP_ACCEPT_ENCODING", "gzip"),
            ("HTTP_IF_NONE_MATCH", "\"x\""),
        ]);
        let (head, _) = crate::protocol::uwsgi::parse_packet(&packet, &LIMITS)
            .unwrap()
            .unwrap();
        let req = FileRequest::of(&head).unwrap();
        assert!(req.head_only);
        assert_eq!(req.path, b"/s/a.css");
        assert_eq!(req.uri, b"/s/a.css?v=1");
        assert_eq!(req.accept_encoding.as_deref(), Some(&b"gzip"[..]));
        assert_eq!(req.if_none_match.as_deref(), Some(&b"\"x\""[..]));
        assert_eq!(req.range, None);
    }

    #[test]
    fn the_gzip_variant_is_a_regular_sibling_that_is_no_dotfile() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("rsgi-variant-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("s/dir.css.gz")).unwrap();
        std::fs::create_dir_all(base.join("out")).unwrap();
        for f in [
            "s/a.css",
            "s/a.css.gz",
            "s/b.css",
            "s/.hidden",
            "s/c.css",
            "out/c.gz",
        ] {
            std::fs::write(base.join(f), f).unwrap();
        }
        symlink(".hidden", base.join("s/b.css.gz")).unwrap();
        symlink("../out/c.gz", base.join("s/c.css.gz")).unwrap();
        let s = std::fs::canonicalize(base.join("s")).unwrap();
        let files = StaticFiles {
            gzip: GzipRule {
                all: true,
                ..GzipRule::default()
            },
            ..files()
        };
        let gzip = Some(&b"gzip"[..]);
        // (file, Accept-Encoding, sent, gzip, vary)
        type Case<'a> = (&'a str, Option<&'a [u8]>, &'a str, bool, bool);
        let cases: &[Case] = &[
            ("a.css", gzip, "a.css.gz", true, true),
            ("a.css", None, "a.css", false, true),
            ("b.css", gzip, "b.css", false, false),
            ("c.css", gzip, "c.css", false, false),
            ("dir.css", gzip, "dir.css", false, false),
        ];
        for (name, accept, sent, gzip, vary) in cases {
            let v = files.variant(s.join(name), *accept);
            assert_eq!(
                (v.send, v.gzip, v.vary),
                (s.join(sent), *gzip, *vary),
                "{name}"
            );
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn no_static_options_no_static_files() {
        let (files, notes) = StaticFiles::from_config(&Config::default());
        assert!(files.is_none() && notes.is_empty());
        let c = Config {
            static_map: vec![crate::config::value::StaticMap {
                mount: "/s".into(),
                dir: "/nonexistent/dir".into(),
            }],
            ..Config::default()
        };
        let (files, notes) = StaticFiles::from_config(&c);
        assert!(files.is_some());
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
