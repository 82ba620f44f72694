//! Reading every config source into one ordered list of entries
//! `(key, value, origin)`: environment variables first (lowest
//! precedence), then the command line in order, with config files
//! expanded at the point they are named (and files they include, at the
//! point of the include).
//!
//! As each entry is added: magic variables are replaced (files only),
//! config logic runs (`if-*`, `for`, `set`, `print`), and placeholders are
//! expanded, so `%(key)` sees what was set before it, as in uWSGI.
//! Problems that do not stop the reading are collected, so one run
//! reports them all.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Origin, Warning};
use super::logic::{self, Block, Facts};
use super::options::{self, Kind, OPTIONS, OptionSpec};
use super::placeholders::{self, Globals, Magic, Scope};

/// One setting as read, before typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (an option name, alias, or a custom key).
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// The file formats rsgi reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ini,
    Toml,
    Yaml,
    Json,
}

/// Environment variables uWSGI sets for itself, which are not options
/// (core/uwsgi.c skips the same ones), and rsgi's own.
const INTERNAL_ENV: [&str; 10] = [
    "UWSGI_RELOADS",
    "UWSGI_VASSALS_DIR",
    "UWSGI_EMPEROR_FD",
    "UWSGI_BROODLORD_NUM",
    "UWSGI_EMPEROR_FD_CONFIG",
    "UWSGI_EMPEROR_PROXY",
    "UWSGI_JAIL_PID",
    "UWSGI_ORIGINAL_PROC_NAME",
    crate::ipc::handoff::ENV,
    crate::ipc::VASSAL_ENV,
];

/// The most the entries of one config may hold, in bytes.
const MAX_ENTRIES_SIZE: usize = 64 << 20;

/// Collects entries; owns include-loop detection, the open block and
/// placeholder state.
pub struct Collector<'e> {
    pub entries: Vec<Entry>,
    /// Keys some `%(key)` referred to: such keys are variables.
    pub referenced: HashSet<String>,
    /// Names set with `set-placeholder`: variables, never options.
    pub variables: HashSet<String>,
    /// The config files read, in order.
    pub files: Vec<PathBuf>,
    pub warnings: Vec<Warning>,
    /// Errors that did not stop the reading.
    pub errors: Vec<ConfigError>,
    env: &'e dyn Fn(&str) -> Option<String>,
    stack: Vec<PathBuf>,
    block: Option<Block>,
    globals: Globals,
    first_magic: Option<Magic>,
    reload: bool,
    /// What the entries hold so far (see [`MAX_ENTRIES_SIZE`]).
    size: usize,
}

