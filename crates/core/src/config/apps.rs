//! The apps a config names: the root app (`wsgi-file` or `module`) and the
//! mountpoints, each as a source and a callable. Pure data: the Python side
//! loads them, the master lists them in the stats.

use std::path::PathBuf;

use super::Config;

/// Where the app comes from, as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSource {
    /// `wsgi-file`: a Python file executed as a module of its own.
    File(PathBuf),
    /// `module`: an importable dotted name.
    Module(String),
}

impl AppSource {
    /// Parse a mount target or `module` value: `pkg.mod`, `pkg.mod:callable`,
    /// `pkg.mod:factory()`, or a file: a path ending in `.py` or `.wsgi`
    /// (as uWSGI's `--mount /x=admin.wsgi` takes) or containing a slash,
    /// optionally followed by `:callable`. With a callable, a name ending
    /// in `.wsgi` is a module, as uWSGI imports it (pyloader.c): Django's
    /// documented `module = mysite.wsgi:application`.
    pub fn parse(spec: &str) -> (AppSource, Option<String>) {
        let is_file = |s: &str| s.ends_with(".py") || s.ends_with(".wsgi") || s.contains('/');
        if is_file(spec) {
            return (AppSource::File(PathBuf::from(spec)), None);
        }
        let is_file_with_callable = |s: &str| s.ends_with(".py") || s.contains('/');
        if let Some((file, callable)) = spec.rsplit_once(':')
            && is_file_with_callable(file)
            && !callable.is_empty()
        {
            return (
                AppSource::File(PathBuf::from(file)),
                Some(callable.to_string()),
            );
        }
        match spec.split_once(':') {
            Some((module, callable)) if !callable.is_empty() => (
                AppSource::Module(module.to_string()),
                Some(callable.to_string()),
            ),
            Some((module, _)) => (AppSource::Module(module.to_string()), None),
            None => (AppSource::Module(spec.to_string()), None),
        }
    }
}

impl std::fmt::Display for AppSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppSource::File(p) => write!(f, "wsgi-file {}", p.display()),
            AppSource::Module(m) => write!(f, "module {m}"),
        }
    }
}

/// One app to load: its source and the name of the callable in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub source: AppSource,
    pub callable: String,
}

/// The apps a config names: the root app ("" prefix) and the mountpoints.
pub fn app_specs(config: &Config) -> Vec<(String, AppSpec)> {
    let mut specs = Vec::new();
    let root = match (&config.wsgi_file, &config.module) {
        (Some(file), _) => Some((AppSource::File(file.clone()), None)),
        (None, Some(module)) => Some(AppSource::parse(module)),
        (None, None) => None,
    };
    if let Some((source, callable)) = root {
        let callable = callable.unwrap_or_else(|| config.callable.clone());
        specs.push((String::new(), AppSpec { source, callable }));
    }
    for mount in &config.mount {
        let (source, callable) = AppSource::parse(&mount.app);
        let callable = callable.unwrap_or_else(|| config.callable.clone());
        // "/" mounts the root app; other prefixes lose a trailing slash so
        // "/a/" and "/a" mean the same mountpoint.
        let prefix = mount.prefix.trim_end_matches('/').to_string();
        specs.push((prefix, AppSpec { source, callable }));
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_app_specs() {
        let cases = [
            ("app", AppSource::Module("app".into()), None),
            (
                "pkg.app:create",
                AppSource::Module("pkg.app".into()),
                Some("create"),
            ),
            ("pkg.app:", AppSource::Module("pkg.app".into()), None),
            ("hello.py", AppSource::File("hello.py".into()), None),
            ("/srv/x/wsgi", AppSource::File("/srv/x/wsgi".into()), None),
            ("admin.wsgi", AppSource::File("admin.wsgi".into()), None),
            (
                "admin.py:app",
                AppSource::File("admin.py".into()),
                Some("app"),
            ),
            (
                "mysite.wsgi:application",
                AppSource::Module("mysite.wsgi".into()),
                Some("application"),
            ),
            (
                "galaxy.webapps.galaxy.buildapp:uwsgi_app()",
                AppSource::Module("galaxy.webapps.galaxy.buildapp".into()),
                Some("uwsgi_app()"),
            ),
        ];
        for (input, source, callable) in cases {
            let (s, c) = AppSource::parse(input);
            assert_eq!(s, source, "{input}");
            assert_eq!(c.as_deref(), callable, "{input}");
        }
    }
}
