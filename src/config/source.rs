//! Reading every config source into one ordered list of entries
//! `(key, value, origin)`: environment variables first (lowest precedence),
//! then the command line in order, with config files expanded at the point
//! they are named (and files they include, at the point of the include).
//! Placeholders are expanded as each entry is added, so `%(key)` sees what
//! was set before it, as in uWSGI.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Origin};
use super::options::{self, Kind, OPTIONS};
use super::placeholders;

/// One setting as read, before typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (an option name, alias, or a placeholder variable).
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
}

/// Collects entries; owns include-loop detection and placeholder state.
pub struct Collector<'e> {
    pub entries: Vec<Entry>,
    /// Keys some `%(key)` referred to: such keys may be custom variables.
    pub referenced: HashSet<String>,
    env: &'e dyn Fn(&str) -> Option<String>,
    stack: Vec<PathBuf>,
}

impl<'e> Collector<'e> {
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Collector<'e> {
        Collector {
            entries: Vec::new(),
            referenced: HashSet::new(),
            env,
            stack: Vec::new(),
        }
    }

    /// `UWSGI_<KEY>` and `RSGI_<KEY>` for every option (RSGI_ wins).
    pub fn read_env(&mut self) -> Result<(), ConfigError> {
        for o in OPTIONS.iter().filter(|o| !matches!(o.kind, Kind::Action)) {
            let suffix = o.name.to_ascii_uppercase().replace('-', "_");
            for prefix in ["UWSGI_", "RSGI_"] {
                let var = format!("{prefix}{suffix}");
                if let Some(value) = (self.env)(&var) {
                    self.push(o.name.to_string(), value, Origin::Env(var), None)?;
                }
            }
        }
        Ok(())
    }

    /// The command line, in order.
    pub fn read_args(&mut self, args: &[String]) -> Result<(), ConfigError> {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let (spec, inline) = if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let spec = options::find(name).ok_or_else(|| ConfigError::UnknownOption {
                    origin: Origin::CommandLine,
                    name: format!("--{name}"),
                    suggestion: options::suggest(name).map(|s| format!("--{s}")),
                })?;
                if name == "lazy" {
                    self.note_lazy();
                }
                (spec, inline)
            } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                let mut chars = short.chars();
                let c = chars.next().unwrap_or('-');
                let spec = options::find_short(c).ok_or_else(|| ConfigError::UnknownOption {
                    origin: Origin::CommandLine,
                    name: format!("-{c}"),
                    suggestion: None,
                })?;
                let rest: String = chars.collect();
                (spec, (!rest.is_empty()).then_some(rest))
            } else {
                // `rsgi app.ini`: a bare config file.
                self.push("config".into(), arg.clone(), Origin::CommandLine, None)?;
                continue;
            };
            let value = match inline {
                Some(v) => v,
                None if spec.kind.is_flag() => "true".to_string(),
                None if spec.kind == Kind::Mode
                    && args.get(i).is_none_or(|a| a.starts_with('-')) =>
                {
                    String::new()
                }
                None => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or_else(|| ConfigError::MissingValue {
                            origin: Origin::CommandLine,
                            name: format!("--{}", spec.name),
                        })?;
                    i += 1;
                    v
                }
            };
            self.push(spec.name.to_string(), value, Origin::CommandLine, None)?;
        }
        Ok(())
    }

    fn note_lazy(&mut self) {
        // Not eprintln!: it panics when stderr fails (a full log disk at SIGHUP).
        crate::logfile::STDERR.write(
            b"rsgi: note: 'lazy' is uWSGI's older spelling of 'lazy-apps'; rsgi treats it as lazy-apps\n",
        );
    }

    /// Add one entry, expanding placeholders; loads files for include keys.
    fn push(
        &mut self,
        key: String,
        raw: String,
        origin: Origin,
        file: Option<&Path>,
    ) -> Result<(), ConfigError> {
        let value = placeholders::expand(&raw, file, &self.entries, self.env, &mut self.referenced);
        let include = options::find(&key)
            .filter(|o| o.kind == Kind::Include)
            .map(|o| o.name);
        if key == "lazy" {
            self.note_lazy();
        }
        self.entries.push(Entry {
            key,
            value: value.clone(),
            origin: origin.clone(),
        });
        if let Some(kind) = include {
            let base = file.and_then(Path::parent);
            self.include(kind, &value, &origin, base)?;
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
        let path = match base {
            Some(dir) if path.is_relative() && !path.exists() => dir.join(&path),
            _ => path,
        };
        let format = match kind {
            "ini" => Format::Ini,
            "toml" => Format::Toml,
            "yaml" => Format::Yaml,
            _ => match path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("ini") => Format::Ini,
                Some("toml") => Format::Toml,
                Some("yaml" | "yml") => Format::Yaml,
                _ => return Err(ConfigError::UnknownFormat { path }),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Unreadable {
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
        };
        self.stack.push(canonical);
        for (key, value, line) in pairs {
            let origin = Origin::File {
                path: path.clone(),
                line,
            };
            self.push(key, value, origin, Some(&path))?;
        }
        self.stack.pop();
        Ok(())
    }
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
