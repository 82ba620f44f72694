//! THE option table. Every option rsgi knows is one entry here: its name,
//! aliases, short flag, kind, whether it repeats, default and help. The
//! `Config` struct, the CLI parser, file-key validation, `--help`,
//! `--check-config` and the README's option list are all generated from it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::value::{self, Address, Mode, Mount, Show};

/// The kind of value an option takes (for help and docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Size,
    Seconds,
    Address,
    Path,
    Text,
    Mode,
    Mount,
    Env,
    /// Loads another config file at this point.
    Include,
    /// Makes rsgi do something other than serve (`--help`).
    Action,
}

impl Kind {
    /// The placeholder shown in help: `--processes N`.
    pub fn metavar(self) -> &'static str {
        match self {
            Kind::Bool | Kind::Action => "",
            Kind::Int => "N",
            Kind::Size => "SIZE",
            Kind::Seconds => "SECS",
            Kind::Address => "ADDR",
            Kind::Path => "PATH",
            Kind::Text => "VALUE",
            Kind::Mode => "MODE",
            Kind::Mount => "/PREFIX=APP",
            Kind::Env => "KEY=VALUE",
            Kind::Include => "FILE",
        }
    }

    /// Whether the option may be given bare on the command line.
    pub fn is_flag(self) -> bool {
        matches!(self, Kind::Bool | Kind::Action)
    }
}

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub kind: Kind,
    pub repeats: bool,
    pub help: &'static str,
}

macro_rules! repeats {
    (list) => {
        true
    };
    ($other:ident) => {
        false
    };
}

macro_rules! assign {
    (one, $slot:expr, $v:expr) => {
        $slot = $v
    };
    (opt, $slot:expr, $v:expr) => {
        $slot = Some($v)
    };
    (list, $slot:expr, $v:expr) => {
        $slot.push($v)
    };
}

macro_rules! show {
    (one, $slot:expr) => {
        vec![$slot.show()]
    };
    (opt, $slot:expr) => {
        $slot.iter().map(|v| v.show()).collect::<Vec<_>>()
    };
    (list, $slot:expr) => {
        $slot.iter().map(|v| v.show()).collect::<Vec<_>>()
    };
}

macro_rules! options {
    ($(
        $mode:ident $field:ident : $ty:ty = $default:expr ;
        $name:literal [$($alias:literal),*] $short:expr, $kind:ident, $parse:path ;
        $help:literal ;
    )*) => {
        /// The typed, validated configuration: one field per option.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Config {
            $( #[doc = $help] pub $field: $ty, )*
        }

        impl Default for Config {
            fn default() -> Config {
                Config { $( $field: $default, )* }
            }
        }

        /// Every option, in the order of `--help`.
        pub static OPTIONS: &[OptionSpec] = &[
            $( OptionSpec {
                name: $name,
                aliases: &[$($alias),*],
                short: $short,
                kind: Kind::$kind,
                repeats: repeats!($mode),
                help: $help,
            }, )*
        ];

        impl Config {
            /// Parse `raw` as option `name` (its canonical name) and store it.
            pub(crate) fn set(&mut self, name: &str, raw: &str) -> Result<(), String> {
                match name {
                    $( $name => { let v = $parse(raw)?; assign!($mode, self.$field, v); } )*
                    _ => return Err(format!("unknown option '{name}'")),
                }
                Ok(())
            }

            /// The values of option `name`, printed.
            pub fn show(&self, name: &str) -> Vec<String> {
                match name {
                    $( $name => show!($mode, self.$field), )*
                    _ => Vec::new(),
                }
            }
        }
    };
}

