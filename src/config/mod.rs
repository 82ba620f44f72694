//! The config loader: command line, ini, TOML, YAML and environment into
//! one typed, validated [`Config`].
//!
//! - [`options`]: THE option table; `Config` is generated from it.
//! - [`value`]: typed values and their parsers.
//! - [`source`]: every source into ordered `(key, value, origin)` entries.
//! - [`formats`]: ini / TOML / YAML readers.
//! - [`placeholders`]: `%(key)`, `$(ENV)`, `%d %n %p %c %%`.
//! - [`error`]: errors that name their origin.

pub mod error;
pub mod formats;
pub mod options;
pub mod placeholders;
pub mod source;
pub mod value;

use std::process::ExitCode;

pub use error::{ConfigError, Origin};
pub use options::{Config, OPTIONS};
pub use source::Entry;
pub use value::{Address, Mount};

/// What rsgi was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Run,
    CheckConfig,
    Help,
    Version,
}

/// A loaded config, with the entries it came from (for `--check-config`).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub action: Action,
    pub entries: Vec<Entry>,
}

/// Load the config from `args` (without argv[0]) and the environment.
/// Re-runnable: SIGHUP calls it again with the same arguments.
pub fn load(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let mut collector = source::Collector::new(env);
    collector.read_env()?;
    collector.read_args(args)?;
    let mut config = Config::default();
    let mut entries = Vec::with_capacity(collector.entries.len());
    for entry in collector.entries {
        let Some(spec) = options::find(&entry.key) else {
            // A key a placeholder refers to is a variable, as in uWSGI.
            if collector.referenced.contains(&entry.key) {
                continue;
            }
            return Err(ConfigError::UnknownOption {
                origin: entry.origin.clone(),
                name: entry.key.clone(),
                suggestion: options::suggest(&entry.key).map(str::to_string),
            });
        };
        config
            .set(spec.name, &entry.value)
            .map_err(|reason| ConfigError::bad_value(&entry.origin, spec.name, reason))?;
        entries.push(Entry {
            key: spec.name.to_string(),
            ..entry
        });
    }
    if config.threads > 1 {
        config.enable_threads = true;
    }
    if let Some(format) = &config.log_format
        && let Err(reason) = crate::logformat::Template::parse(format)
    {
        let origin = entries
            .iter()
            .rev()
            .find(|e| e.key == "log-format")
            .map(|e| e.origin.clone());
        return Err(ConfigError::bad_value(
            &origin.unwrap_or(Origin::CommandLine),
            "log-format",
            reason,
        ));
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
    })
}

