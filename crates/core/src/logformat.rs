//! Request log lines as uWSGI writes them (core/logging.c): its default
//! line byte for byte when there is no `log-format`, and `%(var)`
//! templates whose variables mean what they mean in uWSGI. Templates are
//! compiled once at config time (any other `%(name)` is a logvar the app
//! sets per request, as in uWSGI) and rendered per request. uWSGI's memory
//! variables (`vsz`, `rss`, `vszM`, `rssM`) hold the worker's size after
//! the request with memory-report, 0 without it (as in uWSGI).

use std::fmt::Write;

use crate::protocol::{HeadKind, RequestHead};

/// One variable a template may name (uWSGI's "logchunks").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Method,
    Uri,
    Proto,
    Status,
    /// Response headers and body, in bytes.
    Size,
    /// Response body bytes.
    Rsize,
    /// Response head bytes.
    Hsize,
    /// Request body bytes (its Content-Length).
    Cl,
    Msecs,
    Micros,
    /// Response time in seconds, as a float.
    Secs,
    Addr,
    User,
    /// Start of the request: `27/Nov/2026:05:20:17 +0000`, local time.
    Ltime,
    /// As ltime (uWSGI applies log-date's strftime here; rsgi has none).
    Ftime,
    /// Start of the request: `Fri Nov 27 05:20:17 2026`, local time.
    Ctime,
    /// Start of the request, unix seconds.
    Time,
    /// Start of the request, unix milliseconds.
    Tmsecs,
    /// Start of the request, unix microseconds.
    Tmicros,
    /// Now, unix seconds.
    Epoch,
    Host,
    Referer,
    Uagent,
    Pid,
    Wid,
    Vars,
    Pktsize,
    Headers,
    Switches,
    Core,
    Modifier1,
    Modifier2,
    Werr,
    Rerr,
    Ioerr,
    /// The worker's address space after the request, bytes (memory-report).
    Vsz,
    /// The worker's resident set after the request, bytes (memory-report).
    Rss,
    /// `vsz` in MB.
    VszM,
    /// `rss` in MB.
    RssM,
}

const NAMES: [(&str, Var); 39] = [
    ("method", Var::Method),
    ("uri", Var::Uri),
    ("proto", Var::Proto),
    ("status", Var::Status),
    ("size", Var::Size),
    ("rsize", Var::Rsize),
    ("hsize", Var::Hsize),
    ("cl", Var::Cl),
    ("msecs", Var::Msecs),
    ("micros", Var::Micros),
    ("secs", Var::Secs),
    ("addr", Var::Addr),
    ("user", Var::User),
    ("ltime", Var::Ltime),
    ("ftime", Var::Ftime),
    ("ctime", Var::Ctime),
    ("time", Var::Time),
    ("tmsecs", Var::Tmsecs),
    ("tmicros", Var::Tmicros),
    ("epoch", Var::Epoch),
    ("host", Var::Host),
    ("referer", Var::Referer),
    ("uagent", Var::Uagent),
    ("pid", Var::Pid),
    ("wid", Var::Wid),
    ("vars", Var::Vars),
    ("pktsize", Var::Pktsize),
    ("headers", Var::Headers),
    ("switches", Var::Switches),
    ("core", Var::Core),
    ("modifier1", Var::Modifier1),
    ("modifier2", Var::Modifier2),
    ("werr", Var::Werr),
    ("rerr", Var::Rerr),
    ("ioerr", Var::Ioerr),
    ("vsz", Var::Vsz),
    ("rss", Var::Rss),
    ("vszM", Var::VszM),
    ("rssM", Var::RssM),
];

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
    /// `%(var.NAME)`: a request variable (REMOTE_ADDR, HTTP_X_REAL_IP...).
    Request(String),
    /// `%(NAME)` for any other NAME: what the app set with
    /// `uwsgi.set_logvar(NAME, value)` for this request, else nothing.
    Logvar(String),
}

