//! The request log line: `log-format` (uWSGI's `%(var)` syntax) or JSON,
//! filtered by `log-slow` / `log-4xx` / `log-5xx`, written with one
//! `write` per line so lines from several workers never interleave.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::logformat::{DEFAULT, Record, Template};
use crate::protocol::{HeadKind, RequestHead};
use crate::wsgi::environ::ConnInfo;

/// How requests are logged, from the config.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub disabled: bool,
    template: Option<Template>,
    json: bool,
    slow_ms: u64,
    only_4xx: bool,
    only_5xx: bool,
}

impl LogSettings {
    pub fn from_config(c: &crate::config::Config) -> LogSettings {
        LogSettings {
            disabled: c.disable_logging,
            // The loader validated the template; a failure here cannot happen.
            template: c
                .log_format
                .as_deref()
                .and_then(|f| Template::parse(f).ok()),
            json: c.log_format_json
                || c.log_encoder
                    .as_deref()
                    .is_some_and(|e| e.starts_with("json")),
            slow_ms: c.log_slow,
            only_4xx: c.log_4xx,
            only_5xx: c.log_5xx,
        }
    }

    /// Whether this request gets a line: with any of log-slow, log-4xx,
    /// log-5xx set, only requests matching one of them do.
    fn wants(&self, status: u16, elapsed: Duration) -> bool {
        if self.disabled {
            return false;
        }
        let filtered = self.slow_ms > 0 || self.only_4xx || self.only_5xx;
        !filtered
            || (self.slow_ms > 0 && elapsed.as_millis() as u64 > self.slow_ms)
            || (self.only_4xx && (400..500).contains(&status))
            || (self.only_5xx && status >= 500)
    }
}

/// What the log needs of a request, captured before the head moves on.
pub struct RequestLog {
    method: String,
    uri: String,
    proto: &'static str,
    addr: String,
    host: String,
    referer: String,
    uagent: String,
    vars: usize,
}

/// What the log needs of the answer.
pub struct Answer {
    pub status: u16,
    /// Body bytes that reached the socket (not what the app gave: a client
    /// that stopped reading got less).
    pub size: u64,
    pub rsize: u64,
    pub headers: usize,
    pub core: usize,
    pub wid: usize,
}

impl RequestLog {
    pub fn from_head(head: &RequestHead, conn: &ConnInfo) -> RequestLog {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match &head.kind {
            HeadKind::Http {
                method,
                target,
                minor_version,
                headers,
                ..
            } => {
                let header = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| head.bytes_at(n).eq_ignore_ascii_case(name.as_bytes()))
                        .map(|(_, v)| text(head.bytes_at(v)))
                        .unwrap_or_default()
                };
                RequestLog {
                    method: text(head.bytes_at(method)),
                    uri: text(head.bytes_at(target)),
                    proto: if *minor_version == 0 {
                        "HTTP/1.0"
                    } else {
                        "HTTP/1.1"
                    },
                    addr: conn.remote_addr.clone(),
                    host: header("host"),
                    referer: header("referer"),
                    uagent: header("user-agent"),
                    vars: headers.len(),
                }
            }
            HeadKind::Uwsgi { vars, .. } => {
                let var = |name: &str| head.var(name).map(text);
                RequestLog {
                    method: var("REQUEST_METHOD").unwrap_or_default(),
                    uri: text(head.uri()),
                    proto: "uwsgi",
                    addr: var("REMOTE_ADDR").unwrap_or_else(|| conn.remote_addr.clone()),
                    host: var("HTTP_HOST").unwrap_or_default(),
                    referer: var("HTTP_REFERER").unwrap_or_default(),
                    uagent: var("HTTP_USER_AGENT").unwrap_or_default(),
                    vars: vars.len(),
                }
            }
        }
    }

    pub fn write(&self, settings: &LogSettings, answer: &Answer, elapsed: Duration) {
        if !settings.wants(answer.status, elapsed) {
            return;
        }
        let record = Record {
            method: &self.method,
            uri: &self.uri,
            proto: self.proto,
            status: answer.status,
            size: answer.size,
            rsize: answer.rsize,
            micros: elapsed.as_micros() as u64,
            addr: &self.addr,
            host: &self.host,
            referer: &self.referer,
            uagent: &self.uagent,
            pid: std::process::id(),
            wid: answer.wid,
            core: answer.core,
            vars: self.vars,
            headers: answer.headers,
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let mut line = if settings.json {
            record.to_json(settings.template.as_ref())
        } else {
            let mut out = String::with_capacity(160);
            match &settings.template {
                Some(t) => t.render(&record, &mut out),
                None => default_template().render(&record, &mut out),
            }
            out
        };
        line.push('\n');
        crate::logfile::STDERR.write(line.as_bytes());
    }
}

fn default_template() -> &'static Template {
    static DEFAULT_TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
    // DEFAULT is a constant; logformat's tests parse it.
    DEFAULT_TEMPLATE
        .get_or_init(|| Template::parse(DEFAULT).expect("the default log template parses"))
}
