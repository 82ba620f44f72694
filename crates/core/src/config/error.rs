//! Config errors and warnings: each names where the input came from.

use std::fmt;
use std::path::PathBuf;

/// Where a config value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, at a line (0 when the format gives none).
    File {
        path: PathBuf,
        line: usize,
    },
    CommandLine,
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line: 0 } => write!(f, "{}", path.display()),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::CommandLine => write!(f, "command line"),
            Origin::Env(var) => write!(f, "env {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: unknown option '{name}'{}", suggest(suggestion))]
    UnknownOption {
        origin: Origin,
        name: String,
        suggestion: Option<String>,
    },
    #[error("{origin}: {name}: {reason}")]
    BadValue {
        origin: Origin,
        name: String,
        reason: String,
    },
    #[error("{origin}: '{name}' is not supported: {reason}")]
    Unsupported {
        origin: Origin,
        name: String,
        reason: String,
    },
    #[error("{origin}: option '{name}' needs a value{}", swallowed(next))]
    MissingValue {
        origin: Origin,
        name: String,
        /// The option that follows it on the command line, if any.
        next: Option<String>,
    },
    #[error("{origin}: cannot read config file {path}: {reason}")]
    Unreadable {
        origin: Origin,
        path: PathBuf,
        reason: String,
    },
    #[error("{path}:{line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: no [{section}] section (the sections are: {found})")]
    NoSection {
        path: PathBuf,
        section: String,
        found: String,
    },
    #[error("{origin}: including {path} again would loop forever")]
    IncludeLoop { origin: Origin, path: PathBuf },
    #[error("{path}: cannot tell the format from the extension (use .ini, .toml, .yaml or .yml)")]
    UnknownFormat { path: PathBuf },
    #[error("{0}")]
    Invalid(String),
    /// Every error of a run, so one run shows them all.
    #[error("{}", lines(.0))]
    Many(Vec<ConfigError>),
}

fn swallowed(next: &Option<String>) -> String {
    match next {
        Some(n) => format!(
            ", but the option '{n}' follows it (to give a value that starts with a dash, write the option as --name=VALUE)"
        ),
        None => String::new(),
    }
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn suggest(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

/// Something in the config rsgi accepted but a user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl ConfigError {
    /// One error, or all of them.
    pub fn from_all(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Many(errors)),
        }
    }

    pub fn bad_value(origin: &Origin, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::BadValue {
            origin: origin.clone(),
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}
