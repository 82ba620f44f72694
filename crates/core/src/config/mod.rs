//! The config loader: command line, ini, TOML, YAML, JSON and environment
//! into one typed, validated [`Config`], with uWSGI's rules for what it
//! does not know.
//!
//! - [`options`]: THE option table; `Config` is generated from it.
//! - [`value`]: typed values and their parsers.
//! - [`source`]: every source into ordered `(key, value, origin)` entries.
//! - [`formats`]: ini / TOML / YAML / JSON readers.
//! - [`placeholders`]: magic variables, `%(key)`, `$(ENV)`, `@(file)`.
//! - [`logic`]: `if-*` / `for*` blocks.
//! - [`plugins`]: `plugins = python3` and the plugins rsgi has built in.
//! - [`daemons`], [`hooks`], [`cron`]: attached daemons, start-up hooks and
//!   scheduled commands (with the schedule's matching).
//! - [`error`]: errors and warnings that name their origin.
//! - [`exported`]: the options as apps see them (`uwsgi.opt`).
//!
//! The rule for keys (uWSGI's): on the command line an unknown option is
//! an error; in files and `UWSGI_*` / `RSGI_*` variables it is kept as a
//! custom option and warned about, unless `strict` is on. Options rsgi
//! does not support are errors wherever they are. Every error of a run is
//! reported, not only the first.

pub mod apps;
pub mod cron;
pub mod daemons;
pub mod error;
pub mod exported;
pub mod formats;
pub mod hooks;
pub mod logic;
pub mod options;
pub mod placeholders;
pub mod plugins;
pub mod source;
pub mod value;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

pub use error::{ConfigError, Origin, Warning};
pub use options::{Config, OPTIONS, Support};
pub use source::Entry;
pub use value::{Address, CheaperAlgo, Mount};

impl Config {
    /// The file every process logs to, if not stderr. As in uWSGI
    /// (core/logging.c `uwsgi_setup_log`), `daemonize` takes precedence
    /// over `logto`; `daemonize2`'s file is taken once the app has loaded.
    pub fn log_file(&self) -> Option<&std::path::Path> {
        self.daemonize
            .as_deref()
            .or(self.daemonize2.as_deref())
            .or(self.logto.as_deref())
    }

    /// The loggers and routes, for [`crate::logger::install`].
    pub fn loggers(&self) -> crate::logger::Wanted<'_> {
        crate::logger::Wanted {
            loggers: &self.logger,
            routes: &self.log_route,
            req_loggers: &self.req_logger,
            req_routes: &self.log_req_route,
        }
    }
}

/// What rsgi was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Run,
    CheckConfig,
    Help,
    Version,
}

/// An option accepted with no effect, as first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The key as written.
    pub written: String,
    pub reason: &'static str,
    pub origin: Origin,
}

/// A loaded config, with what it came from (for `--check-config` and the
/// startup log).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub action: Action,
    /// The entries that set options (implemented or with no effect), under
    /// their canonical names, and custom options under theirs.
    pub entries: Vec<Entry>,
    /// The config files read, in order.
    pub files: Vec<PathBuf>,
    pub warnings: Vec<Warning>,
    /// Options accepted with no effect, once each.
    pub ignored: Vec<Ignored>,
}

impl Config {
    /// " (chdir at app.ini:3)" for the first of `options` (canonical
    /// names) that was set, else nothing: appended to an error found
    /// after loading, it names the line to fix.
    pub fn set_at(&self, options: &[&str]) -> String {
        options
            .iter()
            .find_map(|option| {
                self.origins
                    .iter()
                    .rev()
                    .find(|(name, _)| name == option)
                    .map(|(name, origin)| format!(" ({name} at {origin})"))
            })
            .unwrap_or_default()
    }
}

impl Loaded {
    /// The entry that asked for a socket at `address`, among the options
    /// that take addresses (`http-socket`, `socket`, `stats`, ...).
    pub fn origin_of_address(&self, address: &Address) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| {
            OPTIONS
                .iter()
                .any(|o| o.name == e.key && o.kind == options::Kind::Address)
                && value::address(&e.value).is_ok_and(|a| a == *address)
        })
    }
}

/// Set once a config was loaded in this process: later loads are reloads
/// (SIGHUP), which `if-reload` tells apart as uWSGI does.
static LOADED_BEFORE: AtomicBool = AtomicBool::new(false);

/// Load the config from `args` (without argv[0]) and the environment.
/// Re-runnable: SIGHUP calls it again with the same arguments.
pub fn load(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("UWSGI_") || k.starts_with("RSGI_"))
        .collect();
    load_with(args, env, &names)
}

/// [`load`], with the names of the environment's `UWSGI_*` / `RSGI_*`
/// variables given (their values come from `env`).
pub fn load_with(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[String],
) -> Result<Loaded, ConfigError> {
    let reload = LOADED_BEFORE.load(Ordering::Relaxed);
    let mut collector = source::Collector::new(env, reload);
    let read = collector
        .read_env(env_names)
        .and_then(|()| collector.read_args(args));
    if let Err(fatal) = read {
        collector.errors.push(fatal);
    }
    let loaded = type_entries(collector)?;
    LOADED_BEFORE.store(true, Ordering::Relaxed);
    Ok(loaded)
}