options! {
    list ini: Vec<String> = Vec::new();
        "ini" [] None, Include, value::string;
        "load an ini file (FILE[:SECTION]; sections [uwsgi] and [rsgi] by default)";
    list toml: Vec<String> = Vec::new();
        "toml" [] None, Include, value::string;
        "load a TOML file (FILE[:TABLE]; keys at top level or under [uwsgi] / [rsgi])";
    list yaml: Vec<String> = Vec::new();
        "yaml" ["yml"] Some('y'), Include, value::string;
        "load a YAML file (FILE[:KEY]; keys under uwsgi: or rsgi:)";
    list config: Vec<String> = Vec::new();
        "config" [] None, Include, value::string;
        "load a config file by its extension (.ini, .toml, .yaml, .yml)";
    list http_socket: Vec<Address> = Vec::new();
        "http-socket" [] None, Address, value::address;
        "serve HTTP/1.1 on ADDR (behind nginx proxy_pass, or directly)";
    list socket: Vec<Address> = Vec::new();
        "socket" ["uwsgi-socket"] Some('s'), Address, value::address;
        "serve the uwsgi protocol on ADDR (nginx uwsgi_pass)";
    list http: Vec<Address> = Vec::new();
        "http" [] None, Address, value::address;
        "serve HTTP/1.1 on ADDR; uWSGI's router process is not needed, so this is --http-socket";
    opt wsgi_file: Option<PathBuf> = None;
        "wsgi-file" ["file"] None, Path, value::path;
        "load the WSGI callable from a Python file";
    opt module: Option<String> = None;
        "module" ["wsgi"] Some('w'), Text, value::string;
        "load the WSGI callable from a module (MOD or MOD:CALLABLE)";
    one callable: String = "application".to_string();
        "callable" [] None, Text, value::string;
        "the WSGI callable's name";
    list mount: Vec<Mount> = Vec::new();
        "mount" [] None, Mount, value::mount;
        "mount another app (file or module) at a URL prefix";
    opt chdir: Option<PathBuf> = None;
        "chdir" [] None, Path, value::path;
        "change directory before loading the app";
    list pythonpath: Vec<PathBuf> = Vec::new();
        "pythonpath" ["pp"] None, Path, value::path;
        "add a directory to sys.path";
    opt home: Option<PathBuf> = None;
        "home" ["virtualenv", "venv", "pyhome"] Some('H'), Path, value::path;
        "use a virtualenv";
    list env: Vec<(String, String)> = Vec::new();
        "env" [] None, Env, value::env_pair;
        "set an environment variable";
    one master: bool = false;
        "master" [] Some('M'), Bool, value::boolean;
        "run the master process (rsgi always does; accepted for compatibility)";
    one processes: usize = 1;
        "processes" ["workers"] Some('p'), Int, value::positive;
        "number of worker processes";
    one threads: usize = 1;
        "threads" [] None, Int, value::positive;
        "Python threads per worker; more than 1 implies enable-threads";
    one enable_threads: bool = false;
        "enable-threads" [] Some('T'), Bool, value::boolean;
        "let the app start its own Python threads";
    one lazy_apps: bool = false;
        "lazy-apps" ["lazy"] None, Bool, value::boolean;
        "load the app in each worker after fork instead of once in the zygote";
    list touch_reload: Vec<PathBuf> = Vec::new();
        "touch-reload" [] None, Path, value::path;
        "gracefully reload the workers when FILE's mtime changes";
    one py_autoreload: u64 = 0;
        "py-autoreload" [] None, Int, value::int;
        "development: reload when a loaded Python module changes (check every N seconds)";
    one max_requests: u64 = 0;
        "max-requests" [] Some('R'), Int, value::int;
        "recycle a worker after N requests (0: never)";
    one max_requests_delta: u64 = 0;
        "max-requests-delta" [] None, Int, value::int;
        "add N × worker id to max-requests, so workers do not recycle together";
    one reload_on_rss: u64 = 0;
        "reload-on-rss" [] None, Int, value::int;
        "recycle a worker gracefully once its RSS passes N MB";
    one limit_as: u64 = 0;
        "limit-as" [] None, Int, value::int;
        "limit each worker's address space to N MB";
    one harakiri: u64 = 0;
        "harakiri" [] Some('t'), Int, value::int;
        "kill and respawn a worker whose request runs longer than N seconds";
    one reload_mercy: Duration = Duration::from_secs(60);
        "reload-mercy" [] None, Seconds, value::seconds;
        "how long a stopping master waits for workers before killing them";
    one worker_reload_mercy: Duration = Duration::from_secs(60);
        "worker-reload-mercy" [] None, Seconds, value::seconds;
        "how long a worker being replaced may finish its requests";
    one load_timeout: Duration = Duration::from_secs(60);
        "load-timeout" [] None, Seconds, value::seconds;
        "after the first start: how long a reload's zygote may take to load the app, or a new worker to start accepting, before it is killed (0: no limit)";
    one socket_timeout: Duration = Duration::from_secs(4);
        "socket-timeout" [] Some('z'), Seconds, value::seconds;
        "timeout of socket reads and writes to clients";
    one http_keepalive: Duration = Duration::from_secs(15);
        "http-keepalive" [] None, Seconds, value::seconds;
        "idle keep-alive timeout of HTTP connections (0 turns keep-alive off)";
    one limit_post: u64 = 100 << 20;
        "limit-post" [] None, Size, value::size;
        "largest request body accepted (413 beyond; default 100M; 0: only the spool's free space bounds it)";
    list master_fifo: Vec<PathBuf> = Vec::new();
        "master-fifo" [] None, Path, value::path;
        "a FIFO the master reads one-letter commands from";
    one manage_script_name: bool = false;
        "manage-script-name" [] None, Bool, value::boolean;
        "take SCRIPT_NAME from the mountpoint that matches";
    opt stats: Option<Address> = None;
        "stats" ["stats-server"] None, Address, value::address;
        "serve the stats JSON on ADDR";
    opt metrics: Option<Address> = None;
        "metrics" [] None, Address, value::address;
        "serve Prometheus metrics on ADDR";
    one stats_http: bool = false;
        "stats-http" [] None, Bool, value::boolean;
        "serve stats as an HTTP response";
    one listen: u32 = 100;
        "listen" [] Some('l'), Int, value::int32;
        "socket backlog";
    one buffer_size: usize = 4096;
        "buffer-size" [] Some('b'), Size, value::size_usize;
        "largest request head or uwsgi packet";
    one post_buffering: u64 = 0;
        "post-buffering" [] None, Size, value::size;
        "keep bodies up to SIZE in memory, spool larger ones to a temp file (0: 1M)";
    opt pidfile: Option<PathBuf> = None;
        "pidfile" [] None, Path, value::path;
        "write the master's pid to FILE";
    opt logto: Option<PathBuf> = None;
        "logto" [] None, Path, value::path;
        "append logs to FILE instead of stderr";
    opt log_format: Option<String> = None;
        "log-format" ["logformat"] None, Text, value::string;
        "request log line in uWSGI %(var) syntax";
    opt log_encoder: Option<String> = None;
        "log-encoder" [] None, Text, value::string;
        "encode log lines (json)";
    one disable_logging: bool = false;
        "disable-logging" [] Some('L'), Bool, value::boolean;
        "no request log lines";
    one log_slow: u64 = 0;
        "log-slow" [] None, Int, value::int;
        "log only requests slower than N ms";
    one log_4xx: bool = false;
        "log-4xx" [] None, Bool, value::boolean;
        "log only requests answered with a 4xx (with log-5xx: both)";
    one log_5xx: bool = false;
        "log-5xx" [] None, Bool, value::boolean;
        "log only requests answered with a 5xx (with log-4xx: both)";
    one log_format_json: bool = false;
        "log-format-json" [] None, Bool, value::boolean;
        "request log lines as JSON objects";
    one log_reopen: bool = false;
        "log-reopen" [] None, Bool, value::boolean;
        "reopen the log file on SIGUSR2";
    one vacuum: bool = false;
        "vacuum" [] None, Bool, value::boolean;
        "remove unix sockets and the pidfile on exit";
    opt chmod_socket: Option<Mode> = None;
        "chmod-socket" [] None, Mode, value::mode_value;
        "permissions of unix sockets (octal; bare: 666)";
    opt uid: Option<String> = None;
        "uid" [] None, Text, value::string;
        "drop privileges to this user after binding";
    opt gid: Option<String> = None;
        "gid" [] None, Text, value::string;
        "drop privileges to this group after binding";
    one die_on_term: bool = false;
        "die-on-term" [] None, Bool, value::boolean;
        "accepted; SIGTERM always means graceful shutdown in rsgi";
    one need_app: bool = true;
        "need-app" [] None, Bool, value::boolean;
        "exit 22 if the app cannot be loaded (false: serve 500s)";
    list emperor: Vec<String> = Vec::new();
        "emperor" [] None, Text, value::string;
        "run as an emperor: one instance per config file in DIR (or a glob)";
    opt emperor_stats: Option<Address> = None;
        "emperor-stats" [] None, Address, value::address;
        "serve the emperor's list of vassals as JSON on ADDR";
    one check_config: bool = false;
        "check-config" [] None, Action, value::boolean;
        "load and validate the config, print the merged model, exit";
    one version: bool = false;
        "version" [] None, Action, value::boolean;
        "print the version and exit";
    one help: bool = false;
        "help" ["usage"] Some('h'), Action, value::boolean;
        "print this help and exit";
}

