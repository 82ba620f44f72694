//! Request log lines: uWSGI's `%(var)` templates, compiled once at config
//! time (an unknown variable is a config error), and rendered per request.

use std::fmt::Write;

/// One variable a template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Method,
    Uri,
    Proto,
    Status,
    Size,
    Rsize,
    Msecs,
    Micros,
    Addr,
    User,
    Ltime,
    Time,
    Epoch,
    Host,
    Referer,
    Uagent,
    Pid,
    Wid,
    Vars,
    Headers,
    Switches,
    Core,
}

const NAMES: [(&str, Var); 22] = [
    ("method", Var::Method),
    ("uri", Var::Uri),
    ("proto", Var::Proto),
    ("status", Var::Status),
    ("size", Var::Size),
    ("rsize", Var::Rsize),
    ("msecs", Var::Msecs),
    ("micros", Var::Micros),
    ("addr", Var::Addr),
    ("user", Var::User),
    ("ltime", Var::Ltime),
    ("time", Var::Time),
    ("epoch", Var::Epoch),
    ("host", Var::Host),
    ("referer", Var::Referer),
    ("uagent", Var::Uagent),
    ("pid", Var::Pid),
    ("wid", Var::Wid),
    ("vars", Var::Vars),
    ("headers", Var::Headers),
    ("switches", Var::Switches),
    ("core", Var::Core),
];

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// uWSGI's default line, in the same template language.
pub const DEFAULT: &str = "[pid: %(pid)|wid: %(wid)|core: %(core)] %(addr) %(user) [%(ltime)] %(method) %(uri) => generated %(size) bytes in %(msecs) msecs (%(proto) %(status)) %(headers) headers";

impl Template {
    /// Compile `%(var)` placeholders; an unknown one is an error naming it.
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
            let var = NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                    format!(
                        "unknown log variable %({name}); known: {}",
                        known.join(", ")
                    )
                })?;
            pieces.push(Piece::Var(var));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template(pieces))
    }

    /// The variables this template names, in order.
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(*v),
            Piece::Text(_) => None,
        })
    }

    pub fn render(&self, record: &Record<'_>, out: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => record.write_var(*v, out),
            }
        }
    }
}

pub fn var_name(v: Var) -> &'static str {
    NAMES.iter().find(|(_, x)| *x == v).map_or("?", |(n, _)| n)
}

/// Everything a log line may show about one request.
pub struct Record<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub proto: &'a str,
    pub status: u16,
    pub size: u64,
    pub rsize: u64,
    pub micros: u64,
    pub addr: &'a str,
    pub host: &'a str,
    pub referer: &'a str,
    pub uagent: &'a str,
    pub pid: u32,
    pub wid: usize,
    pub core: usize,
    pub vars: usize,
    pub headers: usize,
    /// Unix time at the end of the request.
    pub time: u64,
}

impl Record<'_> {
    fn write_var(&self, v: Var, out: &mut String) {
        let _ = match v {
            Var::Method => write!(out, "{}", self.method),
            Var::Uri => write!(out, "{}", self.uri),
            Var::Proto => write!(out, "{}", self.proto),
            Var::Status => write!(out, "{}", self.status),
            Var::Size => write!(out, "{}", self.size),
            Var::Rsize => write!(out, "{}", self.rsize),
            Var::Msecs => write!(out, "{}", self.micros / 1000),
            Var::Micros => write!(out, "{}", self.micros),
            Var::Addr => write!(out, "{}", self.addr),
            Var::User => write!(out, "-"),
            Var::Ltime => write!(
                out,
                "{}",
                String::from_utf8_lossy(&crate::protocol::response::imf_fixdate(self.time))
            ),
            Var::Time | Var::Epoch => write!(out, "{}", self.time),
            Var::Host => write!(out, "{}", self.host),
            Var::Referer => write!(out, "{}", self.referer),
            Var::Uagent => write!(out, "{}", self.uagent),
            Var::Pid => write!(out, "{}", self.pid),
            Var::Wid => write!(out, "{}", self.wid),
            Var::Vars => write!(out, "{}", self.vars),
            Var::Headers => write!(out, "{}", self.headers),
            Var::Switches => write!(out, "0"),
            Var::Core => write!(out, "{}", self.core),
        };
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
        serde_json::Value::Object(map).to_string()
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
            size: 13,
            rsize: 0,
            micros: 2500,
            addr: "127.0.0.1",
            host: "h",
            referer: "",
            uagent: "curl",
            pid: 7,
            wid: 2,
            core: 0,
            vars: 20,
            headers: 2,
            time: 0,
        }
    }

    #[test]
    fn renders_exactly_the_fields_asked_for() {
        let t = Template::parse("%(method) %(uri) %(status) %(msecs)").unwrap();
        let mut out = String::new();
        t.render(&record(), &mut out);
        assert_eq!(out, "GET /a?b 200 2");
        assert!(Template::parse(DEFAULT).is_ok());
    }

    #[test]
    fn unknown_and_unclosed_variables_are_errors() {
        assert!(
            Template::parse("%(nope)")
                .unwrap_err()
                .contains("unknown log variable %(nope)")
        );
        assert!(
            Template::parse("%(method")
                .unwrap_err()
                .contains("unclosed")
        );
    }

    #[test]
    fn json_lines_keep_numbers_numeric() {
        let t = Template::parse("%(method) %(status) %(msecs)").unwrap();
        assert_eq!(
            record().to_json(Some(&t)),
            r#"{"method":"GET","msecs":2,"status":200}"#
        );
    }
}