impl Template {
    /// Compile `%(var)` placeholders. A name that is none of uWSGI's
    /// variables is a logvar, which the app sets per request with
    /// `uwsgi.set_logvar()` (core/logging.c makes every other name one).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("%(") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find(')')
                .ok_or_else(|| format!("unclosed %( in {text:?}"))?;
            let name = &after[..end];
            if let Some(var) = name.strip_prefix("var.") {
                pieces.push(Piece::Request(var.to_string()));
            } else {
                match NAMES.iter().find(|(n, _)| *n == name) {
                    Some((_, var)) => pieces.push(Piece::Var(*var)),
                    None => pieces.push(Piece::Logvar(name.to_string())),
                }
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template(pieces))
    }

    /// The logvars this template names: `%(NAME)` for any NAME that is
    /// not a variable of uWSGI's.
    pub fn logvars(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Logvar(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The log variable whose name is closest to `name` (a typo of a
    /// variable would otherwise pass silently as a logvar).
    pub fn suggest(name: &str) -> Option<&'static str> {
        NAMES
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.len().abs_diff(name.len()) <= 1 && differences(n, name) <= 1)
    }

    /// The variables this template names, in order.
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(*v),
            _ => None,
        })
    }

    /// The request variables (`%(var.NAME)`) this template names.
    pub fn request_vars(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Request(n) => Some(n.as_str()),
            _ => None,
        })
    }

    pub fn render(&self, record: &Record<'_>, out: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => record.write_var(*v, out),
                Piece::Request(name) => {
                    let value = record
                        .request_vars
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("");
                    out.push_str(if value.is_empty() { "-" } else { value });
                }
                // uWSGI writes nothing for a logvar the request did not set.
                Piece::Logvar(name) => {
                    if let Some((_, value)) = record.logvars.iter().find(|(n, _)| n == name) {
                        out.push_str(value);
                    }
                }
            }
        }
    }
}

pub fn var_name(v: Var) -> &'static str {
    NAMES.iter().find(|(_, x)| *x == v).map_or("?", |(n, _)| n)
}

/// Everything a log line may show about one request.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub proto: &'a str,
    pub status: u16,
    /// Response body bytes.
    pub rsize: u64,
    /// Response head bytes (status line, headers, blank line).
    pub hsize: u64,
    /// Request body bytes.
    pub cl: u64,
    pub micros: u64,
    /// Unix time in microseconds at the start of the request.
    pub start_us: u64,
    pub addr: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub referer: &'a str,
    pub uagent: &'a str,
    pub pid: u32,
    pub wid: usize,
    pub core: usize,
    /// The app (mountpoint) that answered; None when none matched.
    pub app: Option<usize>,
    /// Requests this worker served with that app, this one included.
    pub app_requests: u64,
    /// Requests every worker served, this one included.
    pub total_requests: u64,
    /// Request variables, counted as uWSGI counts them (keys and values).
    pub vars: usize,
    /// The size of those variables as a uwsgi packet.
    pub pktsize: usize,
    pub modifier1: u8,
    pub modifier2: u8,
    /// Response headers the app gave.
    pub headers: usize,
    pub write_errors: u64,
    pub read_errors: u64,
    /// Values of the `%(var.NAME)` the template names.
    pub request_vars: &'a [(String, String)],
    /// The worker's size after the request, with memory-report.
    pub memory: Option<Memory>,
    /// The logvars the app set for this request (`uwsgi.set_logvar`).
    pub logvars: &'a [(String, String)],
}

/// A process's size, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub vsz: u64,
    pub rss: u64,
}

impl Memory {
    /// From the text of `/proc/PID/statm` (sizes in pages).
    pub fn from_statm(statm: &str, page_size: u64) -> Option<Memory> {
        let mut pages = statm.split_whitespace().map(|v| v.parse::<u64>().ok());
        let vsz = pages.next()??;
        let rss = pages.next()??;
        Some(Memory {
            vsz: vsz.saturating_mul(page_size),
            rss: rss.saturating_mul(page_size),
        })
    }
}

