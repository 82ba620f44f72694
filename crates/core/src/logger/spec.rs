//! The values of `logger`, `req-logger`, `log-route` and `log-req-route`,
//! read as uWSGI reads them, and uWSGI's rule for which loggers a line
//! goes to (core/logging.c: `setup_chosen_logger`, `uwsgi_master_log`).

use std::fmt;
use std::path::PathBuf;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

use super::syslog::Facility;

/// One `logger` / `req-logger` value: `[ID ]NAME[:ARG]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Logger {
    /// The name `log-route` sends lines to; an unnamed logger gets the
    /// lines no route took.
    pub id: Option<String>,
    pub target: Target,
    /// The value as written, for `--show-config` and the handoff.
    raw: String,
}

/// Where a logger writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `file:PATH`: appended to, opened once per process.
    File(PathBuf),
    /// `stdio`: the process's own log (stderr, or `logto`'s file).
    Stdio,
    /// `syslog[:IDENT[,FACILITY]]`: datagrams to /dev/log.
    Syslog { ident: String, facility: Facility },
}

impl Logger {
    pub fn parse(raw: &str) -> Result<Logger, String> {
        let value = raw.trim();
        // uWSGI: the text before the first space is an id only if it is
        // all letters and digits; otherwise the whole value is the logger.
        let (id, rest) = match value.split_once(' ') {
            Some((id, rest)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                (Some(id.to_string()), rest.trim_start())
            }
            _ => (None, value),
        };
        let (name, arg) = match rest.split_once(':') {
            Some((name, arg)) => (name, Some(arg).filter(|a| !a.is_empty())),
            None => (rest, None),
        };
        let target = match (name, arg) {
            ("file", Some(arg)) if arg.contains('=') => {
                return Err(format!(
                    "{raw:?}: rsgi's file logger takes a path; its rotation options \
                     (logfile=, maxsize=, backupname=) are not supported: rotate with \
                     logrotate and log-reopen"
                ));
            }
            ("file", Some(path)) => Target::File(PathBuf::from(path)),
            ("file", None) => {
                return Err(format!(
                    "{raw:?}: file: needs a path (file:/var/log/app.log)"
                ));
            }
            ("stdio", _) => Target::Stdio,
            ("syslog", arg) => {
                let (ident, facility) = match arg.map(|a| a.split_once(',').unwrap_or((a, ""))) {
                    None => ("uwsgi", ""),
                    Some((ident, facility)) => (ident, facility),
                };
                Target::Syslog {
                    ident: ident.to_string(),
                    facility: Facility::parse(facility)
                        .ok_or_else(|| format!("{raw:?}: unknown syslog facility {facility:?}"))?,
                }
            }
            (other, _) => {
                return Err(format!(
                    "{raw:?}: rsgi has no {other:?} logger (it has file:, stdio: and syslog:)"
                ));
            }
        };
        Ok(Logger {
            id,
            target,
            raw: value.to_string(),
        })
    }
}

impl TryFrom<String> for Logger {
    type Error = String;
    fn try_from(raw: String) -> Result<Logger, String> {
        Logger::parse(&raw)
    }
}

impl From<Logger> for String {
    fn from(l: Logger) -> String {
        l.raw
    }
}

impl fmt::Display for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One `log-route` / `log-req-route` value: `ID REGEX`. uWSGI matches
/// with PCRE; rsgi with the `regex` crate, which has no look-around or
/// back-references (a pattern using them is refused when the config loads).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Route {
    pub id: String,
    pub pattern: Regex,
}

impl Route {
    pub fn parse(raw: &str) -> Result<Route, String> {
        let (id, pattern) = raw
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{raw:?}: expected a logger name, a space and a regex"))?;
        let pattern = Regex::new(pattern.trim_start())
            .map_err(|e| format!("{raw:?}: not a regex rsgi can match: {e}"))?;
        Ok(Route {
            id: id.to_string(),
            pattern,
        })
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.id == other.id && self.pattern.as_str() == other.pattern.as_str()
    }
}

impl TryFrom<String> for Route {
    type Error = String;
    fn try_from(raw: String) -> Result<Route, String> {
        Route::parse(&raw)
    }
}

impl From<Route> for String {
    fn from(r: Route) -> String {
        r.to_string()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.pattern.as_str())
    }
}

/// Which loggers get a line, decided as uWSGI decides it: every route
/// whose regex matches sends the line to its logger; a line no route
/// took goes to every unnamed logger; with no unnamed logger either, to
/// the process's own log (stderr or `logto`).
#[derive(Debug, Default)]
pub struct Plan {
    unnamed: Vec<usize>,
    /// A route and the logger (by index) its id names. uWSGI ignores a
    /// route whose id names no logger; so does this.
    routes: Vec<(Regex, usize)>,
}