/// Turn the entries into the typed `Config`, sorting every key by kind.
fn type_entries(collector: source::Collector<'_>) -> Result<Loaded, ConfigError> {
    let source::Collector {
        entries: read,
        referenced,
        variables,
        files,
        mut warnings,
        mut errors,
        ..
    } = collector;
    let is = |e: &Entry, name: &str| options::find(&e.key).is_some_and(|o| o.name == name);
    let strict = read
        .iter()
        .rev()
        .find(|e| is(e, "strict"))
        .is_some_and(|e| value::boolean(value::strip_comment(&e.value)) == Ok(true));
    let mut config = Config {
        exported: exported::exported(&read, &variables),
        ..Config::default()
    };
    let mut entries = Vec::with_capacity(read.len());
    let mut ignored: Vec<Ignored> = Vec::new();
    // A `for` block repeats its keys: look for a key's suggestion once.
    let mut suggestions: HashMap<String, Option<&'static str>> = HashMap::new();
    let mut suggest = |key: &str| {
        *suggestions
            .entry(key.to_string())
            .or_insert_with(|| options::suggest(key))
    };
    for e in read {
        let Some(spec) = options::find(&e.key) else {
            let variable = referenced.contains(&e.key) || variables.contains(&e.key);
            if strict && !variables.contains(&e.key) {
                errors.push(ConfigError::UnknownOption {
                    origin: e.origin.clone(),
                    name: e.key.clone(),
                    suggestion: suggest(&e.key).map(str::to_string),
                });
            } else if !variable {
                let hint = suggest(&e.key)
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                warnings.push(Warning {
                    origin: e.origin.clone(),
                    message: format!("unknown option '{}' kept as a custom option{hint}", e.key),
                });
            }
            if !variable {
                config.custom_options.push((e.key.clone(), e.value.clone()));
                entries.push(e);
            }
            continue;
        };
        let raw = if spec.kind.is_scalar() {
            value::strip_comment(&e.value)
        } else {
            e.value.as_str()
        };
        let raw = match spec.bare {
            Some(bare) if raw.trim().is_empty() => bare,
            _ => raw,
        };
        match spec.support {
            Support::Implemented => {
                if spec.kind == options::Kind::Bool
                    && let Some(note) = value::boolean_note(raw)
                {
                    warnings.push(Warning {
                        origin: e.origin.clone(),
                        message: format!("{}: {note}", e.key),
                    });
                }
                if let Err(reason) = config.set(spec.name, raw) {
                    errors.push(ConfigError::bad_value(&e.origin, &e.key, reason));
                    continue;
                }
            }
            Support::NoEffect(reason) => {
                if spec.name == "plugins" {
                    for name in plugins::names(raw) {
                        if let Some(why) = plugins::refusal(&name) {
                            errors.push(ConfigError::bad_value(&e.origin, &e.key, why));
                        }
                    }
                }
                if !spec.is_off(raw)
                    && !ignored
                        .iter()
                        .any(|i| options::find(&i.written).is_some_and(|o| o.name == spec.name))
                {
                    ignored.push(Ignored {
                        written: e.key.clone(),
                        reason,
                        origin: e.origin.clone(),
                    });
                }
            }
            Support::Unsupported(reason) => {
                if !spec.is_off(raw) {
                    errors.push(ConfigError::Unsupported {
                        origin: e.origin.clone(),
                        name: e.key.clone(),
                        reason: reason.to_string(),
                    });
                    continue;
                }
            }
        }
        entries.push(Entry {
            key: spec.name.to_string(),
            ..e
        });
    }
    if config.threads > 1 {
        config.enable_threads = true;
    }
    // `protocol = http`: --socket serves HTTP (Sentry's UWSGI_PROTOCOL).
    if config.protocol.as_deref() == Some("http") {
        config.socket.clear();
        config.http_socket.clear();
        for e in entries
            .iter_mut()
            .filter(|e| e.key == "socket" || e.key == "http-socket")
        {
            e.key = "http-socket".into();
            // Each value was parsed once already.
            if let Ok(address) = value::address(&e.value) {
                config.http_socket.push(address);
            }
        }
    }
    if let Some(format) = &config.log_format {
        let origin = entries
            .iter()
            .rev()
            .find(|e| e.key == "log-format")
            .map_or(Origin::CommandLine, |e| e.origin.clone());
        match crate::logformat::Template::parse(format) {
            Err(reason) => errors.push(ConfigError::bad_value(&origin, "log-format", reason)),
            // Unknown names are the app's logvars, as in uWSGI; one that
            // looks like a typo of a variable is worth a word.
            Ok(template) => {
                for name in template.logvars() {
                    if let Some(var) = crate::logformat::Template::suggest(name) {
                        warnings.push(Warning {
                            origin: origin.clone(),
                            message: format!(
                                "log-format: %({name}) is not a log variable (did you mean %({var})?); \
                                 it shows what the app sets with uwsgi.set_logvar('{name}', ...)"
                            ),
                        });
                    }
                }
            }
        }
    }
    check_cheaper(&mut config, &entries, &mut errors, &mut warnings);
    config.origins = entries
        .iter()
        .map(|e| (e.key.clone(), e.origin.to_string()))
        .collect();
    if let Some(e) = ConfigError::from_all(errors) {
        return Err(e);
    }
    let action = if config.help {
        Action::Help
    } else if config.version {
        Action::Version
    } else if config.check_config {
        Action::CheckConfig
    } else {
        Action::Run
    };
    Ok(Loaded {
        config,
        action,
        entries,
        files,
        warnings,
        ignored,
    })
}