/// How many positions differ between two names of nearly equal length
/// (one insertion or deletion counts as one difference).
fn differences(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() == b.len() {
        return a.iter().zip(b).filter(|(x, y)| x != y).count();
    }
    let (long, short) = if a.len() > b.len() { (a, b) } else { (b, a) };
    let prefix = long.iter().zip(short).take_while(|(x, y)| x == y).count();
    if long[prefix + 1..] == short[prefix..] {
        1
    } else {
        2
    }
}

/// Broken-down local time of a unix time, as C's localtime_r gives it.
fn local_time(secs: u64) -> Option<libc::tm> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the
    // thread-safe form and keeps no pointer to them.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn name_of<'n>(names: &[&'n str], i: libc::c_int) -> &'n str {
    usize::try_from(i)
        .ok()
        .and_then(|i| names.get(i))
        .copied()
        .unwrap_or("???")
}

/// C's ctime(): `Fri Nov 27 05:20:17 2026`.
pub fn ctime(secs: u64) -> String {
    match local_time(secs) {
        Some(tm) => format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            name_of(&DAYS, tm.tm_wday),
            name_of(&MONTHS, tm.tm_mon),
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            i64::from(tm.tm_year) + 1900
        ),
        None => "-".into(),
    }
}

/// strftime("%d/%b/%Y:%H:%M:%S %z"), uWSGI's `%(ltime)`.
pub fn ltime(secs: u64) -> String {
    match local_time(secs) {
        Some(tm) => {
            let off = tm.tm_gmtoff / 60;
            let sign = if off < 0 { '-' } else { '+' };
            format!(
                "{:02}/{}/{}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
                tm.tm_mday,
                name_of(&MONTHS, tm.tm_mon),
                i64::from(tm.tm_year) + 1900,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                off.abs() / 60,
                off.abs() % 60
            )
        }
        None => "-".into(),
    }
}