/// The merged model: every option that was set, its value and origin.
pub fn check_config_text(loaded: &Loaded) -> String {
    let mut out = String::new();
    for e in loaded
        .entries
        .iter()
        .filter(|e| options::find(&e.key).is_some_and(|o| o.kind == options::Kind::Include))
    {
        out.push_str(&format!("# loaded {} {}  ({})\n", e.key, e.value, e.origin));
    }
    let model = OPTIONS
        .iter()
        .filter(|o| !matches!(o.kind, options::Kind::Action | options::Kind::Include));
    for o in model {
        let origins: Vec<&Origin> = loaded
            .entries
            .iter()
            .filter(|e| e.key == o.name)
            .map(|e| &e.origin)
            .collect();
        let Some(last) = origins.last() else { continue };
        let values = loaded.config.show(o.name);
        if o.repeats {
            for (value, origin) in values.iter().zip(&origins) {
                out.push_str(&format!("{} = {value}  # {origin}\n", o.name));
            }
        } else if let Some(value) = values.first() {
            out.push_str(&format!("{} = {value}  # {last}\n", o.name));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use options::Kind;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// A value every kind accepts, and how it prints back.
    fn sample(kind: Kind) -> (&'static str, &'static str) {
        match kind {
            Kind::Bool | Kind::Action => ("true", "true"),
            Kind::Int => ("3", "3"),
            Kind::Size => ("64k", "65536"),
            Kind::Seconds => ("7", "7"),
            Kind::Address => ("127.0.0.1:9000", "127.0.0.1:9000"),
            Kind::Path => ("/tmp/x", "/tmp/x"),
            Kind::Text => ("word", "word"),
            Kind::Mode => ("660", "660"),
            Kind::Mount => ("/a=app.py", "/a=app.py"),
            Kind::Env => ("K=V", "K=V"),
            Kind::Include => ("", ""),
        }
    }

    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rsgi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Every option in the table parses from the CLI and from each file
    /// format: a new option is covered without a new test.
    #[test]
    fn every_option_parses_from_every_source() {
        for o in OPTIONS
            .iter()
            .filter(|o| !matches!(o.kind, Kind::Include | Kind::Action))
        {
            let (raw, shown) = sample(o.kind);
            let check = |loaded: Loaded, how: &str| {
                assert_eq!(
                    loaded.config.show(o.name).last().map(String::as_str),
                    Some(shown),
                    "{} from {how}",
                    o.name
                );
            };
            check(
                load(&args(&[&format!("--{}={raw}", o.name)]), &no_env).unwrap(),
                "--name=value",
            );
            if !o.kind.is_flag() {
                check(
                    load(&args(&[&format!("--{}", o.name), raw]), &no_env).unwrap(),
                    "--name value",
                );
            }
            if let Some(c) = o.short {
                let a = if o.kind.is_flag() {
                    args(&[&format!("-{c}")])
                } else {
                    args(&[&format!("-{c}"), raw])
                };
                check(load(&a, &no_env).unwrap(), "short flag");
            }
            let ini = temp(
                &format!("{}.ini", o.name),
                &format!("[uwsgi]\n{} = {raw}\n", o.name),
            );
            check(
                load(&args(&["--ini", &ini.to_string_lossy()]), &no_env).unwrap(),
                "ini",
            );
            let toml = temp(
                &format!("{}.toml", o.name),
                &format!("[uwsgi]\n\"{}\" = \"{raw}\"\n", o.name),
            );
            check(
                load(&args(&["--toml", &toml.to_string_lossy()]), &no_env).unwrap(),
                "toml",
            );
            let yaml = temp(
                &format!("{}.yaml", o.name),
                &format!("uwsgi:\n  {}: \"{raw}\"\n", o.name),
            );
            check(
                load(&args(&["--yaml", &yaml.to_string_lossy()]), &no_env).unwrap(),
                "yaml",
            );
            let var = format!("UWSGI_{}", o.name.to_ascii_uppercase().replace('-', "_"));
            let env = |k: &str| (k == var).then(|| raw.to_string());
            check(load(&[], &env).unwrap(), "env");
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
        let loaded = load(
            &args(&[
                "--env",
                "B=2",
                "--ini",
                &ini.to_string_lossy(),
                "-p",
                "5",
                "--env=C=3",
            ]),
            &env,
        )
        .unwrap();
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
        let loaded = load(&args(&[&outer.to_string_lossy()]), &no_env).unwrap();
        assert_eq!(
            loaded.config.chdir.as_deref(),
            Some(std::path::Path::new("/srv/app/src"))
        );
        assert_eq!(loaded.config.threads, 4);
        let dir = std::fs::canonicalize(outer.parent().unwrap()).unwrap();
        assert_eq!(loaded.config.touch_reload, [dir.join("reload.txt")]);
    }

    #[test]
    fn errors_name_their_origin() {
        let bad = temp("bad.ini", "[uwsgi]\n\nprocesses = four\n");
        let e = load(&args(&["--ini", &bad.to_string_lossy()]), &no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}:3: processes: expected a number, got \"four\"",
                bad.display()
            )
        );
        let typo = temp("typo.ini", "[uwsgi]\nprocesess = 2\n");
        let e = load(&args(&["--ini", &typo.to_string_lossy()]), &no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}:2: unknown option 'procesess' (did you mean 'processes'?)",
                typo.display()
            )
        );
        let e = load(&args(&["--procesess", "2"]), &no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "command line: unknown option '--procesess' (did you mean '--processes'?)"
        );
        let e = load(&args(&["--processes"]), &no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "command line: option '--processes' needs a value");
        let looped = temp("loop.ini", "");
        std::fs::write(&looped, format!("[uwsgi]\nini = {}\n", looped.display())).unwrap();
        assert!(matches!(
            load(&args(&[&looped.to_string_lossy()]), &no_env),
            Err(ConfigError::IncludeLoop { .. })
        ));
        assert!(matches!(
            load(&args(&["--ini", "/nonexistent.ini"]), &no_env),
            Err(ConfigError::Unreadable { .. })
        ));
        let env = |k: &str| (k == "UWSGI_PROCESSES").then(|| "x".to_string());
        let e = load(&[], &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "env UWSGI_PROCESSES: processes: expected a number, got \"x\""
        );
    }

    #[test]
    fn actions() {
        assert_eq!(
            load(&args(&["--help"]), &no_env).unwrap().action,
            Action::Help
        );
        assert_eq!(
            load(&args(&["--version"]), &no_env).unwrap().action,
            Action::Version
        );
        assert_eq!(
            load(&args(&["--check-config"]), &no_env).unwrap().action,
            Action::CheckConfig
        );
        assert_eq!(load(&[], &no_env).unwrap().action, Action::Run);
    }
}
