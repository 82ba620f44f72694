//! Content types by file extension: `mimefile` (uWSGI's default
//! `/etc/mime.types`) over a built-in table, so a container without the
//! file still serves CSS as CSS.

use std::collections::HashMap;
use std::path::Path;

/// What a file whose extension no table knows is sent as. uWSGI sends no
/// Content-Type then; a browser would sniff the bytes, and could run an
/// uploaded file as HTML, so rsgi names it opaque, as nginx's
/// `default_type` does.
pub const UNKNOWN: &str = "application/octet-stream";

/// The common web types, for when no mime.types file is there (or lacks
/// them). Types are IANA's, as Debian's media-types package lists them.
const BUILT_IN: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("htm", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("xml", "application/xml"),
    ("txt", "text/plain"),
    ("csv", "text/csv"),
    ("md", "text/markdown"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
];

/// Extension (lowercase, without the dot) to content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeTable {
    by_ext: HashMap<String, String>,
}

impl MimeTable {
    /// The built-in table, then each readable file's entries over it (the
    /// last file wins for an extension). The files that could not be
    /// read come back with why, for the caller to log.
    pub fn load(files: &[&Path]) -> (MimeTable, Vec<(String, std::io::Error)>) {
        let mut table = MimeTable::built_in();
        let mut unread = Vec::new();
        for file in files {
            match std::fs::read(file) {
                Ok(text) => table.add_mime_types(&String::from_utf8_lossy(&text)),
                Err(e) => unread.push((file.display().to_string(), e)),
            }
        }
        (table, unread)
    }

    pub fn built_in() -> MimeTable {
        MimeTable {
            by_ext: BUILT_IN
                .iter()
                .map(|(e, t)| (e.to_string(), t.to_string()))
                .collect(),
        }
    }

    /// Lines of the mime.types format: a type, then its extensions; `#`
    /// starts a comment.
    fn add_mime_types(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_ascii_whitespace();
            let Some(mime) = words.next().filter(|m| m.contains('/')) else {
                continue;
            };
            for ext in words {
                self.by_ext
                    .insert(ext.to_ascii_lowercase(), mime.to_string());
            }
        }
    }

    /// The type of a file by the extension of its name (case does not
    /// matter: `LOGO.PNG` is a PNG).
    pub fn of(&self, file_name: &[u8]) -> &str {
        let name = file_name.rsplit(|&b| b == b'/').next().unwrap_or_default();
        let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
            return UNKNOWN;
        };
        let ext = String::from_utf8_lossy(&name[dot + 1..]).to_ascii_lowercase();
        self.by_ext.get(&ext).map_or(UNKNOWN, String::as_str)
    }
}

/// The Content-Type value for a type: text gets `charset=utf-8` (what a
/// static site's text files are nearly always written in; nginx's
/// `charset_types` adds it to the same kinds). JSON defines no charset
/// parameter (RFC 8259 11), so it gets none.
pub fn content_type(mime: &str) -> String {
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/xml"
        || mime.ends_with("+xml");
    if textual && !mime.contains(';') {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension_from_a_file_over_the_built_in_table() {
        let mut t = MimeTable::built_in();
        t.add_mime_types(
            "# comment\n\
             application/x-thing\t\tthing THG\n\
             text/x-css css   # overrides\n\
             application/no-extensions\n\
             notatype foo\n",
        );
        let cases: &[(&str, &str)] = &[
            ("/a/b/site.css", "text/x-css"),
            ("x.thing", "application/x-thing"),
            ("x.thg", "application/x-thing"),
            ("LOGO.PNG", "image/png"),
            ("app.js", "text/javascript"),
            ("archive.tar.gz", "application/gzip"),
            ("x.foo", UNKNOWN),
            ("README", UNKNOWN),
            ("dir.d/README", UNKNOWN),
            ("trailing.", UNKNOWN),
        ];
        for (name, want) in cases {
            assert_eq!(t.of(name.as_bytes()), *want, "{name}");
        }
    }

    #[test]
    fn text_types_carry_a_charset() {
        let cases: &[(&str, &str)] = &[
            ("text/html", "text/html; charset=utf-8"),
            ("text/css", "text/css; charset=utf-8"),
            (
                "application/javascript",
                "application/javascript; charset=utf-8",
            ),
            ("image/svg+xml", "image/svg+xml; charset=utf-8"),
            ("application/json", "application/json"),
            ("image/png", "image/png"),
            ("text/plain; charset=latin1", "text/plain; charset=latin1"),
        ];
        for (mime, want) in cases {
            assert_eq!(content_type(mime), *want, "{mime}");
        }
    }

    #[test]
    fn a_missing_file_leaves_the_built_in_table_and_says_why() {
        let (t, unread) = MimeTable::load(&[Path::new("/nonexistent/mime.types")]);
        assert_eq!(t.of(b"a.css"), "text/css");
        assert_eq!(unread.len(), 1);
    }
}