/// The option with this name or alias.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|o| o.name == name || o.aliases.contains(&name))
}

/// The option with this short flag.
pub fn find_short(c: char) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// The known name closest to `name`, if it is close enough to be a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    let names = OPTIONS
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()));
    names
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| find(n).map_or(n, |o| o.name))
}

/// Levenshtein distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `--help`, from the table.
pub fn help_text() -> String {
    let mut out = format!(
        "rsgi {} — a uWSGI-compatible WSGI server\n\nUsage: rsgi [OPTIONS] [CONFIG FILE]\n\nEvery option is --name VALUE or --name=VALUE, and the same name is a key in ini, TOML and YAML files.\n\nOptions:\n",
        env!("CARGO_PKG_VERSION")
    );
    for o in OPTIONS {
        let mut flag = format!("--{}", o.name);
        if !o.kind.metavar().is_empty() {
            flag.push(' ');
            flag.push_str(o.kind.metavar());
        }
        if let Some(c) = o.short {
            flag.push_str(&format!(", -{c}"));
        }
        out.push_str(&format!("  {flag:<34} {}", o.help));
        if !o.aliases.is_empty() {
            out.push_str(&format!(" (also --{})", o.aliases.join(", --")));
        }
        if o.repeats {
            out.push_str(" [repeatable]");
        }
        out.push('\n');
    }
    out
}