/// uWSGI's checks of the cheaper options (core/init.c): `cheaper` below
/// `processes`, the hard RSS limit only with the soft one; an initial
/// count outside [cheaper, processes] is brought inside it, with a warning.
fn check_cheaper(
    config: &mut Config,
    entries: &[Entry],
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) {
    let origin = |key: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map_or(Origin::CommandLine, |e| e.origin.clone())
    };
    if config.cheaper == 0 {
        return;
    }
    if config.cheaper >= config.processes {
        let reason = format!(
            "must be lower than processes ({}), the most workers it may run",
            config.processes
        );
        errors.push(ConfigError::bad_value(
            &origin("cheaper"),
            "cheaper",
            reason,
        ));
        return;
    }
    if config.cheaper_rss_limit_hard > 0 && config.cheaper_rss_limit_soft == 0 {
        let reason = "needs cheaper-rss-limit-soft too";
        errors.push(ConfigError::bad_value(
            &origin("cheaper-rss-limit-hard"),
            "cheaper-rss-limit-hard",
            reason,
        ));
    }
    let initial = config.cheaper_initial;
    let fixed = initial.clamp(config.cheaper, config.processes);
    if initial != 0 && fixed != initial {
        warnings.push(Warning {
            origin: origin("cheaper-initial"),
            message: format!(
                "cheaper-initial {initial} is outside cheaper..processes ({}..{}); starting {fixed} workers",
                config.cheaper, config.processes
            ),
        });
    }
    config.cheaper_initial = if initial == 0 { config.cheaper } else { fixed };
}

/// The merged model: every option that was set, its value and origin;
/// options with no effect and custom options marked as such; then the
/// warnings.
pub fn check_config_text(loaded: &Loaded) -> String {
    let mut out = format!(
        "# rsgi {}: the merged config
",
        env!("CARGO_PKG_VERSION")
    );
    for e in loaded
        .entries
        .iter()
        .filter(|e| options::find(&e.key).is_some_and(|o| o.kind == options::Kind::Include))
    {
        out.push_str(&format!(
            "# loaded {} {}  ({})
",
            e.key, e.value, e.origin
        ));
    }
    for o in OPTIONS
        .iter()
        .filter(|o| !matches!(o.kind, options::Kind::Action | options::Kind::Include))
    {
        let set: Vec<&Entry> = loaded.entries.iter().filter(|e| e.key == o.name).collect();
        let Some(last) = set.last() else { continue };
        match o.support {
            Support::Implemented => {
                let values = loaded.config.show(o.name);
                if o.repeats {
                    for (value, e) in values.iter().zip(&set) {
                        out.push_str(&format!(
                            "{} = {value}  # {}
",
                            o.name, e.origin
                        ));
                    }
                } else if let Some(value) = values.first() {
                    out.push_str(&format!(
                        "{} = {value}  # {}
",
                        o.name, last.origin
                    ));
                }
            }
            Support::NoEffect(reason) | Support::Unsupported(reason) => {
                for e in set {
                    let value = match o.bare {
                        Some(bare) if e.value.trim().is_empty() => bare,
                        _ => e.value.as_str(),
                    };
                    // A switch set to false asks for nothing (see OptionSpec::is_off).
                    let note = if o.is_off(value) {
                        "off".to_string()
                    } else {
                        format!("{}: {reason}", o.support.label())
                    };
                    out.push_str(&format!("{} = {value}  # {}; {note}\n", o.name, e.origin));
                }
            }
        }
    }
    for (key, value) in &loaded.config.custom_options {
        let origin = loaded
            .entries
            .iter()
            .find(|e| &e.key == key && &e.value == value)
            .map(|e| e.origin.to_string())
            .unwrap_or_default();
        out.push_str(&format!("{key} = {value}  # {origin}; custom option\n"));
    }
    for w in &loaded.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    out
}

/// Do a non-serving action; returns the exit status.
pub fn perform(loaded: &Loaded) -> ExitCode {
    match loaded.action {
        Action::Help => print!("{}", options::help_text()),
        Action::Version => println!("rsgi {}", env!("CARGO_PKG_VERSION")),
        Action::CheckConfig => print!("{}", check_config_text(loaded)),
        Action::Run => {}
    }
    ExitCode::SUCCESS
}

