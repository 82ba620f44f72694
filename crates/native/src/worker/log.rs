//! The request log line: `log-format` (uWSGI's `%(var)` syntax) or JSON,
//! filtered by `log-slow` / `log-4xx` / `log-5xx`, written with one
//! `write` per line so lines from several workers never interleave.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::wsgi::environ::ConnInfo;
use rsgi_core::logformat::{Memory, Record, Template};
use rsgi_core::protocol::{HeadKind, RequestHead};

/// How requests are logged, from the config.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub disabled: bool,
    template: Option<Template>,
    json: bool,
    slow_ms: u64,
    only_4xx: bool,
    only_5xx: bool,
    /// `log-micros`: the default line's time in microseconds.
    micros: bool,
    /// `log-x-forwarded-for`: the address from X-Forwarded-For.
    x_forwarded_for: bool,
    /// SERVER_NAME as uWSGI counts it in the default line's variables.
    hostname: String,
    manage_script_name: bool,
    /// `memory-report`: the worker's size in each line.
    memory_report: bool,
}

impl LogSettings {
    pub fn from_config(c: &rsgi_core::config::Config) -> LogSettings {
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
            micros: c.log_micros,
            x_forwarded_for: c.log_x_forwarded_for,
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            manage_script_name: c.manage_script_name,
            memory_report: c.memory_report > 0,
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
    user: String,
    vars: usize,
    pktsize: usize,
    modifiers: (u8, u8),
    start_us: u64,
    request_vars: Vec<(String, String)>,
}

/// What the log needs of the answer.
pub struct Answer {
    pub status: u16,
    /// Response body bytes that reached the socket (not what the app
    /// gave: a client that stopped reading got less).
    pub rsize: u64,
    /// Response head bytes that reached the socket.
    pub hsize: u64,
    /// Request body bytes.
    pub cl: u64,
    pub headers: usize,
    pub core: usize,
    pub wid: usize,
    /// The app that answered (None: no mountpoint matched).
    pub app: Option<usize>,
    /// Requests this worker served with that app, and every worker served.
    pub requests: (u64, u64),
    /// What the app set with `uwsgi.set_logvar()`.
    pub logvars: Vec<(String, String)>,
}

impl RequestLog {
    pub fn from_head(head: &RequestHead, conn: &ConnInfo, settings: &LogSettings) -> RequestLog {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (vars, pktsize) = rsgi_core::logformat::request_vars_size(
            head,
            &settings.hostname,
            &conn.server_port.to_string(),
            &conn.remote_addr,
            settings.manage_script_name,
        );
        let start_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let request_vars = settings
            .template
            .iter()
            .flat_map(|t| t.request_vars())
            .map(|name| {
                let value = rsgi_core::logformat::request_var(head, conn, name).unwrap_or_default();
                (name.to_string(), value)
            })
            .collect();
        let var =
            |name: &str| rsgi_core::logformat::request_var(head, conn, name).unwrap_or_default();
        let forwarded = var("HTTP_X_FORWARDED_FOR");
        let addr = if settings.x_forwarded_for && !forwarded.is_empty() {
            forwarded
        } else {
            var("REMOTE_ADDR")
        };
        match &head.kind {
            HeadKind::Http {
                method,
                minor_version,
                ..
            } => RequestLog {
                method: text(head.bytes_at(method)),
                uri: text(head.uri()),
                proto: if *minor_version == 0 {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                },
                addr,
                host: var("HTTP_HOST"),
                referer: var("HTTP_REFERER"),
                uagent: var("HTTP_USER_AGENT"),
                user: String::new(),
                vars,
                pktsize,
                modifiers: (0, 0),
                start_us,
                request_vars,
            },
            HeadKind::Uwsgi {
                modifier1,
                modifier2,
                ..
            } => RequestLog {
                method: var("REQUEST_METHOD"),
                uri: text(head.uri()),
                proto: "uwsgi",
                addr,
                host: var("HTTP_HOST"),
                referer: var("HTTP_REFERER"),
                uagent: var("HTTP_USER_AGENT"),
                user: var("REMOTE_USER"),
                vars,
                pktsize,
                modifiers: (*modifier1, *modifier2),
                start_us,
                request_vars,
            },
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
            rsize: answer.rsize,
            hsize: answer.hsize,
            cl: answer.cl,
            micros: elapsed.as_micros() as u64,
            start_us: self.start_us,
            addr: &self.addr,
            user: &self.user,
            host: &self.host,
            referer: &self.referer,
            uagent: &self.uagent,
            pid: std::process::id(),
            wid: answer.wid,
            core: answer.core,
            app: answer.app,
            app_requests: answer.requests.0,
            total_requests: answer.requests.1,
            vars: self.vars,
            pktsize: self.pktsize,
            modifier1: self.modifiers.0,
            modifier2: self.modifiers.1,
            headers: answer.headers,
            write_errors: 0,
            read_errors: 0,
            request_vars: &self.request_vars,
            memory: settings.memory_report.then(own_memory).flatten(),
            logvars: &answer.logvars,
        };
        let mut line = if settings.json {
            record.to_json(settings.template.as_ref())
        } else {
            let mut out = String::with_capacity(160);
            match &settings.template {
                Some(t) => t.render(&record, &mut out),
                None => record.default_line(settings.micros, &mut out),
            }
            out
        };
        line.push('\n');
        rsgi_core::logger::log_request(line.as_bytes());
    }
}

/// This worker's size now, from /proc/self/statm (one read, as uWSGI's
/// get_memusage after each request with memory-report).
fn own_memory() -> Option<Memory> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Memory::from_statm(&statm, page)
}
