//! The Expires header of a static file: uWSGI's `static-expires*` rules.

use regex::bytes::Regex;

/// What a rule matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The real path of the file (`static-expires`).
    File(Regex),
    /// The request path (`static-expires-path-info`).
    PathInfo(Regex),
    /// The request URI as sent, query included (`static-expires-uri`).
    Uri(Regex),
    /// The content type, exactly (`static-expires-type`).
    Type(String),
}

/// What the delay counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The request (the plain options).
    Now,
    /// The file's modification time (the `-mtime` options).
    Mtime,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub matcher: Matcher,
    pub since: Since,
    pub seconds: u64,
}

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub file: &'a [u8],
    pub path_info: &'a [u8],
    pub uri: &'a [u8],
    pub mime: &'a str,
    pub mtime: u64,
    pub now: u64,
}

/// The rules in uWSGI's order: by file, by PATH_INFO, by URI, by type;
/// within each, the plain options before the `-mtime` ones.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub fn new(mut rules: Vec<Rule>) -> Rules {
        let rank = |r: &Rule| {
            let family = match r.matcher {
                Matcher::File(_) => 0,
                Matcher::PathInfo(_) => 1,
                Matcher::Uri(_) => 2,
                Matcher::Type(_) => 3,
            };
            (family, r.since == Since::Mtime)
        };
        // Stable: rules of one kind keep the order they were given in.
        rules.sort_by_key(rank);
        Rules { rules }
    }

    /// When the response expires (a Unix time), by the first rule that
    /// matches. uWSGI adds one Expires per matching family, which a
    /// client then has to choose from; one header says the same thing
    /// without the ambiguity.
    pub fn expires(&self, s: &Subject<'_>) -> Option<u64> {
        let rule = self.rules.iter().find(|r| match &r.matcher {
            Matcher::File(re) => re.is_match(s.file),
            Matcher::PathInfo(re) => re.is_match(s.path_info),
            Matcher::Uri(re) => re.is_match(s.uri),
            Matcher::Type(t) => t == s.mime,
        })?;
        let base = match rule.since {
            Since::Now => s.now,
            Since::Mtime => s.mtime,
        };
        Some(base.saturating_add(rule.seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    #[test]
    fn first_rule_in_uwsgi_order_decides() {
        let rules = Rules::new(vec![
            Rule {
                matcher: Matcher::Type("text/css".into()),
                since: Since::Now,
                seconds: 10,
            },
            Rule {
                matcher: Matcher::Type("image/png".into()),
                since: Since::Mtime,
                seconds: 20,
            },
            Rule {
                matcher: Matcher::Uri(re(r"\?v=")),
                since: Since::Now,
                seconds: 30,
            },
            Rule {
                matcher: Matcher::File(re(r"\.woff2$")),
                since: Since::Mtime,
                seconds: 40,
            },
            Rule {
                matcher: Matcher::PathInfo(re(r"^/static/img/")),
                since: Since::Now,
                seconds: 50,
            },
        ]);
        let s = |file: &'static str, uri: &'static str, mime: &'static str| Subject {
            file: file.as_bytes(),
            path_info: uri.split('?').next().unwrap().as_bytes(),
            uri: uri.as_bytes(),
            mime,
            mtime: 1000,
            now: 5000,
        };
        let cases = [
            (s("/srv/a.css", "/static/a.css", "text/css"), Some(5010)),
            (s("/srv/a.png", "/static/a.png", "image/png"), Some(1020)),
            (s("/srv/a.css", "/static/a.css?v=3", "text/css"), Some(5030)),
            (
                s("/srv/f.woff2", "/static/f.woff2?v=3", "font/woff2"),
                Some(1040),
            ),
            (
                s("/srv/img/a.png", "/static/img/a.png", "image/png"),
                Some(5050),
            ),
            (s("/srv/a.txt", "/static/a.txt", "text/plain"), None),
        ];
        for (subject, want) in cases {
            assert_eq!(rules.expires(&subject), want, "{subject:?}");
        }
    }
}