impl Config {
    /// What `ps` calls each process (auto-procname and the procname options).
    pub fn process_names(&self) -> crate::proctitle::Names {
        crate::proctitle::Names {
            auto: self.auto_procname,
            // uWSGI keeps one prefix; -spaced adds the space.
            prefix: self
                .procname_prefix_spaced
                .as_ref()
                .map(|p| format!("{p} "))
                .or_else(|| self.procname_prefix.clone()),
            append: self.procname_append.clone(),
            all: self.procname.clone(),
            master: self.procname_master.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use options::{Kind, OptionSpec};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn load_args(a: &[&str]) -> Result<Loaded, ConfigError> {
        load_with(&args(a), &no_env, &[])
    }

    /// A value every kind accepts, and how it prints back.
    fn sample(o: &OptionSpec) -> (&'static str, &'static str) {
        // Text options with a syntax of their own.
        match o.name {
            "static-map" | "static-map2" => return ("/s=/srv/s", "/s=/srv/s"),
            "static-expires-type" | "static-expires-type-mtime" => {
                return ("text/css=60", "text/css 60");
            }
            n if n.starts_with("static-expires") => return ("[.]css$ 60", "[.]css$ 60"),
            "smart-attach-daemon" | "smart-attach-daemon2" => {
                return ("/p uwsgi", "uwsgi (pidfile /p)");
            }
            "attach-daemon2" => return ("cmd=uwsgi", "uwsgi"),
            "cron" => return ("0 1 2 3 4 uwsgi", "0 1 2 3 4 uwsgi"),
            "unique-cron" => return ("0 1 2 3 4 uwsgi", "0 1 2 3 4 uwsgi (unique)"),
            "cron2" => return ("uwsgi", "-1 -1 -1 -1 -1 uwsgi"),
            n if n.starts_with("hook-") => return ("exec:uwsgi", "exec:uwsgi"),
            n if n.starts_with("exec-") => return ("uwsgi", "exec:uwsgi"),
            _ => {}
        }
        match o.kind {
            Kind::Bool | Kind::Action => ("true", "true"),
            Kind::Int => ("3", "3"),
            Kind::Size => ("64k", "65536"),
            Kind::Seconds => ("7", "7"),
            Kind::Address => ("127.0.0.1:9000", "127.0.0.1:9000"),
            Kind::Path => ("/tmp/x", "/tmp/x"),
            Kind::Text => ("uwsgi", "uwsgi"),
            Kind::Mode => ("660", "660"),
            Kind::Mount => ("/a=app.py", "/a=app.py"),
            Kind::Env => ("K=V", "K=V"),
            Kind::Header => ("X-A: b", "X-A: b"),
            Kind::Logger => ("errors file:/tmp/x", "errors file:/tmp/x"),
            Kind::Route => ("errors ^E", "errors ^E"),
            Kind::Include | Kind::Logic => ("", ""),
        }
    }

    /// Options whose text has a syntax of its own.
    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rsgi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn ini(name: &str, body: &str) -> String {
        temp(name, &format!("[uwsgi]\n{body}"))
            .display()
            .to_string()
    }

    /// As uWSGI's core/init.c: cheaper below processes, the hard RSS limit
    /// only with the soft one, cheaper-initial brought into range.
    #[test]
    fn cheaper_options_are_checked_as_uwsgi_does() {
        let loaded =
            load_args(&["--processes=4", "--cheaper=1", "--cheaper-algo=busyness"]).expect("valid");
        assert_eq!(loaded.config.cheaper_initial, 1, "defaults to cheaper");
        assert_eq!(loaded.config.cheaper_algo, CheaperAlgo::Busyness);
        let loaded =
            load_args(&["--processes=4", "--cheaper=2", "--cheaper-initial=9"]).expect("valid");
        assert_eq!(loaded.config.cheaper_initial, 4);
        assert!(loaded.warnings[0].message.contains("cheaper-initial 9"));
        for bad in [
            &["--processes=2", "--cheaper=2"][..],
            &["--cheaper=1"],
            &[
                "--processes=3",
                "--cheaper=1",
                "--cheaper-rss-limit-hard=1M",
            ],
            &["--cheaper-algo=spare2"],
        ] {
            assert!(load_args(bad).is_err(), "{bad:?}");
        }
    }

    /// Every implemented option parses from the CLI, from each file format
    /// and from `UWSGI_<NAME>` for its name and every alias: a new option
    /// is covered without a new test.
    #[test]
    fn every_option_parses_from_every_source() {
        // Checked against other options, or a word list: their own tests.
        let own_test = ["cheaper", "cheaper-algo"];
        for o in OPTIONS.iter().filter(|o| {
            o.support == Support::Implemented
                && !matches!(o.kind, Kind::Include | Kind::Action | Kind::Logic)
                && !own_test.contains(&o.name)
        }) {
            let (raw, shown) = sample(o);
            let check = |loaded: Loaded, how: &str| {
                assert_eq!(
                    loaded.config.show(o.name).last().map(String::as_str),
                    Some(shown),
                    "{} from {how}",
                    o.name
                );
            };
            check(
                load_args(&[&format!("--{}={raw}", o.name)]).unwrap(),
                "--name=value",
            );
            if o.kind != Kind::Bool {
                check(
                    load_args(&[&format!("--{}", o.name), raw]).unwrap(),
                    "--name value",
                );
            }
            if let Some(c) = o.short {
                let a = if o.kind == Kind::Bool {
                    args(&[&format!("-{c}")])
                } else {
                    args(&[&format!("-{c}"), raw])
                };
                check(load_with(&a, &no_env, &[]).unwrap(), "short flag");
            }
            let ini = temp(
                &format!("{}.ini", o.name),
                &format!("[uwsgi]\n{} = {raw}\n", o.name),
            );
            check(
                load_args(&["--ini", &ini.to_string_lossy()]).unwrap(),
                "ini",
            );
            let toml = temp(
                &format!("{}.toml", o.name),
                &format!("[uwsgi]\n\"{}\" = \"{raw}\"\n", o.name),
            );
            check(
                load_args(&["--toml", &toml.to_string_lossy()]).unwrap(),
                "toml",
            );
            let yaml = temp(
                &format!("{}.yaml", o.name),
                &format!("uwsgi:\n  {}: \"{raw}\"\n", o.name),
            );
            check(
                load_args(&["--yaml", &yaml.to_string_lossy()]).unwrap(),
                "yaml",
            );
            let json = temp(
                &format!("{}.json", o.name),
                &format!("{{\"uwsgi\": {{\"{}\": \"{raw}\"}}}}", o.name),
            );
            check(
                load_args(&["--json", &json.to_string_lossy()]).unwrap(),
                "json",
            );
            for name in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
                let var = format!("UWSGI_{}", name.to_ascii_uppercase().replace('-', "_"));
                let env = |k: &str| (k == var).then(|| raw.to_string());
                check(load_with(&[], &env, &[]).unwrap(), &var);
            }
        }
    }

    #[test]
    fn later_sources_win_and_lists_accumulate() {
        let ini = temp("merge.ini", "[uwsgi]\nprocesses = 2\nenv = A=1\n");
        let env = |k: &str| match k {
            "UWSGI_PROCESSES" => Some("9".to_string()),
            "UWSGI_THREADS" => Some("3".to_string()),
            _ => None,
        };
        let a = args(&[
            "--env",
            "B=2",
            "--ini",
            &ini.to_string_lossy(),
            "-p",
            "5",
            "--env=C=3",
        ]);
        let loaded = load_with(&a, &env, &[]).unwrap();
        assert_eq!(loaded.config.processes, 5);
        assert_eq!(loaded.config.threads, 3, "env sits under everything");
        assert!(
            loaded.config.enable_threads,
            "threads > 1 implies enable-threads"
        );
        let envs: Vec<_> = loaded.config.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(envs, ["B", "A", "C"]);
    }

    #[test]
    fn includes_placeholders_and_custom_variables() {
        let inner = temp("inner.toml", "[uwsgi]\nthreads = 4\n");
        let outer = temp(
            "outer.ini",
            &format!(
                "[uwsgi]\nbase = /srv/app\nchdir = %(base)/src\ntoml = {}\ntouch-reload = %dreload.txt\n",
                inner.display()
            ),
        );
        let loaded = load_args(&[&outer.to_string_lossy()]).unwrap();
        assert_eq!(
            loaded.config.chdir.as_deref(),
            Some(std::path::Path::new("/srv/app/src"))
        );
        assert_eq!(loaded.config.threads, 4);
        let dir = std::fs::canonicalize(outer.parent().unwrap()).unwrap();
        assert_eq!(loaded.config.touch_reload, [dir.join("reload.txt")]);
        assert!(
            loaded.warnings.is_empty(),
            "base is a variable: {:?}",
            loaded.warnings
        );
        assert!(loaded.config.custom_options.is_empty());
        assert_eq!(loaded.files.len(), 2);
    }

    /// uWSGI's rule: an unknown key in a file or the environment is a
    /// custom option, warned about with its origin and the closest name.
    #[test]
    fn unknown_keys_are_kept_as_custom_options() {
        let f = ini("custom.ini", "procesess = 2\nmy-flag = on\n");
        let env = |k: &str| (k == "UWSGI_APP_COLOR").then(|| "blue".to_string());
        let loaded = load_with(&args(&[&f]), &env, &["UWSGI_APP_COLOR".into()]).unwrap();
        assert_eq!(
            loaded.config.custom_options,
            [
                ("app-color".to_string(), "blue".to_string()),
                ("procesess".to_string(), "2".to_string()),
                ("my-flag".to_string(), "on".to_string())
            ]
        );
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            warnings,
            [
                "env UWSGI_APP_COLOR: unknown option 'app-color' kept as a custom option"
                    .to_string(),
                format!(
                    "{f}:2: unknown option 'procesess' kept as a custom option (did you mean 'processes'?)"
                ),
                format!("{f}:3: unknown option 'my-flag' kept as a custom option"),
            ]
        );
        let text = check_config_text(&loaded);
        assert!(
            text.contains(&format!("procesess = 2  # {f}:2; custom option")),
            "{text}"
        );
        assert!(text.contains("# warning: "), "{text}");
        // The command line stays strict, as in uWSGI.
        let e = load_args(&["--procesess", "2"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "command line: unknown option '--procesess' (did you mean '--processes'?)"
        );
    }

    /// `uwsgi.opt`: every key as written, with placeholders expanded,
    /// custom keys and repeats kept; a bare switch on the command line is
    /// uWSGI's valueless option; `set-placeholder` and its names are config
    /// logic, not options.
    #[test]
    fn set_at_names_the_line_of_the_value_in_force() {
        let f = ini("origins.ini", "chdir = /a\nmodule = app\nchdir = /b\n");
        let loaded = load_args(&["--ini", &f]).expect("loads");
        let c = &loaded.config;
        assert_eq!(c.set_at(&["chdir"]), format!(" (chdir at {f}:4)"));
        assert_eq!(
            c.set_at(&["wsgi-file", "module"]),
            format!(" (module at {f}:3)")
        );
        assert_eq!(c.set_at(&["pidfile"]), "");
    }

    #[test]
    fn options_are_exported_as_written() {
        let f = ini(
            "exported.ini",
            "workers = 2\nsocket = /tmp/a.sock\nset-placeholder = base=/srv\nmy-root = %(base)/app\nsocket = /tmp/b.sock\n",
        );
        let loaded = load_args(&["--master", "--ini", &f]).unwrap();
        let some = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
        assert_eq!(
            loaded.config.exported,
            [
                ("master".to_string(), None),
                some("ini", &f),
                some("workers", "2"),
                some("socket", "/tmp/a.sock"),
                some("my-root", "/srv/app"),
                some("socket", "/tmp/b.sock"),
            ]
        );
    }

    /// `strict = true`: every unknown key is an error, all in one run.
    #[test]
    fn strict_reports_every_unknown_key_at_once() {
        let f = ini(
            "strict.ini",
            "strict = true\nprocesess = 2\nthreds = 4\nbase = /srv\nchdir = %(base)\n",
        );
        let e = load_args(&[&f]).unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(
            lines[0].ends_with(":3: unknown option 'procesess' (did you mean 'processes'?)"),
            "{e}"
        );
        assert!(
            lines[1].ends_with(":4: unknown option 'threds' (did you mean 'threads'?)"),
            "{e}"
        );
        assert!(
            lines[2].ends_with(":5: unknown option 'base'"),
            "placeholders are options too: {e}"
        );
        let ok = ini(
            "strict-ok.ini",
            "strict = true\nset-placeholder = base=/srv\nchdir = %(base)\n",
        );
        let loaded = load_args(&[&ok]).unwrap();
        assert_eq!(
            loaded.config.chdir.as_deref(),
            Some(std::path::Path::new("/srv"))
        );
    }

    /// Every option uWSGI has is known: those with no effect are accepted
    /// and noted once with their reason; those rsgi does not support are
    /// errors, all listed in one run; a switch set to false asks for
    /// nothing and is accepted.
    #[test]
    fn options_are_sorted_into_three_kinds() {
        let f = ini(
            "kinds.ini",
            "thunder-lock = true\nthunder-lock = true\nsingle-interpreter\nplugins = python3,http\nexit-on-reload = false\nroute-run = fixpathinfo:\nsubscribe-to = /tmp/s:app\ncheck-static-docroot = true\n",
        );
        let e = load_args(&[&f]).unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(lines[0].ends_with(":7: 'route-run' is not supported: uWSGI's internal routing is not in rsgi; route in nginx or in the app"), "{e}");
        assert!(
            lines[1].contains(":8: 'subscribe-to' is not supported"),
            "{e}"
        );
        assert!(
            lines[2].contains(
                ":9: 'check-static-docroot' is not supported: not implemented in rsgi yet"
            ),
            "{e}"
        );
        let ok = ini(
            "noop.ini",
            "thunder-lock = true\nthunder-lock = true\nsingle-interpreter\nplugins = python3,http\nexit-on-reload = false\n",
        );
        let loaded = load_args(&[&ok]).unwrap();
        let ignored: Vec<&str> = loaded.ignored.iter().map(|i| i.written.as_str()).collect();
        assert_eq!(
            ignored,
            ["thunder-lock", "single-interpreter", "plugins"],
            "once each"
        );
        assert!(loaded.ignored[0].reason.contains("accept lock"));
        let text = check_config_text(&loaded);
        assert!(
            text.contains("; no effect: each rsgi worker runs one interpreter"),
            "{text}"
        );
    }

    /// Every option with no effect loads, from a file and the command
    /// line, and is reported once with its reason.
    #[test]
    fn every_no_effect_option_is_accepted_with_its_reason() {
        for o in OPTIONS
            .iter()
            .filter(|o| matches!(o.support, Support::NoEffect(_)))
        {
            let value = if o.name == "plugins" { "python3" } else { "1" };
            let f = ini(
                &format!("noop-{}.ini", o.name),
                &format!("{} = {value}\n", o.name),
            );
            for a in [vec![f.clone()], vec![format!("--{}={value}", o.name)]] {
                let loaded = load_with(&a, &no_env, &[])
                    .unwrap_or_else(|e| panic!("{} = {value}: {e}", o.name));
                assert_eq!(loaded.ignored.len(), 1, "{}", o.name);
                assert_eq!(
                    Some(loaded.ignored[0].reason),
                    o.support.reason(),
                    "{}",
                    o.name
                );
            }
        }
    }

    /// Every option rsgi does not support is an error that names it and
    /// gives its reason.
    #[test]
    fn every_unsupported_option_is_refused_with_its_reason() {
        for o in OPTIONS
            .iter()
            .filter(|o| matches!(o.support, Support::Unsupported(_)))
        {
            let f = ini(&format!("no-{}.ini", o.name), &format!("{} = 1\n", o.name));
            let e = load_args(&[&f]).unwrap_err().to_string();
            let reason = o.support.reason().unwrap_or_default();
            assert!(
                e.ends_with(&format!(":2: '{}' is not supported: {reason}", o.name)),
                "{}: {e}",
                o.name
            );
        }
    }

    #[test]
    fn plugins_other_than_python_are_errors() {
        let f = ini("php.ini", "plugins = python3, php\nplugin = gevent\n");
        let e = load_args(&[&f]).unwrap_err().to_string();
        assert!(
            e.contains(
                ":2: plugins: 'php' is not a Python plugin; rsgi serves Python WSGI apps only"
            ),
            "{e}"
        );
        assert!(
            e.contains(":3: plugin: 'gevent' is one of uWSGI's async loop engines"),
            "{e}"
        );
    }

    /// `UWSGI_<alias>` means the option (Sentry sets UWSGI_WORKERS, Wagtail
    /// UWSGI_VIRTUALENV).
    #[test]
    fn env_aliases_set_the_option() {
        let env = |k: &str| match k {
            "UWSGI_WORKERS" => Some("3".to_string()),
            "UWSGI_VIRTUALENV" => Some("/venv".to_string()),
            "UWSGI_PYTHON_PATH" => Some("/srv/lib".to_string()),
            "UWSGI_HTTP_KEEPALIVE" => Some("1".to_string()),
            "UWSGI_PROTOCOL" => Some("http".to_string()),
            "UWSGI_SOCKET" => Some("127.0.0.1:9000".to_string()),
            _ => None,
        };
        let loaded = load_with(&[], &env, &[]).unwrap();
        let c = &loaded.config;
        assert_eq!(c.processes, 3);
        assert_eq!(c.home.as_deref(), Some(std::path::Path::new("/venv")));
        assert_eq!(c.pythonpath, [std::path::PathBuf::from("/srv/lib")]);
        assert_eq!(c.http_keepalive, std::time::Duration::from_secs(15));
        assert!(
            c.socket.is_empty(),
            "protocol = http serves --socket as HTTP"
        );
        assert_eq!(c.http_socket[0].to_string(), "127.0.0.1:9000");
    }

    #[test]
    fn value_forms_uwsgi_accepts() {
        let f = ini(
            "forms.ini",
            "enable-threads = 4\nprocesses = 4   # one per core\nlog-4xx = true        # but log 4xx's anyway\npost-buffering = true\nvacuum = false # comment\nhttp-keepalive\nmaster = maybe\n",
        );
        let loaded = load_args(&[&f]).unwrap();
        let c = &loaded.config;
        assert!(c.enable_threads);
        assert_eq!(c.processes, 4);
        assert!(c.log_4xx);
        assert_eq!(c.post_buffering, 0);
        assert!(!c.vacuum);
        assert_eq!(c.http_keepalive, std::time::Duration::from_secs(15));
        assert!(c.master);
        assert!(
            loaded.warnings[0]
                .message
                .contains("master: \"maybe\" is taken as true"),
            "{:?}",
            loaded.warnings
        );
        let bare = load_args(&["--http-keepalive", "--threads", "2"]).unwrap();
        assert_eq!(bare.config.threads, 2);
        let e = load_args(&["--socket", "--processes", "4"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("command line: option '--socket' needs a value, but the option '--processes' follows it"), "{e}");
    }

    #[test]
    fn blocks_and_magic_variables_in_files() {
        let f = ini(
            "blocks.ini",
            "if-env = RSGI_TEST_PORT\nhttp-socket = :%(_)\nendif =\nif-not-env = RSGI_TEST_NOPE\nprocesses = %k\nendif =\nfor = /a /b\ntouch-reload = %(_)/reload\nendfor =\nif-exists = /nonexistent\nthreads = 9\nendif =\nchdir = %d\n",
        );
        let env = |k: &str| (k == "RSGI_TEST_PORT").then(|| "8181".to_string());
        let loaded = load_with(&args(&[&f]), &env, &[]).unwrap();
        let c = &loaded.config;
        assert_eq!(c.http_socket[0].to_string(), "0.0.0.0:8181");
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } as usize;
        assert_eq!(c.processes, cpus);
        assert_eq!(
            c.touch_reload,
            [std::path::PathBuf::from("/a/reload"), "/b/reload".into()]
        );
        assert_eq!(c.threads, 1);
        assert!(c.chdir.as_ref().unwrap().to_string_lossy().ends_with('/'));
        let bad = ini(
            "magic.ini",
            "log-format = %(method) %Y\nprocesses = 2\nthreads = %Q\n",
        );
        let e = load_args(&[&bad]).unwrap_err().to_string();
        assert_eq!(e.lines().count(), 2, "{e}");
        assert!(
            e.contains(":2: log-format: %Y is not a magic variable"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_their_origin() {
        let bad = temp("bad.ini", "[uwsgi]\n\nworkers = four\n");
        let e = load_args(&["--ini", &bad.to_string_lossy()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}:3: workers: expected a number, got \"four\"",
                bad.display()
            ),
            "the key as the user wrote it"
        );
        let e = load_args(&["--processes"]).unwrap_err().to_string();
        assert_eq!(e, "command line: option '--processes' needs a value");
        let looped = temp("loop.ini", "");
        std::fs::write(&looped, format!("[uwsgi]\nini = {}\n", looped.display())).unwrap();
        assert!(matches!(
            load_args(&[&looped.to_string_lossy()]),
            Err(ConfigError::IncludeLoop { .. })
        ));
        let outer = ini(
            "includer.ini",
            "processes = 2\nini = /nonexistent/other.ini\n",
        );
        let e = load_args(&[&outer]).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{outer}:3: cannot read config file /nonexistent/other.ini"
            )),
            "{e}"
        );
        let env = |k: &str| (k == "UWSGI_PROCESSES").then(|| "x".to_string());
        let e = load_with(&[], &env, &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "env UWSGI_PROCESSES: processes: expected a number, got \"x\""
        );
    }