impl Record<'_> {
    /// uWSGI's default request line (`uwsgi_logit_simple`): no template
    /// reproduces it, because empty fields stay empty (`()` for no user).
    /// `micros`: `log-micros`, the time in microseconds.
    pub fn default_line(&self, micros: bool, out: &mut String) {
        let (app_id, app_req): (i64, i64) = match self.app {
            Some(a) => (a as i64, self.app_requests as i64),
            None => (-1, -1),
        };
        // uWSGI's memory-report prefix (core/logging.c, uwsgi_logit_simple).
        if let Some(m) = self.memory {
            let _ = write!(
                out,
                "{{address space usage: {} bytes/{}MB}} {{rss usage: {} bytes/{}MB}} ",
                m.vsz,
                m.vsz >> 20,
                m.rss,
                m.rss >> 20
            );
        }
        let (rt, unit) = if micros {
            (self.micros, "micros")
        } else {
            (self.micros / 1000, "msecs")
        };
        let _ = write!(
            out,
            "[pid: {}|app: {app_id}|req: {app_req}/{}] {} ({}) {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {rt} {unit} ({} {}) {} headers in {} bytes ({} switches on core {})",
            self.pid,
            self.total_requests,
            self.addr,
            self.user,
            self.vars,
            self.pktsize,
            ctime(self.start_us / 1_000_000),
            self.method,
            self.uri,
            self.rsize,
            self.proto,
            self.status,
            self.headers,
            self.hsize,
            1,
            self.core
        );
    }

    fn write_var(&self, v: Var, out: &mut String) {
        let start = out.len();
        let secs = self.start_us / 1_000_000;
        let _ = match v {
            Var::Method => write!(out, "{}", self.method),
            Var::Uri => write!(out, "{}", self.uri),
            Var::Proto => write!(out, "{}", self.proto),
            Var::Status => write!(out, "{}", self.status),
            Var::Size => write!(out, "{}", self.hsize + self.rsize),
            Var::Rsize => write!(out, "{}", self.rsize),
            Var::Hsize => write!(out, "{}", self.hsize),
            Var::Cl => write!(out, "{}", self.cl),
            Var::Msecs => write!(out, "{}", self.micros / 1000),
            Var::Micros => write!(out, "{}", self.micros),
            Var::Secs => write!(out, "{:.6}", self.micros as f64 / 1e6),
            Var::Addr => write!(out, "{}", self.addr),
            Var::User => write!(out, "{}", self.user),
            Var::Ltime | Var::Ftime => write!(out, "{}", ltime(secs)),
            Var::Ctime => write!(out, "{}", ctime(secs)),
            Var::Time => write!(out, "{secs}"),
            Var::Tmsecs => write!(out, "{}", self.start_us / 1000),
            Var::Tmicros => write!(out, "{}", self.start_us),
            Var::Epoch => write!(
                out,
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ),
            Var::Host => write!(out, "{}", self.host),
            Var::Referer => write!(out, "{}", self.referer),
            Var::Uagent => write!(out, "{}", self.uagent),
            Var::Pid => write!(out, "{}", self.pid),
            Var::Wid => write!(out, "{}", self.wid),
            Var::Vars => write!(out, "{}", self.vars),
            Var::Pktsize => write!(out, "{}", self.pktsize),
            Var::Headers => write!(out, "{}", self.headers),
            // rsgi runs each request on one thread, start to end.
            Var::Switches => write!(out, "1"),
            Var::Core => write!(out, "{}", self.core),
            Var::Modifier1 => write!(out, "{}", self.modifier1),
            Var::Modifier2 => write!(out, "{}", self.modifier2),
            Var::Werr => write!(out, "{}", self.write_errors),
            Var::Rerr => write!(out, "{}", self.read_errors),
            Var::Ioerr => write!(out, "{}", self.write_errors + self.read_errors),
            Var::Vsz => write!(out, "{}", self.memory.unwrap_or_default().vsz),
            Var::Rss => write!(out, "{}", self.memory.unwrap_or_default().rss),
            Var::VszM => write!(out, "{}", self.memory.unwrap_or_default().vsz >> 20),
            Var::RssM => write!(out, "{}", self.memory.unwrap_or_default().rss >> 20),
        };
        // uWSGI writes "-" for an empty variable.
        if out.len() == start {
            out.push('-');
        }
    }

    /// The record as one JSON object: the template's variables, or every
    /// variable when there is no template.
    pub fn to_json(&self, template: Option<&Template>) -> String {
        let vars: Vec<Var> = match template {
            Some(t) => t.vars().collect(),
            None => NAMES.iter().map(|(_, v)| *v).collect(),
        };
        let mut map = serde_json::Map::new();
        for v in vars {
            let mut text = String::new();
            self.write_var(v, &mut text);
            let value = match text.parse::<u64>() {
                Ok(n)
                    if !matches!(
                        v,
                        Var::Uri | Var::Method | Var::Host | Var::Referer | Var::Uagent
                    ) =>
                {
                    n.into()
                }
                _ => text.into(),
            };
            map.insert(var_name(v).to_string(), value);
        }
        for (name, value) in self.request_vars {
            map.insert(format!("var.{name}"), value.clone().into());
        }
        let named: Vec<&str> = template.map(|t| t.logvars().collect()).unwrap_or_default();
        for (name, value) in self.logvars {
            if template.is_none() || named.contains(&name.as_str()) {
                map.insert(name.clone(), value.clone().into());
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// A request variable by its CGI name (`%(var.NAME)`): for uwsgi
/// requests the packet's, for HTTP the one the environ would have.
pub fn request_var(head: &RequestHead, conn: &crate::net::ConnInfo, name: &str) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match &head.kind {
        HeadKind::Uwsgi { .. } => head.var(name).map(text).or_else(|| match name {
            "REMOTE_ADDR" => Some(conn.remote_addr.clone()),
            _ => None,
        }),
        HeadKind::Http {
            method,
            target,
            query,
            authority,
            minor_version,
            headers,
        } => {
            // RFC 9112 3.2.2: an absolute-form target's authority stands
            // in for the Host header, as in the environ.
            if let (Some(authority), "HTTP_HOST") = (authority, name) {
                return Some(text(head.bytes_at(authority)));
            }
            let header = name
                .strip_prefix("HTTP_")
                .or(match name {
                    "CONTENT_TYPE" | "CONTENT_LENGTH" => Some(name),
                    _ => None,
                })
                .map(|h| h.replace('_', "-"));
            if let Some(h) = header {
                let values: Vec<String> = headers
                    .iter()
                    .filter(|(n, _)| head.bytes_at(n).eq_ignore_ascii_case(h.as_bytes()))
                    .map(|(_, v)| text(head.bytes_at(v)))
                    .collect();
                return (!values.is_empty()).then(|| values.join(", "));
            }
            Some(match name {
                "REQUEST_METHOD" => text(head.bytes_at(method)),
                "REQUEST_URI" => text(head.bytes_at(target)),
                "PATH_INFO" => text(head.path()),
                "QUERY_STRING" => text(head.bytes_at(query)),
                "SERVER_PROTOCOL" => format!("HTTP/1.{minor_version}"),
                "REMOTE_ADDR" => conn.remote_addr.clone(),
                "REMOTE_PORT" => conn.remote_port.to_string(),
                "SERVER_NAME" => conn.server_name.clone(),
                "SERVER_PORT" => conn.server_port.to_string(),
                _ => return None,
            })
        }
    }
}

/// uWSGI's size of one variable in a uwsgi packet: two length bytes each
/// for the key and the value.
fn var_size(key: usize, value: usize) -> usize {
    2 + key + 2 + value
}

/// The request's variables as uWSGI counts them for the default line's
/// `{N vars in M bytes}`: for uwsgi requests, the packet's own; for HTTP,
/// those uWSGI's http-socket parser would build (proto/http.c: the
/// request line's five, SCRIPT_NAME unless manage-script-name, SERVER_NAME
/// (the host name), SERVER_PORT, REMOTE_ADDR, then one per header with
/// repeated headers merged). N counts keys and values, as uWSGI's
/// `var_cnt` does. PATH_INFO is the path rsgi gives the app (uWSGI only
/// percent-decodes; rsgi also removes dot segments, which clients rarely
/// send).
pub fn request_vars_size(
    head: &RequestHead,
    hostname: &str,
    server_port: &str,
    remote_addr: &str,
    manage_script_name: bool,
) -> (usize, usize) {
    match &head.kind {
        HeadKind::Uwsgi { vars, .. } => (
            vars.len() * 2,
            vars.iter().map(|(k, v)| var_size(k.len(), v.len())).sum(),
        ),
        HeadKind::Http {
            method,
            target,
            query,
            minor_version,
            headers,
            ..
        } => {
            let mut sizes = vec![
                var_size("REQUEST_METHOD".len(), head.bytes_at(method).len()),
                var_size("REQUEST_URI".len(), head.bytes_at(target).len()),
                var_size("PATH_INFO".len(), head.path().len()),
                var_size("QUERY_STRING".len(), head.bytes_at(query).len()),
                var_size(
                    "SERVER_PROTOCOL".len(),
                    if *minor_version == 0 {
                        "HTTP/1.0"
                    } else {
                        "HTTP/1.1"
                    }
                    .len(),
                ),
            ];
            if !manage_script_name {
                sizes.push(var_size("SCRIPT_NAME".len(), 0));
            }
            sizes.push(var_size("SERVER_NAME".len(), hostname.len()));
            sizes.push(var_size("SERVER_PORT".len(), server_port.len()));
            sizes.push(var_size("REMOTE_ADDR".len(), remote_addr.len()));
            // Headers: repeated names merge into one variable ("a, b").
            let mut merged: Vec<(Vec<u8>, usize)> = Vec::new();
            for (name, value) in headers {
                let name = head.bytes_at(name).to_ascii_uppercase();
                let len = head.bytes_at(value).len();
                match merged.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => *total += 2 + len,
                    None => merged.push((name, len)),
                }
            }
            for (name, len) in &merged {
                let prefixed = !(name == b"CONTENT-TYPE" || name == b"CONTENT-LENGTH");
                let key = name.len() + if prefixed { 5 } else { 0 };
                sizes.push(var_size(key, *len));
            }
            (sizes.len() * 2, sizes.iter().sum())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            method: "GET",
            uri: "/a?b",
            proto: "HTTP/1.1",
            status: 200,
            rsize: 13,
            hsize: 45,
            micros: 2500,
            addr: "127.0.0.1",
            uagent: "curl",
            pid: 7,
            wid: 2,
            app: Some(0),
            app_requests: 1,
            total_requests: 1,
            vars: 24,
            pktsize: 253,
            headers: 1,
            start_us: 1_700_000_000_500_000,
            ..Record::default()
        }
    }

    #[test]
    fn renders_exactly_the_fields_asked_for() {
        let t = Template::parse("%(method) %(uri) %(status) %(msecs)").unwrap();
        let mut out = String::new();
        t.render(&record(), &mut out);
        assert_eq!(out, "GET /a?b 200 2");
    }

    /// What each variable means in uWSGI (core/logging.c's logchunks).
    #[test]
    fn variables_mean_what_they_mean_in_uwsgi() {
        let r = Record { cl: 5, ..record() };
        let cases = [
            ("%(size)", "58".to_string()),
            ("%(rsize)", "13".into()),
            ("%(hsize)", "45".into()),
            ("%(cl)", "5".into()),
            ("%(time)", "1700000000".into()),
            ("%(tmsecs)", "1700000000500".into()),
            ("%(tmicros)", "1700000000500000".into()),
            ("%(micros) %(msecs) %(secs)", "2500 2 0.002500".into()),
            ("%(ltime)", ltime(1_700_000_000)),
            ("%(ctime)", ctime(1_700_000_000)),
            ("%(user) %(referer)", "- -".into()),
            ("%(vars) %(pktsize) %(switches)", "24 253 1".into()),
            ("%(var.HTTP_X_REAL_IP)", "-".into()),
        ];
        for (template, want) in cases {
            let mut out = String::new();
            Template::parse(template).unwrap().render(&r, &mut out);
            assert_eq!(out, want, "{template}");
        }
    }

    #[test]
    fn times_follow_c_formats() {
        let utc = ltime(1_700_000_000);
        let c = ctime(1_700_000_000);
        // The shape, whatever the machine's zone: dd/Mon/yyyy:hh:mm:ss +hhmm.
        let b = utc.as_bytes();
        assert_eq!(
            (b[2], b[6], b[11], b[20]),
            (b'/', b'/', b':', b' '),
            "{utc}"
        );
        assert_eq!(c.len(), 24, "{c}");
        assert!(DAYS.contains(&&c[..3]) && MONTHS.contains(&&c[4..7]), "{c}");
    }

    /// The default line against uWSGI 2.0.31's for the same request (see
    /// tests/it/logging.rs for how it was captured).
    #[test]
    fn default_line_is_uwsgis() {
        let mut out = String::new();
        record().default_line(false, &mut out);
        let want = format!(
            "[pid: 7|app: 0|req: 1/1] 127.0.0.1 () {{24 vars in 253 bytes}} [{}] GET /a?b => generated 13 bytes in 2 msecs (HTTP/1.1 200) 1 headers in 45 bytes (1 switches on core 0)",
            ctime(1_700_000_000)
        );
        assert_eq!(out, want);
        let mut micros = String::new();
        record().default_line(true, &mut micros);
        assert!(micros.contains("in 2500 micros (HTTP/1.1 200)"), "{micros}");
    }

    /// memory-report: uWSGI's prefix before the default line, and its
    /// `%(vsz)`/`%(rss)` variables (0 without memory-report).
    #[test]
    fn memory_report_prefixes_the_line_and_fills_its_variables() {
        let memory = Memory::from_statm("51200 2560 700 1 0 900 0\n", 4096);
        assert_eq!(
            memory,
            Some(Memory {
                vsz: 209_715_200,
                rss: 10_485_760
            })
        );
        assert_eq!(Memory::from_statm("garbage", 4096), None);
        let r = Record { memory, ..record() };
        let mut out = String::new();
        r.default_line(false, &mut out);
        assert!(
            out.starts_with(
                "{address space usage: 209715200 bytes/200MB} {rss usage: 10485760 bytes/10MB} [pid: 7|"
            ),
            "{out}"
        );
        let t = Template::parse("%(vsz) %(rss) %(vszM) %(rssM)").unwrap();
        let mut out = String::new();
        t.render(&r, &mut out);
        assert_eq!(out, "209715200 10485760 200 10");
        let mut none = String::new();
        t.render(&record(), &mut none);
        assert_eq!(none, "0 0 0 0");
    }

    #[test]
    fn unclosed_variables_are_errors() {
        assert!(
            Template::parse("%(method")
                .unwrap_err()
                .contains("unclosed")
        );
    }

    /// Any name that is not a variable is a logvar: the app's value for
    /// this request, or nothing (core/logging.c writes an empty chunk).
    #[test]
    fn other_names_are_the_apps_logvars() {
        let logvars = [("user_id".to_string(), "42".to_string())];
        let r = Record {
            logvars: &logvars,
            ..record()
        };
        let cases = [
            ("%(method) u=%(user_id)", "GET u=42"),
            ("[%(unset)]", "[]"),
            ("%(user_id)%(user_id)", "4242"),
        ];
        for (template, want) in cases {
            let t = Template::parse(template).unwrap();
            let mut out = String::new();
            t.render(&r, &mut out);
            assert_eq!(out, want, "{template}");
        }
        let t = Template::parse("%(method) %(user_id) %(unset)").unwrap();
        assert_eq!(t.logvars().collect::<Vec<_>>(), ["user_id", "unset"]);
        assert_eq!(r.to_json(Some(&t)), r#"{"method":"GET","user_id":"42"}"#);
    }

    #[test]
    fn a_logvar_one_letter_from_a_variable_is_suggested() {
        let table = [
            ("stauts", None),
            ("statu", Some("status")),
            ("statuss", Some("status")),
            ("mthod", Some("method")),
            ("methxd", Some("method")),
            ("user_id", None),
        ];
        for (name, want) in table {
            assert_eq!(Template::suggest(name), want, "{name}");
        }
    }

    #[test]
    fn json_lines_keep_numbers_numeric() {
        let t = Template::parse("%(method) %(status) %(msecs)").unwrap();
        assert_eq!(
            record().to_json(Some(&t)),
            r#"{"method":"GET","msecs":2,"status":200}"#
        );
    }

    /// `{24 vars in 253 bytes}` for the request uWSGI 2.0.31 logged it for:
    /// curl's GET /x?y=1 with Host, User-Agent and Accept, on host "vm",
    /// port 9411, from 127.0.0.1.
    #[test]
    fn http_request_vars_count_as_uwsgi_counts_them() {
        let raw = b"GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:9411\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
        let limits = crate::protocol::http::Limits {
            max_head: 4096,
            max_body: 0,
        };
        let head = match crate::protocol::http::parse_request(raw, &limits) {
            Ok(Some((head, _))) => head,
            other => panic!("parse: {other:?}"),
        };
        assert_eq!(
            request_vars_size(&head, "vm", "9411", "127.0.0.1", false),
            (24, 253)
        );
        assert_eq!(
            request_vars_size(&head, "vm", "9411", "127.0.0.1", true),
            (22, 238)
        );
    }
}
