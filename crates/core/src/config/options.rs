//! THE option table. Every option rsgi knows is one row here: its name,
//! aliases, short flag, the kind of value it takes, whether it repeats,
//! and what rsgi does with it ([`Support`]). The `Config` struct, the CLI
//! parser, the validation of file keys, `--help`, `--check-config` and the
//! README's option lists are all generated from it.
//!
//! Every option of uWSGI's core, its Python plugin, its HTTP and router
//! plugins and its Python loop engines has a row (taken from uWSGI 2.0's
//! option tables), so a key uWSGI knows is never "unknown" here. Rows come
//! in three sections:
//!
//! - typed rows: options rsgi implements, each with a `Config` field;
//! - known rows: options without a field, which rsgi either implements in
//!   the loader (config logic), accepts with no effect, or refuses;
//! - plugin rows: the options of uWSGI's non-Python plugins, all refused.
//!
//! Implementing an option is moving its row from the known section to the
//! typed section.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cron::{self, Cron};
use super::daemons::{self, Daemon};
use super::hooks::{self, Hook};
use super::value::{
    self, Address, CheaperAlgo, Expiry, ExtraHeader, Mode, Mount, Owner, Show, StaticMap,
};
use crate::logger::{Logger, Route};

/// The kind of value an option takes (for parsing, help and docs).
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
    /// An HTTP header line, `Name: value`.
    Header,
    /// `[NAME ]TARGET`: a logger (`file:PATH`, `stdio`, `syslog:...`).
    Logger,
    /// `NAME REGEX`: a log route.
    Route,
    /// Loads another config file at this point.
    Include,
    /// Config logic the loader runs as it reads (`if-env`, `for`, `set`...).
    Logic,
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
            Kind::Text | Kind::Logic => "VALUE",
            Kind::Mode => "MODE",
            Kind::Mount => "/PREFIX=APP",
            Kind::Env => "KEY=VALUE",
            Kind::Header => "'NAME: VALUE'",
            Kind::Logger => "[NAME ]TARGET",
            Kind::Route => "NAME REGEX",
            Kind::Include => "FILE",
        }
    }

    /// What a bare `--name` means, for kinds that may be given bare.
    const fn default_bare(self) -> Option<&'static str> {
        match self {
            Kind::Bool | Kind::Action => Some("true"),
            // As uWSGI's bare `--chmod-socket`: 666.
            Kind::Mode => Some(""),
            _ => None,
        }
    }

    /// Whether a value of this kind is a number or a switch, after which
    /// uWSGI's parsers (atoi, strtoul) stop at a trailing `# comment`.
    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            Kind::Bool | Kind::Int | Kind::Size | Kind::Seconds | Kind::Mode
        )
    }
}

/// What rsgi does with an option: the "kind" column of the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// Accepted and ignored, for this reason (logged once at startup).
    NoEffect(&'static str),
    /// Refused: an error naming the option, with this reason.
    Unsupported(&'static str),
}

impl Support {
    /// The kind as the README and `--check-config` name it.
    pub fn label(self) -> &'static str {
        match self {
            Support::Implemented => "implemented",
            Support::NoEffect(_) => "no effect",
            Support::Unsupported(_) => "not supported",
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Support::Implemented => None,
            Support::NoEffect(r) | Support::Unsupported(r) => Some(r),
        }
    }
}

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub kind: Kind,
    /// The value a bare `--name` (or a bare key in a file) means; None when
    /// the option needs a value.
    pub bare: Option<&'static str>,
    pub repeats: bool,
    pub support: Support,
    /// What the option does (empty for known rows: their reason says it).
    pub help: &'static str,
}

impl OptionSpec {
    /// The README's "meaning" column: the help, else the reason.
    pub fn meaning(&self) -> &'static str {
        match (self.help.is_empty(), self.kind) {
            (false, _) => self.help,
            (true, Kind::Logic) => "config logic, run as the config is read (see Config files)",
            (true, _) => self.support.reason().unwrap_or(""),
        }
    }

    /// Whether a value asks for nothing: a switch set to false. uWSGI
    /// itself does nothing for `exit-on-reload = false`, so such a line is
    /// accepted even for an option rsgi does not support.
    pub fn is_off(&self, value: &str) -> bool {
        self.kind == Kind::Bool && value::boolean(value) == Ok(false)
    }
}

// Reasons shared by many refused options.
const NOT_YET: &str = "not implemented in rsgi yet (planned)";
const NOT_IMPL: &str = "not implemented in rsgi";
const TLS: &str = "TLS is not in rsgi; terminate it in nginx or another proxy";
const PROTOCOLS: &str = "rsgi speaks HTTP/1.1 and the uwsgi protocol only";
const ROUTING: &str = "uWSGI's internal routing is not in rsgi; route in nginx or in the app";
const ROUTERS: &str =
    "uWSGI's router processes are not in rsgi; put nginx or HAProxy in front of rsgi";
const CACHE: &str = "uWSGI's cache is not in rsgi; use Redis or memcached from the app";
const SHARED_MEMORY: &str = "uWSGI's shared areas and queue are not in rsgi";
const SPOOLER: &str = "uWSGI's spooler is not in rsgi; use a task queue (Celery, RQ, Dramatiq)";
const MULES: &str = "uWSGI's mules are not in rsgi; run background work as its own service";
const SIGNALS: &str = "uWSGI's signal framework is not in rsgi";
const CLUSTER: &str =
    "uWSGI's subscription and legion clustering is not in rsgi; use your load balancer";
const EMPEROR: &str = "rsgi's Emperor does not have this uWSGI Emperor feature";
const JAIL: &str =
    "jails, namespaces, cgroups and mounts are not in rsgi; use systemd or a container runtime";
const C_SYMBOLS: &str = "rsgi calls no C symbols; use an exec or Python hook";
const METRICS: &str =
    "uWSGI's metrics subsystem is not in rsgi; rsgi serves Prometheus metrics with --metrics";
const ALARMS: &str = "uWSGI's alarms are not in rsgi";
const WEBSOCKETS: &str = "uWSGI's websocket API is not in rsgi";
const ASYNC: &str =
    "uWSGI's async loop engines are not in rsgi; rsgi serves with Python threads (--threads)";
const COMMAND: &str = "a uWSGI command, not a server option; rsgi does not have it";
const BINARY: &str = "rsgi does not patch or replace its binary";
/// `plugins = python3`: the reason it does nothing.
pub const PLUGIN_REASON: &str = "the Python interpreter is built into rsgi";

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

macro_rules! short {
    () => {
        None
    };
    ($c:literal) => {
        Some($c)
    };
}

macro_rules! bare {
    ($kind:ident) => {
        Kind::$kind.default_bare()
    };
    ($kind:ident $bare:literal) => {
        Some($bare)
    };
}