    /// Found with the config fuzz target: a file of a few hundred bytes
    /// took all memory (values that double each line; a block that
    /// repeats options past any size). Each is an error, at once.
    #[test]
    fn a_config_cannot_grow_without_bound() {
        let doubling: String = (1..=40)
            .map(|i| format!("a{i} = %(a{})%(a{})\n", i - 1, i - 1))
            .collect();
        let doubling = ini(
            "doubling.ini",
            &format!("a0 = xxxxxxxxxxxxxxxx\n{doubling}"),
        );
        let e = load_args(&["--ini", &doubling]).unwrap_err().to_string();
        assert!(
            e.contains(":19: a17: with its placeholders expanded the value passes 1 MiB"),
            "{e}"
        );

        let block = format!(
            "big = {}\nfor-times = 10000\na = %(big)\nendfor =\n",
            "x".repeat(60_000)
        );
        let block = ini("block.ini", &block);
        let e = load_args(&["--ini", &block]).unwrap_err().to_string();
        assert!(e.contains(":4: a: the config's options pass 64 MiB"), "{e}");
    }

    /// Found by the config fuzz target: 800 bytes took more than a minute
    /// to load, a `for-times` block repeating unknown keys of a few hundred
    /// bytes, each compared with every option name for a suggestion.
    #[test]
    fn unknown_keys_cost_little_however_long_or_repeated() {
        let key = "k".repeat(1000);
        let config = ini(
            "unknown-keys.ini",
            &format!("for-times = 1000\n{key} = 1\nprocesess = 2\n"),
        );
        let started = std::time::Instant::now();
        let loaded = load_args(&["--ini", &config]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let hinted = |hint: &str| {
            loaded
                .warnings
                .iter()
                .filter(|w| w.message.contains(hint))
                .count()
        };
        assert_eq!(hinted("kept as a custom option"), 2000);
        assert_eq!(hinted("(did you mean 'processes'?)"), 1000);
    }

    /// Found by the config fuzz target: in a block of a few thousand
    /// entries each `%(option)` searched the option table once per earlier
    /// entry; under 1 KiB of config took 14 s.
    #[test]
    fn placeholders_in_a_long_block_cost_little() {
        let config = ini(
            "long-block.ini",
            "workers = 3\nfor-times = 3000\nmy-key = %(_):%(processes)\nendfor =\n",
        );
        let started = std::time::Instant::now();
        let loaded = load_args(&["--ini", &config]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let custom = &loaded.config.custom_options;
        assert_eq!(custom.len(), 3000);
        assert_eq!(custom[2999], ("my-key".into(), "3000:3".into()));
    }

    #[test]
    fn actions() {
        assert_eq!(load_args(&["--help"]).unwrap().action, Action::Help);
        assert_eq!(load_args(&["--version"]).unwrap().action, Action::Version);
        assert_eq!(
            load_args(&["--check-config"]).unwrap().action,
            Action::CheckConfig
        );
        assert_eq!(load_args(&[]).unwrap().action, Action::Run);
    }
}