impl<'e> Collector<'e> {
    /// `reload`: this load re-reads a config (SIGHUP), for `if-reload`.
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>, reload: bool) -> Collector<'e> {
        Collector {
            entries: Vec::new(),
            referenced: HashSet::new(),
            variables: HashSet::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            env,
            stack: Vec::new(),
            block: None,
            globals: Globals::of_this_process(),
            first_magic: None,
            reload,
            size: 0,
        }
    }

    /// `UWSGI_<KEY>` and `RSGI_<KEY>` (RSGI_ read last, so it wins): every
    /// name and alias of the table, and any other such variable in
    /// `names` (the process environment), which becomes a custom option
    /// as in uWSGI.
    pub fn read_env(&mut self, names: &[String]) -> Result<(), ConfigError> {
        let mut vars: Vec<String> = Vec::new();
        for prefix in ["UWSGI_", "RSGI_"] {
            let mut these: Vec<String> = OPTIONS
                .iter()
                .filter(|o| o.kind != Kind::Action)
                .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
                .map(|n| format!("{prefix}{}", n.to_ascii_uppercase().replace('-', "_")))
                .chain(names.iter().filter(|n| n.starts_with(prefix)).cloned())
                .filter(|n| !INTERNAL_ENV.contains(&n.as_str()) && n.len() > prefix.len())
                .collect();
            these.sort();
            these.dedup();
            vars.extend(these);
        }
        for var in vars {
            if let Some(value) = (self.env)(&var) {
                let (_, rest) = var.split_once('_').unwrap_or(("", &var));
                let key = rest.to_ascii_lowercase().replace('_', "-");
                self.add(key, value, Origin::Env(var), None)?;
            }
        }
        Ok(())
    }

    /// The command line, in order. An unknown option is an error here (as
    /// in uWSGI), collected with the others.
    pub fn read_args(&mut self, args: &[String]) -> Result<(), ConfigError> {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let (spec, written, inline) = if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let Some(spec) = options::find(name) else {
                    self.errors.push(ConfigError::UnknownOption {
                        origin: Origin::CommandLine,
                        name: format!("--{name}"),
                        suggestion: options::suggest(name).map(|s| format!("--{s}")),
                    });
                    // Its value, if it has one, is not a config file.
                    if inline.is_none() && args.get(i).is_some_and(|n| !n.starts_with('-')) {
                        i += 1;
                    }
                    continue;
                };
                (spec, name.to_string(), inline)
            } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                let mut chars = short.chars();
                let c = chars.next().unwrap_or('-');
                let Some(spec) = options::find_short(c) else {
                    self.errors.push(ConfigError::UnknownOption {
                        origin: Origin::CommandLine,
                        name: format!("-{c}"),
                        suggestion: None,
                    });
                    continue;
                };
                let rest: String = chars.collect();
                (
                    spec,
                    spec.name.to_string(),
                    (!rest.is_empty()).then_some(rest),
                )
            } else {
                // `rsgi app.ini`: a bare config file.
                self.add("config".into(), arg.clone(), Origin::CommandLine, None)?;
                continue;
            };
            let value = match inline {
                Some(v) => v,
                None => match take_value(spec, args.get(i).map(String::as_str)) {
                    Take::Bare(v) => v.to_string(),
                    Take::Next => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    Take::Missing(next) => {
                        self.errors.push(ConfigError::MissingValue {
                            origin: Origin::CommandLine,
                            name: arg.split('=').next().unwrap_or(arg).to_string(),
                            next,
                        });
                        continue;
                    }
                },
            };
            self.add(written, value, Origin::CommandLine, None)?;
        }
        Ok(())
    }

    /// Add one entry as read, through the open block if any.
    fn add(
        &mut self,
        key: String,
        raw: String,
        origin: Origin,
        file: Option<&Path>,
    ) -> Result<(), ConfigError> {
        if key == "end" || options::find(&key).is_some_and(|o| logic::is_close(o.name)) {
            self.block = None;
            return Ok(());
        }
        let Some(block) = self.block.take() else {
            return self.process(key, raw, origin, file);
        };
        for value in block.apply(&raw) {
            self.process(key.clone(), value, origin.clone(), file)?;
        }
        // A block opened inside this one replaced it; else it stays open.
        if self.block.is_none() {
            self.block = Some(block);
        }
        Ok(())
    }

    /// One key and value: config logic runs, anything else becomes an
    /// entry (and an include loads its file).
    fn process(
        &mut self,
        key: String,
        raw: String,
        origin: Origin,
        file: Option<&Path>,
    ) -> Result<(), ConfigError> {
        let spec = options::find(&key);
        if key == "lazy" {
            self.warnings.push(Warning {
                origin: origin.clone(),
                message:
                    "'lazy' is uWSGI's older spelling of 'lazy-apps'; rsgi treats it as lazy-apps"
                        .into(),
            });
        }
        let Some(value) = self.expand(&key, &raw, &origin) else {
            return Ok(());
        };
        if let Some(spec) = spec.filter(|s| s.kind == Kind::Logic) {
            return self.logic(spec, &key, value, origin, file);
        }
        let include = spec.filter(|o| o.kind == Kind::Include).map(|o| o.name);
        self.push_entry(Entry {
            key,
            value: value.clone(),
            origin: origin.clone(),
        })?;
        if let Some(kind) = include {
            let base = file.and_then(Path::parent);
            self.include(kind, &value, &origin, base)?;
        }
        Ok(())
    }

    /// Keep an entry, within [`MAX_ENTRIES_SIZE`] for them all: blocks
    /// repeat options and values repeat values, so a small file can ask
    /// for more than any memory.
    fn push_entry(&mut self, entry: Entry) -> Result<(), ConfigError> {
        self.size += std::mem::size_of::<Entry>() + entry.key.len() + entry.value.len();
        if self.size > MAX_ENTRIES_SIZE {
            return Err(ConfigError::bad_value(
                &entry.origin,
                &entry.key,
                format!(
                    "the config's options pass {} MiB (a block or placeholders repeat too much)",
                    MAX_ENTRIES_SIZE >> 20
                ),
            ));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Placeholders in a value; a value that cannot be expanded is an
    /// error, collected.
    fn expand(&mut self, key: &str, raw: &str, origin: &Origin) -> Option<String> {
        let scope = Scope {
            earlier: &self.entries,
            env: self.env,
        };
        match placeholders::expand(raw, &scope, &mut self.referenced) {
            Ok(expanded) => {
                self.warnings
                    .extend(expanded.warnings.into_iter().map(|message| Warning {
                        origin: origin.clone(),
                        message: format!("{key}: {message}"),
                    }));
                Some(expanded.value)
            }
            Err(reason) => {
                self.errors
                    .push(ConfigError::bad_value(origin, key, reason));
                None
            }
        }
    }

    /// `set`, `set-placeholder`, `print` and the block openers.
    fn logic(
        &mut self,
        spec: &OptionSpec,
        key: &str,
        value: String,
        origin: Origin,
        file: Option<&Path>,
    ) -> Result<(), ConfigError> {
        match spec.name {
            "set" | "set-placeholder" => {
                let Some((name, v)) = value.split_once('=') else {
                    self.errors.push(ConfigError::bad_value(
                        &origin,
                        key,
                        format!("expected NAME=VALUE, got {value:?}"),
                    ));
                    return Ok(());
                };
                let name = name.trim().to_string();
                if spec.name == "set" {
                    // uWSGI's `set`: a placeholder or an option.
                    return self.process(name, v.to_string(), origin, file);
                }
                if options::find(&name).is_some() {
                    self.errors.push(ConfigError::bad_value(
                        &origin,
                        key,
                        format!(
                            "'{name}' is an option, not a placeholder name (use set to set it)"
                        ),
                    ));
                    return Ok(());
                }
                self.variables.insert(name.clone());
                self.push_entry(Entry {
                    key: name,
                    value: v.to_string(),
                    origin,
                })?;
            }
            // uWSGI prints these as it reads the config.
            "print" => crate::logfile::STDERR.write(format!("{value}\n").as_bytes()),
            opener => {
                let entries = &self.entries;
                let option = |name: &str| {
                    let canonical = options::find(name).map(|o| o.name);
                    entries
                        .iter()
                        .rev()
                        .find(|e| {
                            e.key == name
                                || (canonical.is_some()
                                    && options::find(&e.key).map(|o| o.name) == canonical)
                        })
                        .map(|e| e.value.clone())
                };
                let hostname = self.globals.hostname();
                let facts = Facts {
                    env: self.env,
                    option: &option,
                    reload: self.reload,
                    hostname: &hostname,
                };
                match logic::open(opener, &value, &facts) {
                    Ok(block) => self.block = Some(block),
                    Err(reason) => self
                        .errors
                        .push(ConfigError::bad_value(&origin, key, reason)),
                }
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        kind: &str,
        spec: &str,
        origin: &Origin,
        base: Option<&Path>,
    ) -> Result<(), ConfigError> {
        let (path, section) = split_section(spec);
        // %o: the file as named, without its section (uWSGI reads the file
        // with the section cut off).
        let named = path.display().to_string();
        let path = match base {
            Some(dir) if path.is_relative() && !path.exists() => dir.join(&path),
            _ => path,
        };
        let format = match kind {
            "ini" => Format::Ini,
            "toml" => Format::Toml,
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            _ => match path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("ini" | "conf" | "cfg") => Format::Ini,
                Some("toml") => Format::Toml,
                Some("yaml" | "yml") => Format::Yaml,
                Some("json" | "js") => Format::Json,
                _ => return Err(ConfigError::UnknownFormat { path }),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Unreadable {
            origin: origin.clone(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.stack.contains(&canonical) {
            return Err(ConfigError::IncludeLoop {
                origin: origin.clone(),
                path,
            });
        }
        let pairs = match format {
            Format::Ini => super::formats::ini(&text, &path, section.as_deref())?,
            Format::Toml => super::formats::toml(&text, &path, section.as_deref())?,
            Format::Yaml => super::formats::yaml(&text, &path, section.as_deref())?,
            Format::Json => super::formats::json(&text, &path, section.as_deref())?,
        };
        let magic = Magic::for_file(
            &named,
            &path,
            section.as_deref(),
            &self.globals,
            self.first_magic.as_ref(),
        );
        if self.first_magic.is_none() {
            self.first_magic = Some(magic.clone());
        }
        if !self.files.contains(&canonical) {
            self.files.push(canonical.clone());
        }
        self.stack.push(canonical);
        for (key, value, line) in pairs {
            let origin = Origin::File {
                path: path.clone(),
                line,
            };
            match magic.apply(&value) {
                Ok(value) => self.add(key, value, origin, Some(&path))?,
                Err(reason) => self
                    .errors
                    .push(ConfigError::bad_value(&origin, &key, reason)),
            }
        }
        self.stack.pop();
        Ok(())
    }
}

/// What the command line gives an option written without `=VALUE`.
enum Take {
    /// The option's bare meaning.
    Bare(&'static str),
    /// The next argument.
    Next,
    /// Nothing: the option needs a value; the option that follows, if any.
    Missing(Option<String>),
}

fn take_value(spec: &OptionSpec, next: Option<&str>) -> Take {
    let next_is_option = next.is_some_and(looks_like_option);
    match spec.bare {
        // A switch never takes the next argument; an optional value (as
        // `--chmod-socket 660` or `--http-keepalive 30`) only when it is
        // one.
        Some(bare) => match next {
            Some(n) if !next_is_option && accepts(spec.kind, n) => Take::Next,
            _ => Take::Bare(bare),
        },
        None => match next {
            Some(n) if next_is_option => Take::Missing(Some(n.to_string())),
            Some(_) => Take::Next,
            None => Take::Missing(None),
        },
    }
}

/// Whether `value` is a value of `kind` an optional option may take from
/// the next argument.
fn accepts(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Mode => !value.is_empty() && value.chars().all(|c| c.is_digit(8)),
        Kind::Seconds | Kind::Int => !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// `--name` or `-x` for a known short flag; `-1` (a value, as in a cron
/// line) is not.
fn looks_like_option(arg: &str) -> bool {
    if arg.starts_with("--") {
        return arg.len() > 2;
    }
    arg.strip_prefix('-')
        .and_then(|s| s.chars().next())
        .is_some_and(|c| options::find_short(c).is_some())
}

/// `app.ini:section` → (app.ini, Some(section)); a colon that is part of
/// an existing path, or followed by a path, is not a section.
fn split_section(spec: &str) -> (PathBuf, Option<String>) {
    if Path::new(spec).exists() {
        return (PathBuf::from(spec), None);
    }
    match spec.rsplit_once(':') {
        Some((file, section)) if !section.is_empty() && !section.contains('/') => {
            (PathBuf::from(file), Some(section.to_string()))
        }
        _ => (PathBuf::from(spec), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static OptionSpec {
        options::find(name).unwrap()
    }

    #[test]
    fn value_taking_options_do_not_swallow_the_next_option() {
        let cases: [(&str, Option<&str>, &str); 9] = [
            ("socket", Some("--processes"), "missing --processes"),
            ("socket", Some("-p"), "missing -p"),
            ("socket", Some("/run/a.sock"), "next"),
            ("socket", None, "missing"),
            ("cron", Some("-1 -1 -1 -1 -1 cmd"), "next"),
            ("master", Some("app.ini"), "bare true"),
            ("chmod-socket", Some("660"), "next"),
            ("chmod-socket", Some("app.ini"), "bare "),
            ("http-keepalive", Some("--threads"), "bare true"),
        ];
        for (name, next, want) in cases {
            let got = match take_value(spec(name), next) {
                Take::Bare(b) => format!("bare {b}"),
                Take::Next => "next".into(),
                Take::Missing(Some(n)) => format!("missing {n}"),
                Take::Missing(None) => "missing".into(),
            };
            assert_eq!(got, want, "{name} {next:?}");
        }
    }
}
