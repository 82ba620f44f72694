//! Preparing the interpreter the zygote runs in and loading the apps, as
//! the config says: working directory and sys.path, then the `import`
//! modules, the root app and every mountpoint, between the `pre-app` and
//! `post-app` hooks; and running the Python side's hooks, `call:` too.

use pyo3::prelude::*;

use rsgi_core::config::Config;
use rsgi_core::config::apps::app_specs;
use rsgi_core::config::hooks::Hook;
use rsgi_core::hooks::HookFailed;

use crate::worker::exec::Apps;
use crate::wsgi::app::{LoadError, PythonEnv, import_module, load_app, prepare_environment};

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
    #[error("{0}; aborting start-up")]
    Hook(#[from] HookFailed),
}

impl StartError {
    /// Where the option behind this error was set, as " (chdir at
    /// app.ini:3)", or nothing.
    pub fn set_at(&self, config: &Config) -> String {
        match self {
            StartError::Chdir { .. } => config.set_at(&["chdir"]),
            StartError::Load(LoadError::Path(_)) => config.set_at(&["pythonpath"]),
            StartError::Load(_) => config.set_at(&["wsgi-file", "module", "mount"]),
            StartError::NoApp | StartError::Hook(_) => String::new(),
        }
    }
}

/// Prepare the running interpreter for the apps: working directory,
/// sys.path, sys.argv, the app's stdout and stderr. The master already
/// chose the interpreter (the venv's own python) and set the environment
/// (`env`, `unenv`, `optimize`) before it started.
pub fn start(config: &Config) -> Result<(), StartError> {
    if let Some(dir) = &config.chdir {
        std::env::set_current_dir(dir).map_err(|source| StartError::Chdir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let env = PythonEnv {
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
            prefix = %described.prefix,
            extension = env!("RSGI_NATIVE_ABI"),
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
    run_hooks(&[
        ("hook-pre-app", &config.hook_pre_app),
        ("exec-pre-app", &config.exec_pre_app),
    ])?;
    let apps = import_apps(config, specs)?;
    run_hooks(&[
        ("hook-post-app", &config.hook_post_app),
        ("exec-post-app", &config.exec_post_app),
    ])?;
    Ok(apps)
}

fn import_apps(
    config: &Config,
    specs: Vec<(String, rsgi_core::config::apps::AppSpec)>,
) -> Result<Apps, StartError> {
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

/// Run one phase's hooks in order (`hook-*` before `exec-*`, as uWSGI),
/// stopping at the first failure.
pub fn run_hooks(phases: &[(&str, &[Hook])]) -> Result<(), HookFailed> {
    for (option, hooks) in phases {
        rsgi_core::hooks::run(option, hooks, &mut call)?;
    }
    Ok(())
}

/// `call:module.func`: import the module, call the function with no
/// arguments; an exception fails the hook, with its traceback.
fn call(target: &str) -> Result<(), String> {
    let Some((module, func)) = target.rsplit_once('.') else {
        return Err(format!("{target:?} is not module.function"));
    };
    Python::attach(|py| {
        py.import(module)
            .and_then(|m| m.getattr(func))
            .and_then(|f| f.call0())
            .map(drop)
            .map_err(|e| crate::wsgi::traceback_text(py, &e))
    })
}

fn display_prefix(prefix: &str) -> &str {
    if prefix.is_empty() { "/" } else { prefix }
}