/// The README's option list, from the table.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| option | short | aliases | repeats | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for o in OPTIONS {
        let meta = o.kind.metavar();
        let name = if meta.is_empty() {
            format!("`--{}`", o.name)
        } else {
            format!("`--{} {}`", o.name, meta)
        };
        let short = o.short.map(|c| format!("`-{c}`")).unwrap_or_default();
        let aliases = o
            .aliases
            .iter()
            .map(|a| format!("`--{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let repeats = if o.repeats { "yes" } else { "" };
        out.push_str(&format!(
            "| {name} | {short} | {aliases} | {repeats} | {} |\n",
            o.help.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_shorts_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for o in OPTIONS {
            for n in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
                assert!(seen.insert(n), "option name {n} is defined twice");
            }
        }
        let mut shorts = std::collections::HashSet::new();
        for c in OPTIONS.iter().filter_map(|o| o.short) {
            assert!(shorts.insert(c), "short flag -{c} is defined twice");
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("procesess"), Some("processes"));
        assert_eq!(suggest("wsgi-fiel"), Some("wsgi-file"));
        assert_eq!(suggest("workerz"), Some("processes"));
        assert_eq!(suggest("completely-unrelated"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn readme_lists_every_option() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap_or_default();
        let (begin, end) = ("<!-- options:begin -->\n", "<!-- options:end -->");
        let table = markdown_table();
        if std::env::var_os("RSGI_BLESS").is_some() {
            let (Some(b), Some(e)) = (readme.find(begin), readme.find(end)) else {
                panic!("README.md has no {begin:?} … {end:?} block to rewrite");
            };
            let new = format!("{}{begin}{table}{}", &readme[..b], &readme[e..]);
            std::fs::write(path, new).expect("rewrite README.md");
            return;
        }
        assert!(
            readme.contains(&format!("{begin}{table}{end}")),
            "README.md's option list is out of date; run `RSGI_BLESS=1 cargo test readme_lists_every_option`"
        );
    }
}
