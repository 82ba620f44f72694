//! Loading the user's WSGI callable: virtualenv, sys.path, then the file or
//! module named by the config. Runs in the zygote (preload) or in each worker
//! (`lazy-apps`), always with the interpreter already initialised.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use pyo3::types::{PyList, PyModule};

use rsgi_core::config::apps::{AppSource, AppSpec};

/// The Python environment the apps load into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonEnv {
    pub pythonpath: Vec<PathBuf>,
    /// `pyargv`: sys.argv after its first item.
    pub argv: Option<Vec<String>>,
    /// `py-executable`: sys.executable.
    pub executable: Option<PathBuf>,
}

/// The interpreter as prepared, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub version: String,
    pub executable: String,
    /// `sys.prefix`: the virtualenv when there is one.
    pub prefix: String,
}

/// Why an app could not be loaded. Each message is a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the WSGI file {0} does not exist")]
    FileMissing(PathBuf),
    #[error("importing the app from {app} failed:\n{traceback}")]
    Import { app: AppSource, traceback: String },
    #[error("{app} has no attribute '{callable}' (set `callable` to the name of your WSGI app)")]
    MissingCallable { app: AppSource, callable: String },
    #[error("'{callable}' in {app} is a {kind}, not a callable WSGI app")]
    NotCallable {
        app: AppSource,
        callable: String,
        kind: String,
    },
    #[error("setting up sys.path failed: {0}")]
    Path(String),
}

/// Prepare `sys.path`, `sys.argv` and `sys.executable`. The virtualenv
/// needs nothing here: the master started the venv's own python, whose
/// `site` put the venv's packages (and no others) on sys.path.
/// Call once per interpreter, after `chdir`, before loading any app.
pub fn prepare_environment(py: Python<'_>, env: &PythonEnv) -> Result<Described, LoadError> {
    let path_err = |e: PyErr| LoadError::Path(e.to_string());
    let sys = py.import("sys").map_err(path_err)?;
    let path = sys
        .getattr("path")
        .and_then(|p| p.cast_into::<PyList>().map_err(Into::into))
        .map_err(path_err)?;
    // uWSGI makes the working directory importable, so `module = app` works
    // after `chdir`; later `pythonpath` entries go in front of it, in order.
    let cwd = std::env::current_dir().map_err(|e| LoadError::Path(e.to_string()))?;
    let mut front: Vec<String> = env
        .pythonpath
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    front.push(cwd.to_string_lossy().into_owned());
    for (i, dir) in front.iter().enumerate() {
        path.insert(i, dir).map_err(path_err)?;
    }
    // The bootstrap's `-c` arguments are not the app's: as uWSGI, the first
    // item names the server and `pyargv` follows it.
    let mut items = vec!["rsgi".to_string()];
    items.extend(env.argv.iter().flatten().cloned());
    sys.setattr("argv", items).map_err(path_err)?;
    if let Some(exe) = &env.executable {
        sys.setattr("executable", exe.to_string_lossy().as_ref())
            .map_err(path_err)?;
    }
    let text = |name: &str| -> String {
        sys.getattr(name)
            .and_then(|v| v.str().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    Ok(Described {
        version: text("version")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
        executable: text("executable"),
        prefix: text("prefix"),
    })
}

/// `import = X`: a module, or a Python file (a path, or a name ending in
/// `.py`), as uWSGI's import options take them.
pub fn import_module(py: Python<'_>, what: &str) -> Result<(), String> {
    if what.contains('/') || what.ends_with(".py") {
        load_file(py, Path::new(what))
            .map(|_| ())
            .map_err(|e| match e {
                FileLoad::Missing => format!("the file {what} does not exist"),
                FileLoad::Python(e) => super::traceback_text(py, &e),
            })
    } else {
        py.import(what)
            .map(|_| ())
            .map_err(|e| super::traceback_text(py, &e))
    }
}

/// Import the app and return its callable.
pub fn load_app(py: Python<'_>, spec: &AppSpec) -> Result<Py<PyAny>, LoadError> {
    let import_err = |e: PyErr| LoadError::Import {
        app: spec.source.clone(),
        traceback: super::traceback_text(py, &e),
    };
    let module = match &spec.source {
        AppSource::File(path) => load_file(py, path).map_err(|e| match e {
            FileLoad::Missing => LoadError::FileMissing(path.clone()),
            FileLoad::Python(e) => import_err(e),
        })?,
        AppSource::Module(name) => py.import(name.as_str()).map_err(import_err)?,
    };
    // `module = pkg.mod:create_app()`: uWSGI's Python loader calls a
    // callable named with `()` to get the app.
    let (name, factory) = match spec.callable.strip_suffix("()") {
        Some(name) => (name, true),
        None => (spec.callable.as_str(), false),
    };
    let app = match module.getattr_opt(name) {
        Ok(Some(found)) if factory => found.call0().map_err(import_err)?,
        Ok(Some(app)) => app,
        Ok(None) => {
            return Err(LoadError::MissingCallable {
                app: spec.source.clone(),
                callable: spec.callable.clone(),
            });
        }
        Err(e) => return Err(import_err(e)),
    };
    if !app.is_callable() {
        let kind = app
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "non-callable object".into());
        return Err(LoadError::NotCallable {
            app: spec.source.clone(),
            callable: spec.callable.clone(),
            kind,
        });
    }
    Ok(app.unbind())
}

enum FileLoad {
    Missing,
    Python(PyErr),
}

/// Execute a WSGI file as a module of its own, as uWSGI does: the file's
/// directory goes first on sys.path (so its sibling imports work), and the
/// module is registered in sys.modules under a name derived from its path.
/// Any file name works (OpenStack's `keystone-wsgi-public`, Indico's
/// `indico.wsgi`): the source loader is named explicitly, where
/// `spec_from_file_location` would only know `.py` files.
fn load_file<'py>(py: Python<'py>, path: &Path) -> Result<Bound<'py, PyModule>, FileLoad> {
    let abs = std::fs::canonicalize(path).map_err(|_| FileLoad::Missing)?;
    if !abs.is_file() {
        return Err(FileLoad::Missing);
    }
    let dir = abs.parent().map(|d| d.to_string_lossy().into_owned());
    let name: String = abs
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = format!("rsgi_file{name}");
    let run = || -> PyResult<Bound<'py, PyModule>> {
        if let Some(dir) = &dir {
            py.import("sys")?
                .getattr("path")?
                .call_method1("insert", (0, dir))?;
        }
        let util = py.import("importlib.util")?;
        let loader = py
            .import("importlib.machinery")?
            .getattr("SourceFileLoader")?
            .call1((&name, abs.to_string_lossy()))?;
        let spec = util.call_method1("spec_from_loader", (&name, &loader))?;
        let module = util.call_method1("module_from_spec", (&spec,))?;
        py.import("sys")?
            .getattr("modules")?
            .set_item(&name, &module)?;
        spec.getattr("loader")?
            .call_method1("exec_module", (&module,))?;
        Ok(module.cast_into::<PyModule>()?)
    };
    run().map_err(FileLoad::Python)
}
