//! The gzip variant of a file: which files have one looked for
//! (`static-gzip-all`, `-dir`, `-ext`, `static-gzip`), and whether the
//! client takes it.

use regex::bytes::Regex;

/// Which files' `NAME.gz` is looked for, by uWSGI's rules: all of them,
/// a real path starting with a prefix, ending with a suffix, or matching
/// a regex.
#[derive(Debug, Clone, Default)]
pub struct GzipRule {
    pub all: bool,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    pub patterns: Vec<Regex>,
}

impl GzipRule {
    pub fn applies_to(&self, real_path: &[u8]) -> bool {
        self.all
            || self
                .prefixes
                .iter()
                .any(|p| real_path.starts_with(p.as_bytes()))
            || self
                .suffixes
                .iter()
                .any(|s| real_path.ends_with(s.as_bytes()))
            || self.patterns.iter().any(|r| r.is_match(real_path))
    }
}

/// Whether an Accept-Encoding value accepts gzip (RFC 9110 12.5.3): named
/// (or as `x-gzip`) with a nonzero weight, or covered by `*` with one and
/// not refused by name. No header at all means no preference, but a
/// gzip body is sent only to a client that asked for it, as uWSGI and
/// nginx's gzip_static do.
pub fn accepts_gzip(accept_encoding: Option<&[u8]>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let value = String::from_utf8_lossy(value);
    let (mut gzip, mut star) = (None, None);
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let weight = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
            })
            .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if coding == "*" {
            star = Some(weight);
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("GZIP"), true),
            (Some("x-gzip"), true),
            (Some("br, gzip, deflate"), true),
            (Some("gzip;q=0.5"), true),
            (Some("gzip; q=0"), false),
            (Some("gzip;q=0.000"), false),
            (Some("gzip;q=bogus"), false),
            (Some("identity"), false),
            (Some("br"), false),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("*, gzip;q=0"), false),
            (Some("gzipx"), false),
        ];
        for (value, want) in cases {
            assert_eq!(accepts_gzip(value.map(str::as_bytes)), *want, "{value:?}");
        }
    }

    #[test]
    fn which_files_have_a_variant_looked_for() {
        let rule = GzipRule {
            all: false,
            prefixes: vec!["/srv/assets/".into()],
            suffixes: vec![".css".into()],
            patterns: vec![Regex::new(r"\.min\.js$").unwrap()],
        };
        let cases: &[(&str, bool)] = &[
            ("/srv/assets/app.js", true),
            ("/srv/static/site.css", true),
            ("/srv/static/app.min.js", true),
            ("/srv/static/app.js", false),
            ("/srv/assetsx/app.js", false),
        ];
        for (path, want) in cases {
            assert_eq!(rule.applies_to(path.as_bytes()), *want, "{path}");
        }
        let all = GzipRule {
            all: true,
            ..GzipRule::default()
        };
        assert!(all.applies_to(b"/anything"));
    }
}