/// Known rows: the value kind and bare meaning of uWSGI's argument styles.
macro_rules! known_arg {
    (flag) => {
        (Kind::Bool, Some("true"))
    };
    (value) => {
        (Kind::Text, None::<&'static str>)
    };
    (optional) => {
        (Kind::Text, Some(""))
    };
    (logic) => {
        (Kind::Logic, None::<&'static str>)
    };
    (logic_bare) => {
        (Kind::Logic, Some(""))
    };
}

macro_rules! options {
    (
        typed {$(
            $mode:ident $field:ident : $ty:ty = $default:expr ;
            $name:literal [$($alias:literal),*] $short:expr, $kind:ident $(bare $bare:literal)?, $parse:path ;
            $help:literal ;
        )*}
        known {$(
            $kname:literal [$($kalias:literal),*] $($kshort:literal)? $karg:ident => $ksupport:expr ;
        )*}
        plugins {$(
            $plugin:literal : $($pname:literal),+ ;
        )*}
    ) => {
        /// The typed, validated configuration: one field per implemented option.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Config {
            $( #[doc = $help] pub $field: $ty, )*
            /// Keys no option knows, from files and the environment, kept
            /// in order as uWSGI keeps them (apps read them as `uwsgi.opt`).
            pub custom_options: Vec<(String, String)>,
            /// Every key read, as written and in order, as uWSGI exports
            /// them to apps (`uwsgi.opt`; see `exported`).
            pub exported: Vec<super::exported::Exported>,
            /// Where the value in force of each option set was written
            /// (canonical name, `file:line`), so that an error found after
            /// loading, in the master or the zygote, names the line to fix.
            pub origins: Vec<(String, String)>,
        }

        impl Default for Config {
            fn default() -> Config {
                Config { $( $field: $default, )* custom_options: Vec::new(), exported: Vec::new(), origins: Vec::new() }
            }
        }

        /// Every option, typed rows first (the order of `--help`).
        pub static OPTIONS: &[OptionSpec] = &[
            $( OptionSpec {
                name: $name,
                aliases: &[$($alias),*],
                short: $short,
                kind: Kind::$kind,
                bare: bare!($kind $($bare)?),
                repeats: repeats!($mode),
                support: Support::Implemented,
                help: $help,
            }, )*
            $( OptionSpec {
                name: $kname,
                aliases: &[$($kalias),*],
                short: short!($($kshort)?),
                kind: known_arg!($karg).0,
                bare: known_arg!($karg).1,
                repeats: false,
                support: $ksupport,
                help: "",
            }, )*
            $($( OptionSpec {
                name: $pname,
                aliases: &[],
                short: None,
                kind: Kind::Text,
                bare: Some(""),
                repeats: false,
                support: Support::Unsupported(concat!(
                    "an option of uWSGI's ", $plugin, " plugin; rsgi serves Python WSGI apps only"
                )),
                help: "",
            }, )+)*
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

use Support::{Implemented, NoEffect, Unsupported};

options! {
typed {
    list ini: Vec<String> = Vec::new();
        "ini" [] None, Include, value::string;
        "load an ini file (FILE[:SECTION]; sections [uwsgi] and [rsgi] by default)";
    list toml: Vec<String> = Vec::new();
        "toml" [] None, Include, value::string;
        "load a TOML file (FILE[:TABLE]; keys at top level or under [uwsgi] / [rsgi])";
    list yaml: Vec<String> = Vec::new();
        "yaml" ["yml"] Some('y'), Include, value::string;
        "load a YAML file (FILE[:KEY]; keys under uwsgi: or rsgi:)";
    list json: Vec<String> = Vec::new();
        "json" ["js"] Some('j'), Include, value::string;
        "load a JSON file (FILE[:KEY]; keys under \"uwsgi\" or \"rsgi\")";
    list config: Vec<String> = Vec::new();
        "config" ["include", "inherit"] None, Include, value::string;
        "load a config file by its extension (.ini, .toml, .yaml, .yml, .json)";
    one strict: bool = false;
        "strict" [] None, Bool, value::boolean;
        "make every unknown key in files and the environment an error";
    list http_socket: Vec<Address> = Vec::new();
        "http-socket" ["http11-socket"] None, Address, value::address;
        "serve HTTP/1.1 on ADDR (behind nginx proxy_pass, or directly)";
    list socket: Vec<Address> = Vec::new();
        "socket" ["uwsgi-socket"] Some('s'), Address, value::address;
        "serve the uwsgi protocol on ADDR (nginx uwsgi_pass)";
    list http: Vec<Address> = Vec::new();
        "http" ["httprouter"] None, Address, value::address;
        "serve HTTP/1.1 on ADDR; uWSGI's router process is not needed, so this is --http-socket";
    opt protocol: Option<String> = None;
        "protocol" ["socket-protocol"] None, Text, value::protocol;
        "the protocol of --socket sockets: uwsgi (the default) or http";
    opt wsgi_file: Option<PathBuf> = None;
        "wsgi-file" ["file"] None, Path, value::path;
        "load the WSGI callable from a Python file (any extension)";
    opt module: Option<String> = None;
        "module" ["wsgi"] Some('w'), Text, value::string;
        "load the WSGI callable from a module (MOD, MOD:CALLABLE or MOD:FACTORY())";
    one callable: String = "application".to_string();
        "callable" [] None, Text, value::string;
        "the WSGI callable's name (NAME() calls it to make the app)";
    list mount: Vec<Mount> = Vec::new();
        "mount" [] None, Mount, value::mount;
        "mount another app (file or module) at a URL prefix";
    list check_static: Vec<PathBuf> = Vec::new();
        "check-static" ["static-check"] None, Path, value::path;
        "serve a request as the file its path names under DIR, when there is one (before the app)";
    list static_map: Vec<StaticMap> = Vec::new();
        "static-map" [] None, Text, value::static_map;
        "serve files under DIR for URLs under /URL (/URL=DIR; a file for DIR is served at /URL)";
    list static_map2: Vec<StaticMap> = Vec::new();
        "static-map2" [] None, Text, value::static_map;
        "like static-map, but the whole URL path is looked up under DIR";
    list static_index: Vec<String> = Vec::new();
        "static-index" [] None, Text, value::string;
        "the file served for a directory (index.html); without one a directory goes to the app";
    list static_skip_ext: Vec<String> = Vec::new();
        "static-skip-ext" [] None, Text, value::string;
        "never serve paths ending with this as static files (.py): they go to the app";
    list static_safe: Vec<PathBuf> = Vec::new();
        "static-safe" [] None, Path, value::path;
        "serve static files whose real path (symlinks resolved) is under DIR, though outside their mapped directory";
    list mimefile: Vec<PathBuf> = Vec::new();
        "mimefile" ["mime-file"] None, Path, value::path;
        "a mime.types file for static files' Content-Type (default /etc/mime.types, over a built-in table)";
    list static_expires_type: Vec<Expiry> = Vec::new();
        "static-expires-type" [] None, Text, value::expiry_by_type;
        "Expires on static files of a content type: TYPE=SECONDS after the request";
    list static_expires_type_mtime: Vec<Expiry> = Vec::new();
        "static-expires-type-mtime" [] None, Text, value::expiry_by_type;
        "Expires on static files of a content type: TYPE=SECONDS after the file's modification";
    list static_expires: Vec<Expiry> = Vec::new();
        "static-expires" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose real path matches: REGEX SECONDS after the request";
    list static_expires_mtime: Vec<Expiry> = Vec::new();
        "static-expires-mtime" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose real path matches: REGEX SECONDS after the file's modification";
    list static_expires_uri: Vec<Expiry> = Vec::new();
        "static-expires-uri" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose request URI matches: REGEX SECONDS after the request";
    list static_expires_uri_mtime: Vec<Expiry> = Vec::new();
        "static-expires-uri-mtime" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose request URI matches: REGEX SECONDS after the file's modification";
    list static_expires_path_info: Vec<Expiry> = Vec::new();
        "static-expires-path-info" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose request path matches: REGEX SECONDS after the request";
    list static_expires_path_info_mtime: Vec<Expiry> = Vec::new();
        "static-expires-path-info-mtime" [] None, Text, value::expiry_by_regex;
        "Expires on static files whose request path matches: REGEX SECONDS after the file's modification";
    list static_gzip: Vec<String> = Vec::new();
        "static-gzip" [] None, Text, value::regex;
        "serve FILE.gz to clients that accept gzip, for static files whose real path matches REGEX";
    one static_gzip_all: bool = false;
        "static-gzip-all" [] None, Bool, value::boolean;
        "serve FILE.gz, when there is one, to clients that accept gzip, for every static file";
    list static_gzip_dir: Vec<String> = Vec::new();
        "static-gzip-dir" ["static-gzip-prefix"] None, Text, value::string;
        "serve FILE.gz to clients that accept gzip, for static files whose real path starts with PREFIX";
    list static_gzip_ext: Vec<String> = Vec::new();
        "static-gzip-ext" ["static-gzip-suffix"] None, Text, value::string;
        "serve FILE.gz to clients that accept gzip, for static files whose name ends with SUFFIX";
    opt chdir: Option<PathBuf> = None;
        "chdir" [] None, Path, value::path;
        "change directory before loading the app";
    list pythonpath: Vec<PathBuf> = Vec::new();
        "pythonpath" ["python-path", "pp"] None, Path, value::path;
        "add a directory to sys.path";
    opt home: Option<PathBuf> = None;
        "home" ["virtualenv", "venv", "pyhome"] Some('H'), Path, value::path;
        "use a virtualenv: its site-packages, not the base interpreter's";
    list import: Vec<String> = Vec::new();
        "import" ["pyimport", "py-import", "python-import", "shared-import", "shared-pyimport", "shared-py-import", "shared-python-import"] None, Text, value::string;
        "import a Python module (or run a .py file) before the apps load";
    opt pyargv: Option<String> = None;
        "pyargv" [] None, Text, value::string;
        "the app's sys.argv after its first item (split at spaces)";
    opt optimize: Option<u32> = None;
        "optimize" [] Some('O'), Int, value::int32;
        "Python's optimization level (as python -O)";
    opt python: Option<PathBuf> = None;
        "python" [] None, Path, value::path;
        "the Python interpreter to run the app with, when there is no home/virtualenv (default: python3 on PATH); uWSGI's --python runs a script instead";
    opt py_executable: Option<PathBuf> = None;
        "py-executable" ["py-sys-executable"] None, Path, value::path;
        "the value of sys.executable";
    list env: Vec<(String, String)> = Vec::new();
        "env" [] None, Env, value::env_pair;
        "set an environment variable";
    list unenv: Vec<String> = Vec::new();
        "unenv" [] None, Text, value::string;
        "unset an environment variable";
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
        "touch-reload" ["touch-workers-reload", "touch-chain-reload"] None, Path, value::path;
        "gracefully reload the workers, one at a time, when FILE's mtime changes";
    one py_autoreload: u64 = 0;
        "py-autoreload" ["py-auto-reload", "python-autoreload", "python-auto-reload"] None, Int, value::int;
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
    one reload_on_as: u64 = 0;
        "reload-on-as" [] None, Int, value::int;
        "recycle a worker gracefully once its address space passes N MB";
    one evil_reload_on_rss: u64 = 0;
        "evil-reload-on-rss" [] None, Int, value::int;
        "the master kills (SIGKILL) a worker whose RSS passes N MB, requests in flight included; it is respawned";
    one evil_reload_on_as: u64 = 0;
        "evil-reload-on-as" [] None, Int, value::int;
        "the master kills (SIGKILL) a worker whose address space passes N MB; it is respawned";
    one max_worker_lifetime: Duration = Duration::ZERO;
        "max-worker-lifetime" [] None, Seconds, value::seconds;
        "recycle a worker gracefully after it ran N seconds (0: never)";
    one max_worker_lifetime_delta: Duration = Duration::ZERO;
        "max-worker-lifetime-delta" [] None, Seconds, value::seconds;
        "add (worker id - 1) × N seconds to max-worker-lifetime, so workers do not recycle together";
    one exit_on_reload: bool = false;
        "exit-on-reload" [] None, Bool, value::boolean;
        "a reload request (SIGHUP, touch-reload, the FIFO's r) stops rsgi gracefully with status 0 instead";
    one memory_report: u64 = 0;
        "memory-report" [] Some('m'), Int bare "1", value::level;
        "log each worker's address space and RSS in its request lines ({address space usage: ..} {rss usage: ..})";
    one cheaper: usize = 0;
        "cheaper" [] None, Int, value::count;
        "adaptive workers: keep at least N running (below processes), spawn up to processes under load";
    one cheaper_initial: usize = 0;
        "cheaper-initial" [] None, Int, value::count;
        "adaptive workers: how many to start with (default: cheaper)";
    one cheaper_step: usize = 1;
        "cheaper-step" [] None, Int, value::count;
        "adaptive workers: how many to spawn at once when overloaded";
    one cheaper_algo: CheaperAlgo = CheaperAlgo::Spare;
        "cheaper-algo" [] None, Text, value::cheaper_algo;
        "adaptive workers: spare (default), backlog or busyness";
    one cheaper_overload: u64 = 3;
        "cheaper-overload" [] None, Int, value::int;
        "adaptive workers: spare: seconds every worker is busy before spawning; backlog: queued connections that spawn; busyness: seconds per busyness sample";
    one cheaper_rss_limit_soft: u64 = 0;
        "cheaper-rss-limit-soft" [] None, Size, value::size;
        "adaptive workers: spawn none while the workers' total RSS is at least SIZE bytes";
    one cheaper_rss_limit_hard: u64 = 0;
        "cheaper-rss-limit-hard" [] None, Size, value::size;
        "adaptive workers: stop one while the workers' total RSS is at least SIZE bytes (needs the soft limit)";
    one cheaper_busyness_max: u64 = 50;
        "cheaper-busyness-max" [] None, Int, value::int;
        "busyness: spawn above this average busy percentage";
    one cheaper_busyness_min: u64 = 25;
        "cheaper-busyness-min" [] None, Int, value::int;
        "busyness: stop a worker below this average busy percentage";
    one cheaper_busyness_multiplier: u64 = 10;
        "cheaper-busyness-multiplier" [] None, Int, value::int;
        "busyness: a worker is stopped after cheaper-overload × N seconds of low busyness";
    one cheaper_busyness_penalty: u64 = 2;
        "cheaper-busyness-penalty" [] None, Int, value::int;
        "busyness: added to the multiplier when a stopped worker had to come back soon";
    one cheaper_busyness_backlog_alert: u64 = 33;
        "cheaper-busyness-backlog-alert" [] None, Int, value::int;
        "busyness: spawn emergency workers when more connections than this wait";
    one cheaper_busyness_backlog_multiplier: u64 = 3;
        "cheaper-busyness-backlog-multiplier" [] None, Int, value::int;
        "busyness: the multiplier while emergency workers run";
    one cheaper_busyness_backlog_step: usize = 1;
        "cheaper-busyness-backlog-step" [] None, Int, value::count;
        "busyness: emergency workers spawned at once";
    one cheaper_busyness_backlog_nonzero: u64 = 60;
        "cheaper-busyness-backlog-nonzero" [] None, Int, value::int;
        "busyness: spawn an emergency worker when connections wait for N seconds in a row";
    one cheaper_busyness_verbose: bool = false;
        "cheaper-busyness-verbose" [] None, Bool, value::boolean;
        "busyness: log every sample";
    one limit_as: u64 = 0;
        "limit-as" [] None, Int, value::int;
        "limit each worker's address space to N MB";
    one max_fd: u64 = 0;
        "max-fd" [] None, Int, value::int;
        "raise the open-files limit (RLIMIT_NOFILE) to N (0: leave it)";
    one limit_nproc: u64 = 0;
        "limit-nproc" [] None, Int, value::int;
        "limit the number of processes (RLIMIT_NPROC) to N (0: leave it)";
    one harakiri: u64 = 0;
        "harakiri" [] Some('t'), Int, value::int;
        "kill and respawn a worker whose request runs longer than N seconds";
    one harakiri_verbose: bool = false;
        "harakiri-verbose" [] None, Bool, value::boolean;
        "on harakiri, also log the worker's system call and kernel wait channel (/proc/PID/syscall, wchan)";
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
        "http-keepalive" [] None, Seconds bare "true", value::keepalive;
        "idle keep-alive timeout of HTTP connections (bare, true or 1: the default 15; 0 or false: off)";
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
        "post-buffering" [] None, Size, value::post_buffering;
        "keep bodies up to SIZE in memory, spool larger ones to a temp file (0 or true: 1M)";
    opt pidfile: Option<PathBuf> = None;
        "pidfile" ["pidfile2", "safe-pidfile", "safe-pidfile2"] None, Path, value::path;
        "write the master's pid to FILE";
    opt logto: Option<PathBuf> = None;
        "logto" ["logto2"] None, Path, value::path;
        "append logs to FILE instead of stderr";
    opt daemonize: Option<PathBuf> = None;
        "daemonize" [] Some('d'), Path, value::path;
        "detach from the terminal before loading the app, and log to FILE (under an Emperor: only log to FILE)";
    opt daemonize2: Option<PathBuf> = None;
        "daemonize2" [] None, Path, value::path;
        "detach once the app has loaded (load errors reach the terminal), and log to FILE";
    list logger: Vec<Logger> = Vec::new();
        "logger" [] None, Logger, value::logger;
        "log to TARGET: file:PATH, stdio or syslog[:IDENT[,FACILITY]]; with a NAME, only the lines log-route sends it";
    list req_logger: Vec<Logger> = Vec::new();
        "req-logger" ["logger-req"] None, Logger, value::logger;
        "log request lines to TARGET (as logger) instead of with the other lines; with a NAME, only those log-req-route sends it";
    list log_route: Vec<Route> = Vec::new();
        "log-route" [] None, Route, value::route;
        "send lines matching REGEX to the logger NAME (and not to the unnamed ones)";
    list log_req_route: Vec<Route> = Vec::new();
        "log-req-route" [] None, Route, value::route;
        "send request lines matching REGEX to the (request) logger NAME (and not to the unnamed ones)";
    opt log_format: Option<String> = None;
        "log-format" ["logformat"] None, Text, value::string;
        "request log line in uWSGI %(var) syntax (default: uWSGI's own line)";
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
    one log_micros: bool = false;
        "log-micros" [] None, Bool, value::boolean;
        "report response times in microseconds in the default request line";
    one log_x_forwarded_for: bool = false;
        "log-x-forwarded-for" [] None, Bool, value::boolean;
        "log the client address from X-Forwarded-For instead of the peer's";
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
        "chmod-socket" ["chmod"] Some('C'), Mode, value::mode_value;
        "permissions of unix sockets (octal; bare: 666)";
    opt chown_socket: Option<Owner> = None;
        "chown-socket" [] None, Text, value::owner;
        "owner of unix sockets, USER[:GROUP] (names or ids), set before privileges drop";
    opt umask: Option<Mode> = None;
        "umask" [] None, Int, value::umask;
        "the master's umask (octal: 022, 0o002), set before it binds or creates files; every process inherits it";
    list add_header: Vec<ExtraHeader> = Vec::new();
        "add-header" [] None, Header, value::extra_header;
        "add a header to every response, \"Name: value\" (app, static and server responses)";
    list rem_header: Vec<String> = Vec::new();
        "rem-header" ["del-header"] None, Text, value::removed_header;
        "leave the app's header NAME out of its responses (any case)";
    one auto_procname: bool = false;
        "auto-procname" [] None, Bool, value::boolean;
        "name processes as uWSGI does: uWSGI master, uWSGI worker N (and uWSGI zygote)";
    opt procname_prefix: Option<String> = None;
        "procname-prefix" [] None, Text, value::verbatim;
        "put a prefix before every process name (implies auto-procname)";
    opt procname_prefix_spaced: Option<String> = None;
        "procname-prefix-spaced" [] None, Text, value::string;
        "put a prefix and a space before every process name (implies auto-procname)";
    opt procname_append: Option<String> = None;
        "procname-append" [] None, Text, value::verbatim;
        "append text to every process name (implies auto-procname)";
    opt procname: Option<String> = None;
        "procname" [] None, Text, value::string;
        "the name of every process (implies auto-procname)";
    opt procname_master: Option<String> = None;
        "procname-master" [] None, Text, value::string;
        "the master's name (implies auto-procname)";
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
        "emperor-stats" ["emperor-stats-server"] None, Address, value::address;
        "serve the emperor's list of vassals as JSON on ADDR";
    one show_config: bool = false;
        "show-config" [] None, Bool, value::boolean;
        "log the merged config (as --check-config prints it) at startup";
    one check_config: bool = false;
        "check-config" [] None, Action, value::boolean;
        "load and validate the config, print the merged model, exit";
    one version: bool = false;
        "version" [] None, Action, value::boolean;
        "print the version and exit";
    one help: bool = false;
        "help" ["usage"] Some('h'), Action, value::boolean;
        "print this help and exit";
    list attach_daemon: Vec<Daemon> = Vec::new();
        "attach-daemon" [] None, Text, daemons::attach;
        "run CMD beside the app: started once the workers are up, restarted when it dies, stopped at shutdown and restarted on reload";
    list attach_control_daemon: Vec<Daemon> = Vec::new();
        "attach-control-daemon" [] None, Text, daemons::attach_control;
        "as attach-daemon, but its death stops rsgi, and a reload leaves it running";
    list smart_attach_daemon: Vec<Daemon> = Vec::new();
        "smart-attach-daemon" [] None, Text, daemons::smart;
        "PIDFILE CMD: a daemon that forks itself into the background and writes PIDFILE; started when PIDFILE names no live process, left running at shutdown";
    list smart_attach_daemon2: Vec<Daemon> = Vec::new();
        "smart-attach-daemon2" [] None, Text, daemons::smart2;
        "PIDFILE CMD: as smart-attach-daemon for a command that stays in the foreground: rsgi daemonizes it and writes PIDFILE";
    list attach_daemon2: Vec<Daemon> = Vec::new();
        "attach-daemon2" [] None, Text, daemons::attach2;
        "a daemon as key=value pairs: cmd, pidfile, freq, daemonize, control, stopsignal, reloadsignal, stdin, uid, gid, chdir, notifypid, touch, max_throttle";
    one daemons_honour_stdin: bool = false;
        "daemons-honour-stdin" [] None, Bool, value::boolean;
        "attached daemons keep the master's stdin (by default they read /dev/null)";
    list hook_asap: Vec<Hook> = Vec::new();
        "hook-asap" [] None, Text, hooks::master_hook;
        "run ACTION:ARGS in the master as soon as the config is loaded";
    list exec_asap: Vec<Hook> = Vec::new();
        "exec-asap" [] None, Text, hooks::exec_hook;
        "run a command in the master as soon as the config is loaded";
    list hook_as_root: Vec<Hook> = Vec::new();
        "hook-as-root" [] None, Text, hooks::master_hook;
        "run ACTION:ARGS in the master before it drops privileges";
    list exec_as_root: Vec<Hook> = Vec::new();
        "exec-as-root" [] None, Text, hooks::exec_hook;
        "run a command in the master before it drops privileges";
    list hook_as_user: Vec<Hook> = Vec::new();
        "hook-as-user" [] None, Text, hooks::master_hook;
        "run ACTION:ARGS in the master after it drops privileges";
    list exec_as_user: Vec<Hook> = Vec::new();
        "exec-as-user" [] None, Text, hooks::exec_hook;
        "run a command in the master after it drops privileges";
    list hook_master_start: Vec<Hook> = Vec::new();
        "hook-master-start" [] None, Text, hooks::master_hook;
        "run ACTION:ARGS in the master before it starts the app";
    list hook_as_user_atexit: Vec<Hook> = Vec::new();
        "hook-as-user-atexit" [] None, Text, hooks::master_hook;
        "run ACTION:ARGS in the master as it exits (a failure is only logged)";
    list exec_as_user_atexit: Vec<Hook> = Vec::new();
        "exec-as-user-atexit" [] None, Text, hooks::exec_hook;
        "run a command in the master as it exits (a failure is only logged)";
    list hook_pre_app: Vec<Hook> = Vec::new();
        "hook-pre-app" [] None, Text, hooks::python_hook;
        "run ACTION:ARGS (call:module.func included) before the app is imported, in the zygote (in each worker with lazy-apps)";
    list exec_pre_app: Vec<Hook> = Vec::new();
        "exec-pre-app" [] None, Text, hooks::exec_hook;
        "run a command before the app is imported";
    list hook_post_app: Vec<Hook> = Vec::new();
        "hook-post-app" [] None, Text, hooks::python_hook;
        "run ACTION:ARGS (call:module.func included) after the app is imported";
    list exec_post_app: Vec<Hook> = Vec::new();
        "exec-post-app" [] None, Text, hooks::exec_hook;
        "run a command after the app is imported";
    list hook_post_fork: Vec<Hook> = Vec::new();
        "hook-post-fork" [] None, Text, hooks::python_hook;
        "run ACTION:ARGS (call:module.func included) in each worker after it is forked";
    list hook_accepting: Vec<Hook> = Vec::new();
        "hook-accepting" [] None, Text, hooks::python_hook;
        "run ACTION:ARGS (call:module.func included) in each worker just before it accepts";
    list hook_accepting1: Vec<Hook> = Vec::new();
        "hook-accepting1" [] None, Text, hooks::python_hook;
        "as hook-accepting, in worker 1 only";
    list hook_accepting_once: Vec<Hook> = Vec::new();
        "hook-accepting-once" [] None, Text, hooks::python_hook;
        "as hook-accepting, at each worker's first start only (not when it is respawned or recycled; again after a reload)";
    list hook_accepting1_once: Vec<Hook> = Vec::new();
        "hook-accepting1-once" [] None, Text, hooks::python_hook;
        "as hook-accepting-once, in worker 1 only";
    list cron: Vec<Cron> = Vec::new();
        "cron" [] None, Text, cron::cron;
        "MIN HOUR DAY MONTH WEEKDAY CMD: run CMD from the master on that schedule (-1 any, -N every N)";
    list unique_cron: Vec<Cron> = Vec::new();
        "unique-cron" [] None, Text, cron::unique_cron;
        "as cron, skipping a run while the previous one still runs";
    list cron2: Vec<Cron> = Vec::new();
        "cron2" [] None, Text, cron::cron2;
        "key=value,... CMD: minute, hour, day, month, week, unique, harakiri";
    one cron_harakiri: u64 = 0;
        "cron-harakiri" [] None, Seconds, value::int;
        "kill a cron command still running after this many seconds (0: never)";
}
known {
    // Config logic, run by the loader as it reads (uWSGI's "immediate" options).
    "set" [] 'S' logic => Implemented;
    "set-placeholder" ["set-ph"] logic => Implemented;
    "for" [] logic => Implemented;
    "for-glob" [] logic => Implemented;
    "for-times" [] logic => Implemented;
    "for-readline" [] logic => Implemented;
    "endfor" ["end-for"] logic_bare => Implemented;
    "if-env" ["ifenv"] logic => Implemented;
    "if-not-env" [] logic => Implemented;
    "if-opt" [] logic => Implemented;
    "if-not-opt" [] logic => Implemented;
    "if-exists" ["ifexists"] logic => Implemented;
    "if-not-exists" [] logic => Implemented;
    "if-file" [] logic => Implemented;
    "if-not-file" [] logic => Implemented;
    "if-dir" ["ifdir", "if-directory"] logic => Implemented;
    "if-not-dir" [] logic => Implemented;
    "if-reload" [] logic_bare => Implemented;
    "if-not-reload" [] logic_bare => Implemented;
    "if-hostname" [] logic => Implemented;
    "if-not-hostname" [] logic => Implemented;
    "if-plugin" ["ifplugin"] logic => Implemented;
    "if-not-plugin" [] logic => Implemented;
    "endif" ["end-if"] logic_bare => Implemented;
    "print" ["iprint"] logic_bare => Implemented;
    // `plugins = python3`: see PLUGIN_REASON; other plugins are an error.
    "plugins" ["plugin", "need-plugins", "need-plugin"] value => NoEffect(PLUGIN_REASON);
    // core
    "suwsgi-socket" [] value => Unsupported(TLS);
    "ssl-socket" [] value => Unsupported(TLS);
    "http-socket-modifier1" [] value => Unsupported(PROTOCOLS);
    "http-socket-modifier2" [] value => Unsupported(PROTOCOLS);
    "https-socket" [] value => Unsupported(TLS);
    "https-socket-modifier1" [] value => Unsupported(TLS);
    "https-socket-modifier2" [] value => Unsupported(TLS);
    "fastcgi-socket" [] value => Unsupported(PROTOCOLS);
    "fastcgi-nph-socket" [] value => Unsupported(PROTOCOLS);
    "fastcgi-modifier1" [] value => Unsupported(PROTOCOLS);
    "fastcgi-modifier2" [] value => Unsupported(PROTOCOLS);
    "scgi-socket" [] value => Unsupported(PROTOCOLS);
    "scgi-nph-socket" [] value => Unsupported(PROTOCOLS);
    "scgi-modifier1" [] value => Unsupported(PROTOCOLS);
    "scgi-modifier2" [] value => Unsupported(PROTOCOLS);
    "raw-socket" [] value => Unsupported(PROTOCOLS);
    "raw-modifier1" [] value => Unsupported(PROTOCOLS);
    "raw-modifier2" [] value => Unsupported(PROTOCOLS);
    "puwsgi-socket" [] value => Unsupported(PROTOCOLS);
    "shared-socket" [] value => Unsupported(NOT_IMPL);
    "undeferred-shared-socket" [] value => Unsupported(NOT_IMPL);
    "thunder-lock" [] flag => NoEffect("rsgi's workers share no accept lock; each accepts only while it has a free Python thread");
    "harakiri-graceful-timeout" [] value => Unsupported(NOT_IMPL);
    "harakiri-graceful-signal" [] value => Unsupported(NOT_IMPL);
    "harakiri-queue-threshold" [] value => Unsupported(NOT_IMPL);
    "harakiri-no-arh" ["no-harakiri-arh", "no-harakiri-after-req-hook"] flag => NoEffect("rsgi has no after-request hooks");
    "backtrace-depth" [] value => NoEffect("rsgi's harakiri logs every Python thread's full stack");
    "mule-harakiri" [] value => Unsupported(MULES);
    "xmlconfig" [] value => Unsupported("XML configs are not read by rsgi; convert the file to ini");
    "xml" [] 'x' value => Unsupported("XML configs are not read by rsgi; convert the file to ini");
    "fallback-config" [] value => Unsupported(NOT_IMPL);
    "skip-zero" [] flag => NoEffect("rsgi does not check file descriptor 0");
    "skip-atexit" [] flag => Unsupported(NOT_IMPL);
    "skip-atexit-teardown" [] flag => Unsupported(NOT_IMPL);
    "get" [] value => Unsupported(COMMAND);
    "declare-option" [] value => Unsupported(NOT_IMPL);
    "declare-option2" [] value => Unsupported(NOT_IMPL);
    "resolve" [] value => Unsupported(NOT_IMPL);
    "if-hostname-match" [] value => Unsupported(NOT_IMPL);
    "if-not-hostname-match" [] value => Unsupported(NOT_IMPL);
    "blacklist" [] value => Unsupported(NOT_IMPL);
    "end-blacklist" [] flag => Unsupported(NOT_IMPL);
    "whitelist" [] value => Unsupported(NOT_IMPL);
    "end-whitelist" [] flag => Unsupported(NOT_IMPL);
    "ignore-sigpipe" [] flag => NoEffect("rsgi never dies of SIGPIPE and does not log clients that went away");
    "ignore-write-errors" [] flag => NoEffect("rsgi does not log clients that went away as errors");
    "write-errors-tolerance" [] value => NoEffect("rsgi stops a response at the first write error and keeps the worker");
    "write-errors-exception-only" [] flag => NoEffect("rsgi never raises a client's write error into the app; it stops the response and calls close()");
    "disable-write-exception" [] flag => NoEffect("rsgi never raises a client's write error into the app; it stops the response and calls close()");
    "inject-before" [] value => Unsupported(NOT_IMPL);
    "inject-after" [] value => Unsupported(NOT_IMPL);
    "stop" [] value => Unsupported(COMMAND);
    "reload" [] value => Unsupported(COMMAND);
    "pause" ["suspend", "resume"] value => Unsupported(COMMAND);
    "connect-and-read" [] value => Unsupported(COMMAND);
    "extract" [] value => Unsupported(COMMAND);
    "max-vars" [] 'v' value => NoEffect("rsgi has no fixed limit on request variables");
    "max-apps" [] value => NoEffect("rsgi has no fixed limit on mountpoints");
    "profiler" [] value => Unsupported(NOT_IMPL);
    "cgi-mode" [] 'c' flag => Unsupported(NOT_IMPL);
    "abstract-socket" [] 'a' flag => Unsupported(NOT_IMPL);
    "freebind" [] flag => Unsupported(NOT_IMPL);
    "map-socket" [] value => Unsupported(NOT_IMPL);
    "no-threads-wait" [] flag => Unsupported(NOT_IMPL);
    "single-interpreter" [] 'i' flag => NoEffect("each rsgi worker runs one interpreter");
    "honour-stdin" [] flag => NoEffect("rsgi does not remap stdin");
    "emperor-proxy-socket" [] value => Unsupported(EMPEROR);
    "emperor-wrapper" [] value => Unsupported(EMPEROR);
    "emperor-wrapper-override" [] value => Unsupported(EMPEROR);
    "emperor-wrapper-fallback" [] value => Unsupported(EMPEROR);
    "emperor-nofollow" [] flag => Unsupported(EMPEROR);
    "emperor-procname" [] value => Unsupported(EMPEROR);
    "emperor-freq" [] value => Unsupported(EMPEROR);
    "emperor-required-heartbeat" [] value => Unsupported(EMPEROR);
    "emperor-curse-tolerance" [] value => Unsupported(EMPEROR);
    "emperor-pidfile" [] value => Unsupported(EMPEROR);
    "emperor-tyrant" [] flag => Unsupported(EMPEROR);
    "emperor-tyrant-nofollow" [] flag => Unsupported(EMPEROR);
    "early-emperor" [] flag => Unsupported(EMPEROR);
    "emperor-broodlord" [] value => Unsupported(EMPEROR);
    "emperor-throttle" [] value => Unsupported(EMPEROR);
    "emperor-max-throttle" [] value => Unsupported(EMPEROR);
    "emperor-magic-exec" [] flag => Unsupported(EMPEROR);
    "emperor-on-demand-extension" ["emperor-on-demand-ext"] value => Unsupported(EMPEROR);
    "emperor-on-demand-directory" ["emperor-on-demand-dir"] value => Unsupported(EMPEROR);
    "emperor-on-demand-exec" [] value => Unsupported(EMPEROR);
    "emperor-extra-extension" ["emperor-extra-ext"] value => Unsupported(EMPEROR);
    "emperor-no-blacklist" [] flag => Unsupported(EMPEROR);
    "emperor-use-clone" [] value => Unsupported(EMPEROR);
    "emperor-graceful-shutdown" [] flag => Unsupported(EMPEROR);
    "emperor-cap" ["vassals-cap", "vassal-cap"] value => Unsupported(EMPEROR);
    "imperial-monitor-list" ["imperial-monitors-list"] flag => Unsupported(EMPEROR);
    "vassals-inherit" [] value => Unsupported(EMPEROR);
    "vassals-include" [] value => Unsupported(EMPEROR);
    "vassals-inherit-before" [] value => Unsupported(EMPEROR);
    "vassals-include-before" [] value => Unsupported(EMPEROR);
    "vassals-start-hook" [] value => Unsupported(EMPEROR);
    "vassals-stop-hook" [] value => Unsupported(EMPEROR);
    "vassal-sos" [] value => Unsupported(EMPEROR);
    "vassal-sos-backlog" [] value => Unsupported(EMPEROR);
    "vassals-set" ["vassal-set"] value => Unsupported(EMPEROR);
    "heartbeat" [] value => Unsupported(EMPEROR);
    "mule-reload-mercy" [] value => Unsupported(MULES);
    "force-gateway" [] flag => Unsupported(NOT_IMPL);
    "print-sym" [] value => Unsupported(COMMAND);
    "print-symbol" [] value => Unsupported(COMMAND);
    "reaper" [] 'r' flag => NoEffect("rsgi's master reaps every child process itself");
    "min-worker-lifetime" [] value => Unsupported(NOT_IMPL);
    "no-fd-passing" [] flag => NoEffect("rsgi passes no file descriptors between workers");
    "locks" [] value => NoEffect("rsgi gives apps no shared locks (uwsgi.lock())");
    "lock-engine" [] value => NoEffect("rsgi gives apps no shared locks (uwsgi.lock())");
    "ftok" [] value => NoEffect("rsgi uses no SysV semaphores");
    "persistent-ipcsem" [] flag => NoEffect("rsgi uses no SysV semaphores");
    "sharedarea" [] 'A' value => Unsupported(SHARED_MEMORY);
    "safe-fd" ["fd-safe"] value => Unsupported(NOT_IMPL);
    "cache" [] value => Unsupported(CACHE);
    "cache-blocksize" [] value => Unsupported(CACHE);
    "cache-store" [] value => Unsupported(CACHE);
    "cache-store-sync" [] value => Unsupported(CACHE);
    "cache-no-expire" [] flag => Unsupported(CACHE);
    "cache-expire-freq" [] value => Unsupported(CACHE);
    "cache-report-freed-items" [] flag => Unsupported(CACHE);
    "cache-udp-server" [] value => Unsupported(CACHE);
    "cache-udp-node" [] value => Unsupported(CACHE);
    "cache-sync" [] value => Unsupported(CACHE);
    "cache-use-last-modified" [] flag => Unsupported(CACHE);
    "add-cache-item" [] value => Unsupported(CACHE);
    "load-file-in-cache" [] value => Unsupported(CACHE);
    "load-file-in-cache-gzip" [] value => Unsupported(CACHE);
    "cache2" [] value => Unsupported(CACHE);
    "queue" [] value => Unsupported(SHARED_MEMORY);
    "queue-blocksize" [] value => Unsupported(SHARED_MEMORY);
    "queue-store" [] value => Unsupported(SHARED_MEMORY);
    "queue-store-sync" [] value => Unsupported(SHARED_MEMORY);
    "spooler" [] 'Q' value => Unsupported(SPOOLER);
    "spooler-external" [] value => Unsupported(SPOOLER);
    "spooler-ordered" [] flag => Unsupported(SPOOLER);
    "spooler-chdir" [] value => Unsupported(SPOOLER);
    "spooler-processes" [] value => Unsupported(SPOOLER);
    "spooler-quiet" [] flag => Unsupported(SPOOLER);
    "spooler-max-tasks" [] value => Unsupported(SPOOLER);
    "spooler-harakiri" [] value => Unsupported(SPOOLER);
    "spooler-frequency" ["spooler-freq"] value => Unsupported(SPOOLER);
    "mule" [] optional => Unsupported(MULES);
    "mules" [] value => Unsupported(MULES);
    "farm" [] value => Unsupported(MULES);
    "mule-msg-size" [] optional => Unsupported(MULES);
    "signal" [] value => Unsupported(SIGNALS);
    "signal-bufsize" ["signals-bufsize"] value => Unsupported(SIGNALS);
    "signal-timer" ["timer"] value => Unsupported(SIGNALS);
    "signal-rbtimer" ["rbtimer"] value => Unsupported(SIGNALS);
    "rpc-max" [] value => Unsupported(SIGNALS);
    "flock" [] value => Unsupported(NOT_IMPL);
    "flock-wait" [] value => Unsupported(NOT_IMPL);
    "flock2" [] value => Unsupported(NOT_IMPL);
    "flock-wait2" [] value => Unsupported(NOT_IMPL);
    "chroot" [] value => Unsupported(JAIL);
    "pivot-root" ["pivot_root"] value => Unsupported(JAIL);
    "add-gid" [] value => Unsupported(JAIL);
    "immediate-uid" [] value => Unsupported(JAIL);
    "immediate-gid" [] value => Unsupported(JAIL);
    "no-initgroups" [] flag => Unsupported(JAIL);
    "cap" [] value => Unsupported(JAIL);
    "unshare" [] value => Unsupported(JAIL);
    "unshare2" [] value => Unsupported(JAIL);
    "setns-socket" [] value => Unsupported(JAIL);
    "setns-socket-skip" ["setns-skip"] value => Unsupported(JAIL);
    "setns" [] value => Unsupported(JAIL);
    "setns-preopen" [] flag => Unsupported(JAIL);
    "jailed" [] flag => Unsupported(JAIL);
    "jail" [] value => Unsupported(JAIL);
    "jail-ip4" [] value => Unsupported(JAIL);
    "jail-ip6" [] value => Unsupported(JAIL);
    "jidfile" ["jid-file"] value => Unsupported(JAIL);
    "jail2" ["libjail"] value => Unsupported(JAIL);
    "jail-attach" [] value => Unsupported(JAIL);
    "refork" ["re-fork"] flag => Unsupported(JAIL);
    "refork-as-root" ["re-fork-as-root"] flag => Unsupported(JAIL);
    "refork-post-jail" ["re-fork-post-jail"] flag => Unsupported(JAIL);
    "hook-pre-jail" [] value => Unsupported(JAIL);
    "hook-post-jail" [] value => Unsupported(JAIL);
    "hook-in-jail" [] value => Unsupported(JAIL);
    "hook-touch" [] value => Unsupported(NOT_YET);
    "hook-emperor-start" [] value => Unsupported(EMPEROR);
    "hook-emperor-stop" [] value => Unsupported(EMPEROR);
    "hook-emperor-reload" [] value => Unsupported(EMPEROR);
    "hook-emperor-lost" [] value => Unsupported(EMPEROR);
    "hook-as-vassal" [] value => Unsupported(EMPEROR);
    "hook-as-emperor" [] value => Unsupported(EMPEROR);
    "hook-as-mule" [] value => Unsupported(MULES);
    "hook-as-gateway" [] value => Unsupported(EMPEROR);
    "after-request-hook" ["after-request-call"] value => Unsupported(C_SYMBOLS);
    "exec-pre-jail" [] value => Unsupported(JAIL);
    "exec-post-jail" [] value => Unsupported(JAIL);
    "exec-in-jail" [] value => Unsupported(JAIL);
    "exec-as-vassal" [] value => Unsupported(EMPEROR);
    "exec-as-emperor" [] value => Unsupported(EMPEROR);
    "mount-asap" [] value => Unsupported(JAIL);
    "mount-pre-jail" [] value => Unsupported(JAIL);
    "mount-post-jail" [] value => Unsupported(JAIL);
    "mount-in-jail" [] value => Unsupported(JAIL);
    "mount-as-root" [] value => Unsupported(JAIL);
    "mount-as-vassal" [] value => Unsupported(JAIL);
    "mount-as-emperor" [] value => Unsupported(JAIL);
    "umount-asap" [] value => Unsupported(JAIL);
    "umount-pre-jail" [] value => Unsupported(JAIL);
    "umount-post-jail" [] value => Unsupported(JAIL);
    "umount-in-jail" [] value => Unsupported(JAIL);
    "umount-as-root" [] value => Unsupported(JAIL);
    "umount-as-vassal" [] value => Unsupported(JAIL);
    "umount-as-emperor" [] value => Unsupported(JAIL);
    "wait-for-interface" ["wait-interface", "wait-for-iface", "wait-iface"] value => Unsupported(NOT_IMPL);
    "wait-for-interface-timeout" ["wait-interface-timeout", "wait-for-iface-timeout", "wait-iface-timeout"] value => Unsupported(NOT_IMPL);
    "wait-for-fs" ["wait-for-file", "wait-for-dir"] value => Unsupported(NOT_IMPL);
    "wait-for-mountpoint" [] value => Unsupported(NOT_IMPL);
    "wait-for-fs-timeout" [] value => Unsupported(NOT_IMPL);
    "wait-for-socket" [] value => Unsupported(NOT_IMPL);
    "wait-for-socket-timeout" [] value => Unsupported(NOT_IMPL);
    "call-asap" [] value => Unsupported(C_SYMBOLS);
    "call-pre-jail" [] value => Unsupported(C_SYMBOLS);
    "call-post-jail" [] value => Unsupported(C_SYMBOLS);
    "call-in-jail" [] value => Unsupported(C_SYMBOLS);
    "call-as-root" [] value => Unsupported(C_SYMBOLS);
    "call-as-user" [] value => Unsupported(C_SYMBOLS);
    "call-as-user-atexit" [] value => Unsupported(C_SYMBOLS);
    "call-pre-app" [] value => Unsupported(C_SYMBOLS);
    "call-post-app" [] value => Unsupported(C_SYMBOLS);
    "call-as-vassal" [] value => Unsupported(C_SYMBOLS);
    "call-as-vassal1" [] value => Unsupported(C_SYMBOLS);
    "call-as-vassal3" [] value => Unsupported(C_SYMBOLS);
    "call-as-emperor" [] value => Unsupported(C_SYMBOLS);
    "call-as-emperor1" [] value => Unsupported(C_SYMBOLS);
    "call-as-emperor2" [] value => Unsupported(C_SYMBOLS);
    "call-as-emperor4" [] value => Unsupported(C_SYMBOLS);
    "weight" [] value => Unsupported(CLUSTER);
    "auto-weight" [] value => Unsupported(CLUSTER);
    "no-server" [] flag => Unsupported(NOT_IMPL);
    "command-mode" [] flag => Unsupported(NOT_IMPL);
    "no-defer-accept" [] flag => NoEffect("rsgi does not use deferred accept");
    "tcp-nodelay" [] flag => NoEffect("rsgi sets TCP_NODELAY on every TCP socket");
    "so-keepalive" [] flag => Unsupported(NOT_IMPL);
    "so-send-timeout" ["socket-send-timeout", "so-write-timeout", "socket-write-timeout"] flag => Unsupported(NOT_IMPL);
    "socket-sndbuf" [] value => Unsupported(NOT_IMPL);
    "socket-rcvbuf" [] value => Unsupported(NOT_IMPL);
    "shutdown-sockets" [] flag => Unsupported(NOT_IMPL);
    "mem-collector-freq" [] value => Unsupported(NOT_IMPL);
    "reload-on-fd" [] value => Unsupported(NOT_IMPL);
    "brutal-reload-on-fd" [] value => Unsupported(NOT_IMPL);
    "ksm" [] optional => Unsupported(NOT_IMPL);
    "pcre-jit" [] flag => NoEffect("rsgi uses no PCRE");
    "never-swap" [] flag => Unsupported(NOT_IMPL);
    "touch-mules-reload" [] value => Unsupported(MULES);
    "touch-spoolers-reload" [] value => Unsupported(NOT_IMPL);
    "touch-logrotate" [] value => Unsupported(NOT_IMPL);
    "touch-logreopen" [] value => Unsupported(NOT_IMPL);
    "touch-exec" [] value => Unsupported(NOT_IMPL);
    "touch-signal" [] value => Unsupported(SIGNALS);
    "fs-reload" [] value => Unsupported(NOT_IMPL);
    "fs-brutal-reload" [] value => Unsupported(NOT_IMPL);
    "fs-signal" [] value => Unsupported(SIGNALS);
    "check-mountpoint" ["mountpoint-check", "check-mount", "mount-check"] value => Unsupported(NOT_IMPL);
    "propagate-touch" [] flag => NoEffect("rsgi's master watches touch files itself");
    "no-orphans" [] flag => NoEffect("rsgi's workers always exit when the master dies");
    "prio" [] value => Unsupported(NOT_IMPL);
    "cpu-affinity" [] value => Unsupported(NOT_IMPL);
    "post-buffering-bufsize" [] value => NoEffect("rsgi reads request bodies with its own buffer sizes");
    "body-read-warning" [] value => NoEffect("rsgi keeps large request bodies in a temp file, not in memory");
    "upload-progress" [] value => Unsupported(NOT_IMPL);
    "no-default-app" [] flag => Unsupported(NOT_IMPL);
    "ignore-script-name" [] flag => Unsupported(NOT_IMPL);
    "catch-exceptions" [] flag => Unsupported(NOT_IMPL);
    "reload-on-exception" [] flag => Unsupported(NOT_IMPL);
    "reload-on-exception-type" [] value => Unsupported(NOT_IMPL);
    "reload-on-exception-value" [] value => Unsupported(NOT_IMPL);
    "reload-on-exception-repr" [] value => Unsupported(NOT_IMPL);
    "exception-handler" [] value => Unsupported(NOT_IMPL);
    "enable-metrics" [] flag => NoEffect("rsgi's counters are always on; serve them with --metrics");
    "metric" [] value => Unsupported(METRICS);
    "metric-threshold" ["metric-alarm", "alarm-metric"] value => Unsupported(METRICS);
    "metrics-dir" ["metric-dir"] value => Unsupported(METRICS);
    "metrics-dir-restore" ["metric-dir-restore"] flag => Unsupported(METRICS);
    "metrics-no-cores" [] flag => NoEffect("tunes uWSGI's metrics subsystem");
    "udp" [] value => Unsupported(NOT_IMPL);
    "stats-minified" ["stats-min"] flag => NoEffect("rsgi's stats JSON is always minified");
    "stats-push" [] value => Unsupported(NOT_IMPL);
    "stats-pusher-default-freq" ["stats-pushers-default-freq"] value => Unsupported(NOT_IMPL);
    "stats-no-cores" [] flag => NoEffect("tunes the layout of uWSGI's stats document");
    "stats-no-metrics" [] flag => NoEffect("rsgi's stats document carries no metrics");
    "multicast" [] value => Unsupported(CLUSTER);
    "multicast-ttl" [] value => Unsupported(CLUSTER);
    "multicast-loop" [] value => Unsupported(CLUSTER);
    "notify-socket" [] value => Unsupported(NOT_IMPL);
    "subscription-notify-socket" [] value => Unsupported(CLUSTER);
    "legion" [] value => Unsupported(CLUSTER);
    "legion-mcast" [] value => Unsupported(CLUSTER);
    "legion-node" [] value => Unsupported(CLUSTER);
    "legion-freq" [] value => Unsupported(CLUSTER);
    "legion-tolerance" [] value => Unsupported(CLUSTER);
    "legion-death-on-lord-error" [] value => Unsupported(CLUSTER);
    "legion-skew-tolerance" [] value => Unsupported(CLUSTER);
    "legion-lord" [] value => Unsupported(CLUSTER);
    "legion-unlord" [] value => Unsupported(CLUSTER);
    "legion-setup" [] value => Unsupported(CLUSTER);
    "legion-death" [] value => Unsupported(CLUSTER);
    "legion-join" [] value => Unsupported(CLUSTER);
    "legion-node-joined" [] value => Unsupported(CLUSTER);
    "legion-node-left" [] value => Unsupported(CLUSTER);
    "legion-quorum" [] value => Unsupported(CLUSTER);
    "legion-scroll" [] value => Unsupported(CLUSTER);
    "legion-scroll-max-size" [] value => Unsupported(CLUSTER);
    "legion-scroll-list-max-size" [] value => Unsupported(CLUSTER);
    "subscriptions-sign-check" [] value => Unsupported(CLUSTER);
    "subscriptions-sign-check-tolerance" [] value => Unsupported(CLUSTER);
    "subscriptions-sign-skip-uid" [] value => Unsupported(CLUSTER);
    "subscriptions-credentials-check" [] value => Unsupported(CLUSTER);
    "subscriptions-use-credentials" [] flag => Unsupported(CLUSTER);
    "subscription-algo" [] value => Unsupported(CLUSTER);
    "subscription-dotsplit" [] flag => Unsupported(CLUSTER);
    "subscribe-to" ["st", "subscribe"] value => Unsupported(CLUSTER);
    "subscribe2" [] value => Unsupported(CLUSTER);
    "subscribe-freq" [] value => Unsupported(CLUSTER);
    "subscription-tolerance" [] value => Unsupported(CLUSTER);
    "unsubscribe-on-graceful-reload" [] flag => Unsupported(CLUSTER);
    "start-unsubscribed" [] flag => Unsupported(CLUSTER);
    "subscribe-with-modifier1" [] value => Unsupported(CLUSTER);
    "snmp" [] optional => Unsupported(NOT_IMPL);
    "snmp-community" [] value => Unsupported(NOT_IMPL);
    "ssl-verbose" [] flag => Unsupported(TLS);
    "ssl-verify-depth" [] optional => Unsupported(TLS);
    "ssl-sessions-use-cache" ["ssl-session-use-cache"] optional => Unsupported(TLS);
    "ssl-sessions-timeout" ["ssl-session-timeout"] value => Unsupported(TLS);
    "sni" [] value => Unsupported(TLS);
    "sni-dir" [] value => Unsupported(TLS);
    "sni-dir-ciphers" [] value => Unsupported(TLS);
    "ssl-enable3" ["ssl-enable-sslv3"] flag => Unsupported(TLS);
    "ssl-enable-tlsv1" [] flag => Unsupported(TLS);
    "ssl-option" [] flag => Unsupported(TLS);
    "sni-regexp" [] value => Unsupported(TLS);
    "ssl-tmp-dir" [] value => Unsupported(TLS);
    "check-interval" [] value => NoEffect("rsgi's master reacts to events when they happen instead of polling");
    "forkbomb-delay" [] value => NoEffect("rsgi's master delays the respawn of a worker that keeps dying itself");
    "binary-path" [] value => Unsupported(BINARY);
    "privileged-binary-patch" [] value => Unsupported(BINARY);
    "unprivileged-binary-patch" [] value => Unsupported(BINARY);
    "privileged-binary-patch-arg" [] value => Unsupported(BINARY);
    "unprivileged-binary-patch-arg" [] value => Unsupported(BINARY);
    "async" [] value => Unsupported(ASYNC);
    "logformat-strftime" ["log-format-strftime"] flag => Unsupported(NOT_IMPL);
    "logfile-chown" [] flag => Unsupported(NOT_IMPL);
    "logfile-chmod" [] value => Unsupported(NOT_IMPL);
    "log-syslog" [] optional => Unsupported(NOT_YET);
    "log-socket" [] value => Unsupported(NOT_YET);
    "logger-list" ["loggers-list"] flag => Unsupported(COMMAND);
    "threaded-logger" [] flag => NoEffect("rsgi writes each log line with one write(), without a logger thread");
    "log-req-encoder" [] value => Unsupported(NOT_IMPL);
    "log-drain" [] value => Unsupported(NOT_IMPL);
    "log-filter" [] value => Unsupported(NOT_IMPL);
    "use-abort" [] flag => Unsupported(NOT_IMPL);
    "alarm" [] value => Unsupported(ALARMS);
    "alarm-cheap" [] value => Unsupported(ALARMS);
    "alarm-freq" [] value => Unsupported(ALARMS);
    "alarm-fd" [] value => Unsupported(ALARMS);
    "alarm-segfault" ["segfault-alarm"] value => Unsupported(ALARMS);
    "alarm-backlog" ["backlog-alarm", "lq-alarm", "alarm-lq", "alarm-listen-queue", "listen-queue-alarm"] value => Unsupported(ALARMS);
    "log-alarm" ["alarm-log"] value => Unsupported(ALARMS);
    "not-log-alarm" ["not-alarm-log"] value => Unsupported(ALARMS);
    "alarm-list" ["alarms-list"] flag => Unsupported(ALARMS);
    "alarm-msg-size" [] value => Unsupported(ALARMS);
    "log-master" [] flag => NoEffect("rsgi's workers write each log line with one write(), so lines from several workers never interleave");
    "log-master-bufsize" [] value => NoEffect("rsgi has no log-master pipe");
    "log-master-stream" [] flag => NoEffect("rsgi has no log-master pipe");
    "log-master-req-stream" [] flag => NoEffect("rsgi has no log-master pipe");
    "log-truncate" [] flag => Unsupported(NOT_IMPL);
    "log-maxsize" [] value => Unsupported(NOT_IMPL);
    "log-backupname" [] value => Unsupported(NOT_IMPL);
    "logdate" ["log-date"] optional => NoEffect("rsgi's server log lines always start with a timestamp");
    "log-prefix" [] optional => Unsupported(NOT_IMPL);
    "log-zero" [] flag => Unsupported(NOT_IMPL);
    "log-big" [] value => Unsupported(NOT_IMPL);
    "log-sendfile" [] value => Unsupported(NOT_IMPL);
    "log-ioerror" [] value => Unsupported(NOT_IMPL);
    "master-as-root" [] flag => Unsupported(NOT_IMPL);
    "drop-after-init" [] flag => Unsupported(NOT_IMPL);
    "drop-after-apps" [] flag => Unsupported(NOT_IMPL);
    "force-cwd" [] value => Unsupported(NOT_IMPL);
    "binsh" [] value => Unsupported(NOT_IMPL);
    "chdir2" [] value => Unsupported(NOT_IMPL);
    "cheap" [] flag => Unsupported(NOT_IMPL);
    "cheaper-algo-list" ["cheaper-algos-list", "cheaper-list"] flag => Unsupported(COMMAND);
    "cheaper-idle" [] value => Unsupported("it tunes uWSGI's spare2 cheaper algorithm, which rsgi does not have (cheaper-algo spare, backlog or busyness)");
    "idle" [] value => Unsupported(NOT_IMPL);
    "die-on-idle" [] flag => Unsupported(NOT_IMPL);
    "worker-mount" [] value => Unsupported(NOT_IMPL);
    "thread-stacksize" ["threads-stacksize", "thread-stack-size", "threads-stack-size"] value => Unsupported(NOT_IMPL);
    "vhost" [] flag => Unsupported(NOT_IMPL);
    "vhost-host" [] flag => Unsupported(NOT_IMPL);
    "route" [] value => Unsupported(ROUTING);
    "route-host" [] value => Unsupported(ROUTING);
    "route-uri" [] value => Unsupported(ROUTING);
    "route-qs" [] value => Unsupported(ROUTING);
    "route-remote-addr" [] value => Unsupported(ROUTING);
    "route-user-agent" [] value => Unsupported(ROUTING);
    "route-remote-user" [] value => Unsupported(ROUTING);
    "route-referer" [] value => Unsupported(ROUTING);
    "route-label" [] value => Unsupported(ROUTING);
    "route-if" [] value => Unsupported(ROUTING);
    "route-if-not" [] value => Unsupported(ROUTING);
    "route-run" [] value => Unsupported(ROUTING);
    "final-route" [] value => Unsupported(ROUTING);
    "final-route-status" [] value => Unsupported(ROUTING);
    "final-route-host" [] value => Unsupported(ROUTING);
    "final-route-uri" [] value => Unsupported(ROUTING);
    "final-route-qs" [] value => Unsupported(ROUTING);
    "final-route-remote-addr" [] value => Unsupported(ROUTING);
    "final-route-user-agent" [] value => Unsupported(ROUTING);
    "final-route-remote-user" [] value => Unsupported(ROUTING);
    "final-route-referer" [] value => Unsupported(ROUTING);
    "final-route-label" [] value => Unsupported(ROUTING);
    "final-route-if" [] value => Unsupported(ROUTING);
    "final-route-if-not" [] value => Unsupported(ROUTING);
    "final-route-run" [] value => Unsupported(ROUTING);
    "error-route" [] value => Unsupported(ROUTING);
    "error-route-status" [] value => Unsupported(ROUTING);
    "error-route-host" [] value => Unsupported(ROUTING);
    "error-route-uri" [] value => Unsupported(ROUTING);
    "error-route-qs" [] value => Unsupported(ROUTING);
    "error-route-remote-addr" [] value => Unsupported(ROUTING);
    "error-route-user-agent" [] value => Unsupported(ROUTING);
    "error-route-remote-user" [] value => Unsupported(ROUTING);
    "error-route-referer" [] value => Unsupported(ROUTING);
    "error-route-label" [] value => Unsupported(ROUTING);
    "error-route-if" [] value => Unsupported(ROUTING);
    "error-route-if-not" [] value => Unsupported(ROUTING);
    "error-route-run" [] value => Unsupported(ROUTING);
    "response-route" [] value => Unsupported(ROUTING);
    "response-route-status" [] value => Unsupported(ROUTING);
    "response-route-host" [] value => Unsupported(ROUTING);
    "response-route-uri" [] value => Unsupported(ROUTING);
    "response-route-qs" [] value => Unsupported(ROUTING);
    "response-route-remote-addr" [] value => Unsupported(ROUTING);
    "response-route-user-agent" [] value => Unsupported(ROUTING);
    "response-route-remote-user" [] value => Unsupported(ROUTING);
    "response-route-referer" [] value => Unsupported(ROUTING);
    "response-route-label" [] value => Unsupported(ROUTING);
    "response-route-if" [] value => Unsupported(ROUTING);
    "response-route-if-not" [] value => Unsupported(ROUTING);
    "response-route-run" [] value => Unsupported(ROUTING);
    "router-list" ["routers-list"] flag => Unsupported(COMMAND);
    "error-page-403" [] value => Unsupported(ROUTING);
    "error-page-404" [] value => Unsupported(ROUTING);
    "error-page-500" [] value => Unsupported(ROUTING);
    "websockets-ping-freq" ["websocket-ping-freq"] value => Unsupported(WEBSOCKETS);
    "websockets-pong-tolerance" ["websocket-pong-tolerance"] value => Unsupported(WEBSOCKETS);
    "websockets-max-size" ["websocket-max-size"] value => Unsupported(WEBSOCKETS);
    "chunked-input-limit" [] value => NoEffect("tunes uWSGI's chunked-input API; rsgi de-chunks request bodies itself");
    "chunked-input-timeout" [] value => NoEffect("tunes uWSGI's chunked-input API; rsgi de-chunks request bodies itself");
    "clock" [] value => NoEffect("rsgi uses the system clock");
    "clock-list" ["clocks-list"] flag => Unsupported(COMMAND);
    "collect-header" ["response-header-collect"] value => Unsupported(ROUTING);
    "pull-header" [] value => Unsupported(ROUTING);
    "check-static-docroot" [] flag => Unsupported(NOT_YET);
    "static-cache-paths" [] value => Unsupported(CACHE);
    "static-cache-paths-name" [] value => Unsupported(CACHE);
    "honour-range" [] flag => NoEffect("rsgi's static files always honour Range (single ranges)");
    "offload-threads" ["offload-thread"] value => NoEffect("rsgi's I/O runtime already writes responses without holding a Python thread");
    "file-serve-mode" [] value => Unsupported(NOT_IMPL);
    "fileserve-mode" [] value => Unsupported(NOT_IMPL);
    "disable-sendfile" [] flag => Unsupported(NOT_IMPL);
    "check-cache" [] optional => Unsupported(CACHE);
    "close-on-exec" [] flag => NoEffect("rsgi opens its connection sockets close-on-exec");
    "close-on-exec2" [] flag => NoEffect("rsgi opens its connection sockets close-on-exec");
    "mode" [] value => Unsupported(NOT_IMPL);
    "envdir" [] value => Unsupported(NOT_IMPL);
    "early-envdir" [] value => Unsupported(NOT_IMPL);
    "file-write" [] value => Unsupported(NOT_IMPL);
    "cgroup" [] value => Unsupported(JAIL);
    "cgroup-opt" [] value => Unsupported(JAIL);
    "cgroup-dir-mode" [] value => Unsupported(JAIL);
    "namespace" ["ns"] value => Unsupported(JAIL);
    "namespace-keep-mount" [] value => Unsupported(JAIL);
    "namespace-net" ["ns-net"] value => Unsupported(JAIL);
    "enable-proxy-protocol" [] flag => Unsupported(NOT_IMPL);
    "reuse-port" [] flag => Unsupported(NOT_IMPL);
    "tcp-fast-open" ["tcp-fastopen"] value => Unsupported(NOT_IMPL);
    "tcp-fast-open-client" ["tcp-fastopen-client"] flag => Unsupported(NOT_IMPL);
    "zerg" [] value => Unsupported(CLUSTER);
    "zerg-fallback" [] flag => Unsupported(CLUSTER);
    "zerg-server" [] value => Unsupported(CLUSTER);
    "legion-cron" [] value => Unsupported(CLUSTER);
    "cron-legion" [] value => Unsupported(CLUSTER);
    "unique-legion-cron" [] value => Unsupported(CLUSTER);
    "unique-cron-legion" [] value => Unsupported(CLUSTER);
    "loop" [] value => Unsupported(ASYNC);
    "loop-list" ["loops-list"] flag => Unsupported(COMMAND);
    "worker-exec" [] value => Unsupported(BINARY);
    "worker-exec2" [] value => Unsupported(BINARY);
    "legion-attach-daemon" [] value => Unsupported(CLUSTER);
    "legion-smart-attach-daemon" [] value => Unsupported(CLUSTER);
    "legion-smart-attach-daemon2" [] value => Unsupported(CLUSTER);
    "plugins-dir" ["plugin-dir"] value => NoEffect("the Python interpreter is built into rsgi; it loads no plugins");
    "plugins-list" ["plugin-list"] flag => Unsupported(COMMAND);
    "autoload" [] flag => NoEffect("the Python interpreter is built into rsgi; it loads no plugins");
    "dlopen" [] value => Unsupported(C_SYMBOLS);
    "allowed-modifiers" [] value => Unsupported(NOT_IMPL);
    "remap-modifier" [] value => Unsupported(NOT_IMPL);
    "dump-options" [] flag => Unsupported(COMMAND);
    "binary-append-data" [] value => Unsupported(COMMAND);
    "exit" [] optional => Unsupported(COMMAND);
    "cflags" [] flag => Unsupported(COMMAND);
    "dot-h" [] flag => Unsupported(COMMAND);
    "config-py" [] flag => Unsupported(COMMAND);
    "build-plugin" [] value => Unsupported(COMMAND);
    "response-headers-limit" [] value => Unsupported(NOT_IMPL);
    // asyncio
    "asyncio" [] value => Unsupported(ASYNC);
    // fastrouter
    "fastrouter" [] value => Unsupported(ROUTERS);
    "fastrouter-processes" ["fastrouter-workers"] value => Unsupported(ROUTERS);
    "fastrouter-zerg" [] value => Unsupported(ROUTERS);
    "fastrouter-use-cache" [] optional => Unsupported(ROUTERS);
    "fastrouter-use-pattern" [] value => Unsupported(ROUTERS);
    "fastrouter-use-base" [] value => Unsupported(ROUTERS);
    "fastrouter-fallback" [] value => Unsupported(ROUTERS);
    "fastrouter-use-code-string" [] value => Unsupported(ROUTERS);
    "fastrouter-use-socket" [] optional => Unsupported(ROUTERS);
    "fastrouter-to" [] value => Unsupported(ROUTERS);
    "fastrouter-gracetime" [] value => Unsupported(ROUTERS);
    "fastrouter-events" [] value => Unsupported(ROUTERS);
    "fastrouter-quiet" [] value => Unsupported(ROUTERS);
    "fastrouter-cheap" [] flag => Unsupported(ROUTERS);
    "fastrouter-subscription-server" [] value => Unsupported(ROUTERS);
    "fastrouter-subscription-slot" [] value => Unsupported(ROUTERS);
    "fastrouter-timeout" [] value => Unsupported(ROUTERS);
    "fastrouter-post-buffering" [] value => Unsupported(ROUTERS);
    "fastrouter-post-buffering-dir" [] value => Unsupported(ROUTERS);
    "fastrouter-stats" ["fastrouter-stats-server", "fastrouter-ss"] value => Unsupported(ROUTERS);
    "fastrouter-harakiri" [] value => Unsupported(ROUTERS);
    "fastrouter-uid" [] value => Unsupported(ROUTERS);
    "fastrouter-gid" [] value => Unsupported(ROUTERS);
    "fastrouter-resubscribe" [] value => Unsupported(ROUTERS);
    "fastrouter-resubscribe-bind" [] value => Unsupported(ROUTERS);
    "fastrouter-buffer-size" [] value => Unsupported(ROUTERS);
    "fastrouter-fallback-on-no-key" [] flag => Unsupported(ROUTERS);
    "fastrouter-subscription-fallback-key" [] value => Unsupported(ROUTERS);
    // forkptyrouter
    "forkptyrouter" ["forkpty-router"] value => Unsupported(ROUTERS);
    "forkptyurouter" ["forkpty-urouter"] value => Unsupported(ROUTERS);
    "forkptyrouter-command" ["forkpty-router-command", "forkptyrouter-cmd", "forkpty-router-cmd"] value => Unsupported(ROUTERS);
    "forkptyrouter-rows" [] value => Unsupported(ROUTERS);
    "forkptyrouter-cols" [] value => Unsupported(ROUTERS);
    "forkptyrouter-processes" ["forkptyrouter-workers"] value => Unsupported(ROUTERS);
    "forkptyrouter-zerg" [] value => Unsupported(ROUTERS);
    "forkptyrouter-fallback" [] value => Unsupported(ROUTERS);
    "forkptyrouter-events" [] value => Unsupported(ROUTERS);
    "forkptyrouter-cheap" [] flag => Unsupported(ROUTERS);
    "forkptyrouter-timeout" [] value => Unsupported(ROUTERS);
    "forkptyrouter-stats" ["forkptyrouter-stats-server", "forkptyrouter-ss"] value => Unsupported(ROUTERS);
    "forkptyrouter-harakiri" [] value => Unsupported(ROUTERS);
    // gevent
    "gevent" [] value => Unsupported(ASYNC);
    "gevent-monkey-patch" [] flag => Unsupported(ASYNC);
    "gevent-early-monkey-patch" [] flag => Unsupported(ASYNC);
    "gevent-wait-for-hub" [] flag => Unsupported(ASYNC);
    // greenlet
    "greenlet" [] flag => Unsupported(ASYNC);
    // http
    "https" [] value => Unsupported(TLS);
    "https2" [] value => Unsupported(TLS);
    "https-export-cert" [] flag => Unsupported(TLS);
    "https-session-context" [] value => Unsupported(TLS);
    "http-to-https" [] value => Unsupported(TLS);
    "http-processes" ["http-workers"] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-var" [] value => Unsupported(ROUTERS);
    "http-to" [] value => Unsupported(ROUTERS);
    "http-zerg" [] value => Unsupported(ROUTERS);
    "http-fallback" [] value => Unsupported(ROUTERS);
    "http-modifier1" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-modifier2" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-use-cache" [] optional => Unsupported(ROUTERS);
    "http-use-pattern" [] value => Unsupported(ROUTERS);
    "http-use-base" [] value => Unsupported(ROUTERS);
    "http-events" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-subscription-server" [] value => Unsupported(ROUTERS);
    "http-subscription-fallback-key" [] value => Unsupported(ROUTERS);
    "http-timeout" [] value => NoEffect("rsgi has no HTTP router in front of the workers, so nothing cuts a slow response; client sockets time out after socket-timeout");
    "http-manage-expect" [] optional => NoEffect("rsgi answers Expect: 100-continue itself");
    "http-auto-chunked" [] flag => NoEffect("rsgi chunks HTTP/1.1 responses that have no Content-Length itself");
    "http-auto-gzip" [] flag => Unsupported("not implemented in rsgi; compress in nginx");
    "http-raw-body" [] flag => Unsupported(ROUTERS);
    "http-websockets" [] flag => Unsupported(WEBSOCKETS);
    "http-chunked-input" [] flag => NoEffect("rsgi de-chunks chunked request bodies itself");
    "http-use-code-string" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-use-socket" [] optional => Unsupported(ROUTERS);
    "http-gracetime" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-quiet" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-cheap" [] flag => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-stats" ["http-stats-server", "http-ss"] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-harakiri" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-stud-prefix" [] value => Unsupported(ROUTERS);
    "http-uid" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-gid" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-resubscribe" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-buffer-size" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-server-name-as-http-host" [] value => Unsupported(ROUTERS);
    "http-headers-timeout" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-connect-timeout" [] value => NoEffect("tunes uWSGI's HTTP router process; rsgi's workers serve HTTP themselves");
    "http-manage-source" [] flag => Unsupported(ROUTERS);
    "http-manage-rtsp" [] flag => Unsupported(ROUTERS);
    "http-enable-proxy-protocol" [] optional => Unsupported(ROUTERS);
    // python
    "eval" [] value => Unsupported(NOT_IMPL);
    "test" [] 'J' value => Unsupported(COMMAND);
    "py-programname" ["py-program-name"] value => Unsupported(NOT_IMPL);
    "pymodule-alias" [] value => Unsupported(NOT_IMPL);
    "post-pymodule-alias" [] value => Unsupported(NOT_IMPL);
    "pecan" [] value => Unsupported("not implemented in rsgi; load the app with a wsgi-file that calls paste.deploy.loadapp()");
    "paste" [] value => Unsupported("not implemented in rsgi; load the app with a wsgi-file that calls paste.deploy.loadapp()");
    "paste-logger" [] flag => Unsupported("not implemented in rsgi; load the app with a wsgi-file that calls paste.deploy.loadapp()");
    "web3" [] value => Unsupported(NOT_IMPL);
    "pump" [] value => Unsupported(NOT_IMPL);
    "wsgi-lite" [] value => Unsupported(NOT_IMPL);
    "ini-paste" [] value => Unsupported("not implemented in rsgi; load the app with a wsgi-file that calls paste.deploy.loadapp()");
    "ini-paste-logged" [] value => Unsupported("not implemented in rsgi; load the app with a wsgi-file that calls paste.deploy.loadapp()");
    "reload-os-env" [] flag => Unsupported(NOT_IMPL);
    "no-site" [] flag => Unsupported(NOT_IMPL);
    "pyshell" ["pyshell-oneshot"] optional => Unsupported(COMMAND);
    "py" ["pyrun"] value => Unsupported(COMMAND);
    "py-tracebacker" [] value => Unsupported(NOT_IMPL);
    "py-auto-reload-ignore" [] value => Unsupported(NOT_IMPL);
    "wsgi-env-behaviour" ["wsgi-env-behavior"] value => NoEffect("rsgi gives each request a fresh environ dict");
    "start_response-nodelay" [] flag => Unsupported(NOT_IMPL);
    "wsgi-strict" [] flag => NoEffect("rsgi always follows PEP 3333 strictly");
    "wsgi-accept-buffer" ["wsgi-accept-buffers"] flag => Unsupported(NOT_IMPL);
    "wsgi-disable-file-wrapper" [] flag => Unsupported(NOT_IMPL);
    "python-version" [] flag => Unsupported(COMMAND);
    "python-raw" [] value => Unsupported(NOT_IMPL);
    "py-sharedarea" [] value => Unsupported(NOT_IMPL);
    "py-call-osafterfork" [] flag => NoEffect("rsgi always tells CPython about each fork, so workers handle OS signals");
    "py-call-uwsgi-fork-hooks" [] flag => NoEffect("rsgi always runs CPython's fork hooks around each fork");
    "python-worker-override" [] value => Unsupported(NOT_IMPL);
    // rawrouter
    "rawrouter" [] value => Unsupported(ROUTERS);
    "rawrouter-processes" ["rawrouter-workers"] value => Unsupported(ROUTERS);
    "rawrouter-zerg" [] value => Unsupported(ROUTERS);
    "rawrouter-use-cache" [] optional => Unsupported(ROUTERS);
    "rawrouter-use-pattern" [] value => Unsupported(ROUTERS);
    "rawrouter-use-base" [] value => Unsupported(ROUTERS);
    "rawrouter-fallback" [] value => Unsupported(ROUTERS);
    "rawrouter-use-code-string" [] value => Unsupported(ROUTERS);
    "rawrouter-use-socket" [] optional => Unsupported(ROUTERS);
    "rawrouter-to" [] value => Unsupported(ROUTERS);
    "rawrouter-gracetime" [] value => Unsupported(ROUTERS);
    "rawrouter-events" [] value => Unsupported(ROUTERS);
    "rawrouter-max-retries" [] value => Unsupported(ROUTERS);
    "rawrouter-quiet" [] value => Unsupported(ROUTERS);
    "rawrouter-cheap" [] flag => Unsupported(ROUTERS);
    "rawrouter-subscription-server" [] value => Unsupported(ROUTERS);
    "rawrouter-subscription-slot" [] value => Unsupported(ROUTERS);
    "rawrouter-timeout" [] value => Unsupported(ROUTERS);
    "rawrouter-stats" ["rawrouter-stats-server", "rawrouter-ss"] value => Unsupported(ROUTERS);
    "rawrouter-harakiri" [] value => Unsupported(ROUTERS);
    "rawrouter-xclient" [] flag => Unsupported(ROUTERS);
    "rawrouter-buffer-size" [] value => Unsupported(ROUTERS);
    // sslrouter
    "sslrouter" [] value => Unsupported(ROUTERS);
    "sslrouter2" [] value => Unsupported(ROUTERS);
    "sslrouter-session-context" [] value => Unsupported(ROUTERS);
    "sslrouter-processes" ["sslrouter-workers"] value => Unsupported(ROUTERS);
    "sslrouter-zerg" [] value => Unsupported(ROUTERS);
    "sslrouter-use-cache" [] optional => Unsupported(ROUTERS);
    "sslrouter-use-pattern" [] value => Unsupported(ROUTERS);
    "sslrouter-use-base" [] value => Unsupported(ROUTERS);
    "sslrouter-fallback" [] value => Unsupported(ROUTERS);
    "sslrouter-use-code-string" [] value => Unsupported(ROUTERS);
    "sslrouter-use-socket" [] optional => Unsupported(ROUTERS);
    "sslrouter-to" [] value => Unsupported(ROUTERS);
    "sslrouter-gracetime" [] value => Unsupported(ROUTERS);
    "sslrouter-events" [] value => Unsupported(ROUTERS);
    "sslrouter-max-retries" [] value => Unsupported(ROUTERS);
    "sslrouter-quiet" [] value => Unsupported(ROUTERS);
    "sslrouter-cheap" [] flag => Unsupported(ROUTERS);
    "sslrouter-subscription-server" [] value => Unsupported(ROUTERS);
    "sslrouter-timeout" [] value => Unsupported(ROUTERS);
    "sslrouter-stats" ["sslrouter-stats-server", "sslrouter-ss"] value => Unsupported(ROUTERS);
    "sslrouter-harakiri" [] value => Unsupported(ROUTERS);
    "sslrouter-sni" [] flag => Unsupported(ROUTERS);
    "sslrouter-buffer-size" [] value => Unsupported(ROUTERS);
    // stackless
    "stackless" [] flag => Unsupported(ASYNC);
    // tornado
    "tornado" [] value => Unsupported(ASYNC);
    // tuntap
    "tuntap-router" [] value => Unsupported(ROUTERS);
    "tuntap-device" [] value => Unsupported(ROUTERS);
    "tuntap-use-credentials" [] optional => Unsupported(ROUTERS);
    "tuntap-router-firewall-in" [] value => Unsupported(ROUTERS);
    "tuntap-router-firewall-out" [] value => Unsupported(ROUTERS);
    "tuntap-router-route" [] value => Unsupported(ROUTERS);
    "tuntap-router-stats" [] value => Unsupported(ROUTERS);
    "tuntap-device-rule" [] value => Unsupported(ROUTERS);
    // ugreen
    "ugreen" [] flag => Unsupported(ASYNC);
    "ugreen-stacksize" [] value => Unsupported(ASYNC);
    // python
    "spooler-import" [] value => Unsupported(SPOOLER);
    "spooler-pyimport" [] value => Unsupported(SPOOLER);
    "spooler-py-import" [] value => Unsupported(SPOOLER);
    "spooler-python-import" [] value => Unsupported(SPOOLER);
}
plugins {
    "carbon": "carbon", "carbon-timeout", "carbon-freq", "carbon-id", "carbon-no-workers", "carbon-max-retry", "carbon-retry-delay", "carbon-root", "carbon-hostname-dots", "carbon-name-resolve", "carbon-resolve-names", "carbon-idle-avg", "carbon-use-metrics";
    "cgi": "cgi", "cgi-map-helper", "cgi-helper", "cgi-from-docroot", "cgi-buffer-size", "cgi-timeout", "cgi-index", "cgi-allowed-ext", "cgi-unset", "cgi-loadlib", "cgi-optimize", "cgi-optimized", "cgi-path-info", "cgi-do-not-kill-on-error", "cgi-async-max-attempts", "cgi-close-stdin-on-eof", "cgi-safe";
    "coroae": "coroae";
    "curl_cron": "curl-cron", "cron-curl", "legion-curl-cron", "legion-cron-curl", "curl-cron-legion", "cron-curl-legion";
    "dumbloop": "dumbloop-modifier1", "dumbloop-code", "dumbloop-function";
    "fiber": "fiber";
    "gccgo": "go-load", "gccgo-load", "go-args", "gccgo-args", "goroutines";
    "geoip": "geoip-country", "geoip-city", "geoip-use-disk";
    "glusterfs": "glusterfs-mount", "glusterfs-timeout";
    "jvm": "jvm-main-class", "jvm-opt", "jvm-class", "jvm-classpath";
    "jwsgi": "jwsgi";
    "ldap": "ldap", "ldap-schema", "ldap-schema-ldif";
    "logzmq": "log-zeromq";
    "lua": "lua", "lua-load", "lua-shell", "luashell", "lua-gc-freq";
    "mongrel2": "zeromq", "zmq", "zeromq-socket", "zmq-socket", "mongrel2";
    "mono": "mono-app", "mono-gc-freq", "mono-key", "mono-version", "mono-config", "mono-assembly", "mono-exec", "mono-index";
    "nagios": "nagios";
    "notfound": "notfound-log";
    "pam": "pam", "pam-user";
    "php": "php-ini", "php-config", "php-ini-append", "php-config-append", "php-set", "php-index", "php-docroot", "php-allowed-docroot", "php-allowed-ext", "php-allowed-script", "php-server-software", "php-app", "php-app-qs", "php-fallback", "php-fallback2", "php-fallback-qs", "php-app-bypass", "php-var", "php-constant", "php-dump-config", "php-exec-before", "php-exec-begin", "php-exec-after", "php-exec-end", "php-sapi-name";
    "ping": "ping", "ping-timeout";
    "psgi": "psgi", "psgi-enable-psgix-io", "perl-no-die-catch", "perl-local-lib", "perl-version", "perl-args", "perl-arg", "perl-exec", "perl-exec-post-fork", "perl-auto-reload", "perl-auto-reload-ignore", "plshell", "plshell-oneshot", "perl-no-plack";
    "pty": "pty-socket", "pty-log", "pty-input", "pty-connect", "pty-uconnect", "pty-no-isig", "pty-exec";
    "pypy": "pypy-lib", "pypy-setup", "pypy-home", "pypy-wsgi", "pypy-wsgi-file", "pypy-ini-paste", "pypy-paste", "pypy-eval", "pypy-eval-post-fork", "pypy-exec", "pypy-exec-post-fork", "pypy-pp", "pypy-python-path", "pypy-pythonpath";
    "rack": "rails", "rack", "ruby-gc-freq", "rb-gc-freq", "rb-lib", "ruby-lib", "rb-require", "ruby-require", "rbrequire", "rubyrequire", "require", "shared-rb-require", "shared-ruby-require", "shared-rbrequire", "shared-rubyrequire", "shared-require", "gemset", "rvm", "rvm-path", "rbshell", "rbshell-oneshot";
    "rados": "rados-mount", "rados-timeout";
    "rbthreads": "rbthreads", "rb-threads", "rbthread", "rb-thread";
    "ring": "ring-load", "clojure-load", "ring-app";
    "rrdtool": "rrdtool", "rrdtool-freq", "rrdtool-lib";
    "rsyslog": "rsyslog-packet-size", "rsyslog-split-messages";
    "sqlite3": "sqlite3", "sqlite";
    "symcall": "symcall", "symcall-use-next", "symcall-register-rpc", "symcall-post-fork";
    "xslt": "xslt-docroot", "xslt-ext", "xslt-var", "xslt-stylesheet", "xslt-content-type";
    "zabbix": "zabbix-template";
}
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
/// Names of options rsgi serves come before those it refuses.
pub fn suggest(name: &str) -> Option<&'static str> {
    let names = OPTIONS.iter().flat_map(|o| {
        let refused = matches!(o.support, Support::Unsupported(_));
        std::iter::once(o.name)
            .chain(o.aliases.iter().copied())
            .map(move |n| (refused, n))
    });
    // A distance is at least the difference in length: names too long or
    // too short to be within reach are not compared (a key of a few KiB
    // would otherwise cost millions of steps per name).
    let len = name.chars().count();
    let reach = |n: &str| (n.len() / 3).max(1);
    names
        .filter(|(_, n)| len.abs_diff(n.len()) <= reach(n))
        .map(|(refused, n)| (edit_distance(name, n), refused, n))
        .filter(|(d, _, n)| *d <= reach(n))
        .min_by_key(|(d, refused, _)| (*d, *refused))
        .map(|(_, _, n)| find(n).map_or(n, |o| o.name))
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

fn flag_text(o: &OptionSpec) -> String {
    let meta = o.kind.metavar();
    match (meta.is_empty(), o.bare.is_some()) {
        (true, _) => format!("--{}", o.name),
        (false, true) => format!("--{}[={meta}]", o.name),
        (false, false) => format!("--{} {meta}", o.name),
    }
}

/// `--help`, from the table: the options rsgi implements, then a count of
/// the others and where they are listed.
pub fn help_text() -> String {
    let mut out = format!(
        "rsgi {} — a uWSGI-compatible WSGI server\n\nUsage: rsgi [OPTIONS] [CONFIG FILE]\n\nEvery option is --name VALUE or --name=VALUE, and the same name is a key in ini, TOML, YAML and JSON files.\n\nOptions:\n",
        env!("CARGO_PKG_VERSION")
    );
    for o in OPTIONS.iter().filter(|o| o.support == Support::Implemented) {
        if o.kind == Kind::Logic {
            continue;
        }
        let mut flag = flag_text(o);
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
    let logic: Vec<&str> = OPTIONS
        .iter()
        .filter(|o| o.kind == Kind::Logic)
        .map(|o| o.name)
        .collect();
    let count = |f: fn(&Support) -> bool| OPTIONS.iter().filter(|o| f(&o.support)).count();
    out.push_str(&format!(
        "\nConfig logic (in files, as in uWSGI): {}.\n{} more uWSGI options are accepted with no effect and {} are refused with a reason; the README lists them all.\n",
        logic.join(", "),
        count(|s| matches!(s, Support::NoEffect(_))),
        count(|s| matches!(s, Support::Unsupported(_))),
    ));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The README's option lists, from the table: every option rsgi accepts
/// (implemented or with no effect) with its kind, then the refused ones
/// grouped by reason.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| option | short | aliases | repeats | kind | meaning |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for o in OPTIONS
        .iter()
        .filter(|o| !matches!(o.support, Support::Unsupported(_)))
    {
        let short = o.short.map(|c| format!("`-{c}`")).unwrap_or_default();
        let aliases = o
            .aliases
            .iter()
            .map(|a| format!("`--{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let repeats = if o.repeats { "yes" } else { "" };
        out.push_str(&format!(
            "| `{}` | {short} | {aliases} | {repeats} | {} | {} |\n",
            flag_text(o),
            o.support.label(),
            cell(o.meaning())
        ));
    }
    out.push_str("\nNot supported (an error that names the option and gives the reason):\n\n| reason | options |\n| --- | --- |\n");
    let mut reasons: Vec<&'static str> = Vec::new();
    for o in OPTIONS {
        if let Support::Unsupported(r) = o.support
            && !reasons.contains(&r)
        {
            reasons.push(r);
        }
    }
    for r in reasons {
        let names: Vec<String> = OPTIONS
            .iter()
            .filter(|o| o.support == Support::Unsupported(r))
            .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
            .map(|n| format!("`{n}`"))
            .collect();
        out.push_str(&format!("| {} | {} |\n", cell(r), names.join(" ")));
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

    /// Every row that is not implemented carries a reason, and every
    /// implemented row with a field parses through `Config::set`.
    #[test]
    fn every_row_is_sorted_into_a_kind() {
        for o in OPTIONS {
            match o.support {
                Support::Implemented if matches!(o.kind, Kind::Logic) => {}
                Support::Implemented => assert!(
                    !matches!(Config::default().set(o.name, "x"), Err(e) if e.starts_with("unknown option")),
                    "{} is implemented but has no field",
                    o.name
                ),
                Support::NoEffect(r) | Support::Unsupported(r) => {
                    assert!(!r.is_empty(), "{} has no reason", o.name)
                }
            }
        }
    }

    #[test]
    fn uwsgi_options_are_all_known() {
        // A sample across uWSGI's core, Python plugin and routers.
        for name in [
            "thunder-lock",
            "single-interpreter",
            "py-call-osafterfork",
            "offload-threads",
            "route-run",
            "subscribe-to",
            "fastrouter",
            "cache2",
            "spooler",
            "php-docroot",
            "static-map",
            "cheaper-busyness-max",
            "python-path",
            "python-autoreload",
        ] {
            assert!(find(name).is_some(), "{name} is unknown");
        }
        assert!(find("procesess").is_none());
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("procesess"), Some("processes"));
        assert_eq!(suggest("wsgi-fiel"), Some("wsgi-file"));
        assert_eq!(suggest("workerz"), Some("processes"));
        assert_eq!(suggest("process"), Some("processes"));
        assert_eq!(suggest("completely-unrelated"), None);
        assert_eq!(suggest(&"x".repeat(100_000)), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn readme_lists_every_option() {
        // The workspace root, two levels above this crate.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
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