impl Plan {
    /// `loggers`: (index, logger) of the loggers this plan serves;
    /// `named`: the index of the logger a route's id names.
    pub fn new<'a>(
        loggers: impl IntoIterator<Item = (usize, &'a Logger)>,
        routes: &[Route],
        named: impl Fn(&str) -> Option<usize>,
    ) -> Plan {
        Plan {
            unnamed: loggers
                .into_iter()
                .filter(|(_, l)| l.id.is_none())
                .map(|(i, _)| i)
                .collect(),
            routes: routes
                .iter()
                .filter_map(|r| named(&r.id).map(|i| (r.pattern.clone(), i)))
                .collect(),
        }
    }

    /// Call `deliver` with each logger `line` goes to; false if it goes
    /// to none (the caller writes it to the process's own log).
    pub fn pick(&self, line: &[u8], mut deliver: impl FnMut(usize)) -> bool {
        // PCRE's `$` also matches before a final newline; Rust's only at
        // the very end: match without it, so `failed$` means the same.
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let mut routed = false;
        for (pattern, i) in &self.routes {
            if pattern.is_match(text) {
                deliver(*i);
                routed = true;
            }
        }
        if routed {
            return true;
        }
        self.unnamed.iter().for_each(|&i| deliver(i));
        !self.unnamed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logger_values_read_as_uwsgi_reads_them() {
        let syslog = |ident: &str, facility| Target::Syslog {
            ident: ident.into(),
            facility: Facility::parse(facility).expect("facility"),
        };
        for (raw, id, target) in [
            (
                "file:/var/log/a.log",
                None,
                Target::File("/var/log/a.log".into()),
            ),
            ("errors file:/x", Some("errors"), Target::File("/x".into())),
            ("stdio", None, Target::Stdio),
            ("stdio:", None, Target::Stdio),
            ("syslog", None, syslog("uwsgi", "")),
            ("syslog:", None, syslog("uwsgi", "")),
            ("syslog:myapp", None, syslog("myapp", "")),
            ("syslog:myapp,local3", None, syslog("myapp", "local3")),
            ("a1 syslog:x,user", Some("a1"), syslog("x", "user")),
            // Not all alphanumeric before the space: no id, and the whole
            // value names the logger (here a file path with a space).
            ("file:/a b", None, Target::File("/a b".into())),
        ] {
            let l = Logger::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((l.id.as_deref(), &l.target), (id, &target), "{raw}");
            assert_eq!(l.to_string(), raw);
        }
    }

    #[test]
    fn unusable_logger_values_say_why() {
        for (raw, why) in [
            ("file:", "needs a path"),
            ("file:logfile=/x,maxsize=10", "logrotate"),
            ("socket:1.2.3.4:514", "no \"socket\" logger"),
            ("syslog:x,nosuch", "unknown syslog facility"),
        ] {
            let e = Logger::parse(raw).expect_err(raw);
            assert!(e.contains(why), "{raw}: {e}");
        }
    }

    #[test]
    fn routes_take_a_name_and_a_regex() {
        let r = Route::parse(r"slow \d{4,} msecs").expect("route");
        assert_eq!(r.id, "slow");
        assert!(r.pattern.is_match(b"in 12000 msecs"));
        assert_eq!(r.to_string(), r"slow \d{4,} msecs");
        assert!(Route::parse("justaname").is_err());
        assert!(Route::parse("x (unclosed").is_err());
        let back: Route =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("json");
        assert_eq!(back, r);
    }

    fn plan(loggers: &[&str], routes: &[&str]) -> Plan {
        let loggers: Vec<Logger> = loggers
            .iter()
            .map(|l| Logger::parse(l).expect("logger"))
            .collect();
        let routes: Vec<Route> = routes
            .iter()
            .map(|r| Route::parse(r).expect("route"))
            .collect();
        let named = |id: &str| loggers.iter().position(|l| l.id.as_deref() == Some(id));
        Plan::new(loggers.iter().enumerate(), &routes, named)
    }

    fn picked(plan: &Plan, line: &str) -> Option<Vec<usize>> {
        let mut got = Vec::new();
        plan.pick(line.as_bytes(), |i| got.push(i)).then_some(got)
    }

    #[test]
    fn lines_go_where_uwsgi_sends_them() {
        let p = plan(
            &[
                "file:/all",
                "errors file:/errors",
                "stdio",
                "slow file:/slow",
            ],
            &["errors ERROR", "slow msecs", "nosuch .", "errors 500$"],
        );
        for (line, to) in [
            // No route matches: every unnamed logger.
            ("GET / 200", Some(vec![0, 2])),
            // A route matches: its logger only, not the unnamed ones.
            ("ERROR boom", Some(vec![1])),
            // Every matching route, in order; a route to a logger that
            // does not exist is ignored (and does not count as taken).
            ("ERROR in 9 msecs: 500", Some(vec![1, 3, 1])),
            // `$` before the line's newline, as in PCRE.
            ("took 3 msecs\n", Some(vec![3])),
        ] {
            assert_eq!(picked(&p, line), to, "{line}");
        }
        // Only named loggers: an unrouted line goes to the process's log.
        let p = plan(&["errors file:/errors"], &["errors ERROR"]);
        assert_eq!(picked(&p, "fine"), None);
        assert_eq!(picked(&p, "ERROR"), Some(vec![0]));
    }
}
