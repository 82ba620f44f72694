//! Starting CPython and loading the apps, as the config says: environment
//! variables, working directory, interpreter, virtualenv and sys.path, then
//! the `import` modules, the root app and every mountpoint.

use pyo3::prelude::*;

use crate::config::Config;
use crate::worker::exec::Apps;
use crate::wsgi::app::{
    AppSource, AppSpec, LoadError, PythonEnv, import_module, load_app, prepare_environment,
};

/// Why the interpreter could not be prepared; exits 22 like a failed app.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot change directory to {path}: {source}")]
    Chdir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("no app to serve: give --wsgi-file, --module or --mount")]
    NoApp,
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

/// Set the process up for Python and initialise the interpreter. Returns
/// with the GIL released.
pub fn start(config: &Config) -> Result<(), StartError> {
    for (key, value) in &config.env {
        // SAFETY: called before any thread is started in this process.
        unsafe { std::env::set_var(key, value) };
    }
    for key in &config.unenv {
        // SAFETY: as above.
        unsafe { std::env::remove_var(key) };
    }
    if let Some(dir) = &config.chdir {
        std::env::set_current_dir(dir).map_err(|source| StartError::Chdir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // `optimize`: CPython reads its level at initialisation only; the
    // variable goes away again so the app's own subprocesses do not
    // inherit it.
    let optimize_var = config
        .optimize
        .filter(|_| std::env::var_os("PYTHONOPTIMIZE").is_none());
    if let Some(level) = optimize_var {
        // SAFETY: as above.
        unsafe { std::env::set_var("PYTHONOPTIMIZE", level.to_string()) };
    }
    Python::initialize();
    if optimize_var.is_some() {
        // SAFETY: as above; Python has read it and started no thread.
        unsafe { std::env::remove_var("PYTHONOPTIMIZE") };
    }
    let env = PythonEnv {
        home: config.home.clone(),
        pythonpath: config.pythonpath.clone(),
        argv: config
            .pyargv
            .as_deref()
            .map(|a| a.split_whitespace().map(String::from).collect()),
        executable: config.py_executable.clone(),
    };
    Python::attach(|py| {
        let described = prepare_environment(py, &env)?;
        tracing::info!(
            python = %described.version,
            executable = %described.executable,
            virtualenv = %config.home.as_ref().map_or("none".into(), |h| h.display().to_string()),
            "interpreter ready"
        );
        Ok::<(), LoadError>(())
    })?;
    if let Err(e) = Python::attach(crate::wsgi::errors::install_stdio) {
        tracing::warn!(error = %e, "the app's stdout and stderr write straight to the log");
    }
    Ok(())
}

/// Import every app. A failure is fatal when `need-app` is on; otherwise
/// it is logged and that mountpoint answers 500.
pub fn load_apps(config: &Config) -> Result<Apps, StartError> {
    let specs = app_specs(config);
    if specs.is_empty() {
        return Err(StartError::NoApp);
    }
    Python::attach(|py| {
        // uWSGI imports these before the apps, and only logs a failure.
        for module in &config.import {
            if let Err(e) = import_module(py, module) {
                tracing::error!(module = %module, "import failed: {e}");
            }
        }
        let mut mounts = Vec::with_capacity(specs.len());
        for (prefix, spec) in specs {
            match load_app(py, &spec) {
                Ok(app) => {
                    tracing::info!(mountpoint = %display_prefix(&prefix), app = %spec.source, "app loaded");
                    mounts.push((prefix, Some(app)));
                }
                Err(e) if config.need_app => return Err(StartError::Load(e)),
                Err(e) => {
                    tracing::error!(mountpoint = %display_prefix(&prefix), "{e}; serving 500s there (need-app is off)");
                    mounts.push((prefix, None));
                }
            }
        }
        Ok(Apps::new(mounts))
    })
}

fn display_prefix(prefix: &str) -> &str {
    if prefix.is_empty() { "/" } else { prefix }
}
