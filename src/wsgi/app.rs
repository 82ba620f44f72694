//! Loading the user's WSGI callable: virtualenv, sys.path, then the file or
//! module named by the config. Runs in the zygote (preload) or in each worker
//! (`lazy-apps`), always with the interpreter already initialised.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyList, PyModule};

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
    /// optionally followed by `:callable`.
    pub fn parse(spec: &str) -> (AppSource, Option<String>) {
        let is_file = |s: &str| s.ends_with(".py") || s.ends_with(".wsgi") || s.contains('/');
        if is_file(spec) {
            return (AppSource::File(PathBuf::from(spec)), None);
        }
        if let Some((file, callable)) = spec.rsplit_once(':')
            && is_file(file)
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

/// The Python environment the apps load into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonEnv {
    pub home: Option<PathBuf>,
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
    #[error("virtualenv {home}: {reason}")]
    Virtualenv { home: PathBuf, reason: String },
    #[error("setting up sys.path failed: {0}")]
    Path(String),
}

/// Prepare `sys.path`, the virtualenv, `sys.argv` and `sys.executable`.
/// Call once per interpreter, after `chdir`, before loading any app.
pub fn prepare_environment(py: Python<'_>, env: &PythonEnv) -> Result<Described, LoadError> {
    let path_err = |e: PyErr| LoadError::Path(e.to_string());
    let sys = py.import("sys").map_err(path_err)?;
    if let Some(home) = &env.home {
        activate_virtualenv(py, &sys, home)?;
    }
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
    if let Some(argv) = &env.argv {
        // As uWSGI's pyargv: the first item names the server.
        let mut items = vec!["rsgi".to_string()];
        items.extend(argv.iter().cloned());
        sys.setattr("argv", items).map_err(path_err)?;
    }
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
    })
}

/// `home` / `virtualenv`, as uWSGI gets it by pointing CPython at the
/// venv's `bin/python`: the venv's site-packages are on sys.path and the
/// base interpreter's are not (unless the venv was made with
/// `--system-site-packages`), `sys.prefix` is the venv, and
/// `sys.executable` its python.
fn activate_virtualenv(
    py: Python<'_>,
    sys: &Bound<'_, PyModule>,
    home: &Path,
) -> Result<(), LoadError> {
    let fail = |reason: String| LoadError::Virtualenv {
        home: home.to_path_buf(),
        reason,
    };
    if !home.is_dir() {
        return Err(fail("no such directory".into()));
    }
    let (major, minor): (u8, u8) = (py.version_info().major, py.version_info().minor);
    let ours = format!("{major}.{minor}");
    // pyvenv.cfg names the interpreter the venv was made with; a venv of
    // another minor version has compiled extensions rsgi's Python cannot load.
    let cfg = std::fs::read_to_string(home.join("pyvenv.cfg")).unwrap_or_default();
    let setting = |wanted: &[&str]| {
        cfg.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            wanted
                .contains(&key.trim())
                .then(|| value.trim().to_string())
        })
    };
    if let Some(v) = setting(&["version", "version_info"]) {
        let mm: String = v.split('.').take(2).collect::<Vec<_>>().join(".");
        if mm != ours {
            return Err(fail(format!(
                "it was made with Python {v}, but rsgi embeds Python {ours}; \
                 recreate it with python{ours} -m venv, or build rsgi with PYO3_PYTHON=python{mm}"
            )));
        }
    }
    let system_site =
        setting(&["include-system-site-packages"]).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // lib64 is often a link to lib: each directory once.
    let mut sites: Vec<PathBuf> = Vec::new();
    for lib in ["lib", "lib64"] {
        let dir = home.join(format!("{lib}/python{ours}/site-packages"));
        let real = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if dir.is_dir()
            && !sites
                .iter()
                .any(|s| std::fs::canonicalize(s).is_ok_and(|r| r == real))
        {
            sites.push(dir);
        }
    }
    if sites.is_empty() {
        return Err(fail(format!(
            "{} does not exist",
            home.join(format!("lib/python{ours}/site-packages"))
                .display()
        )));
    }
    let home_str = home.to_string_lossy();
    let python = home.join("bin/python");
    let run = || -> PyResult<()> {
        let site = py.import("site")?;
        if !system_site {
            // The base interpreter's site directories, as site.py added
            // them at startup (its prefixes are still the base ones here).
            let mut base: Vec<String> = site.call_method0("getsitepackages")?.extract()?;
            if let Ok(user) = site
                .call_method0("getusersitepackages")?
                .extract::<String>()
            {
                base.push(user);
            }
            let path = sys.getattr("path")?.cast_into::<PyList>()?;
            let entries: Vec<String> = path.extract()?;
            for (i, entry) in entries.iter().enumerate().rev() {
                if base.iter().any(|b| same_dir(b, entry)) {
                    path.del_item(i)?;
                }
            }
        }
        sys.setattr("prefix", &*home_str)?;
        sys.setattr("exec_prefix", &*home_str)?;
        site.setattr("PREFIXES", vec![home_str.to_string()])?;
        if python.exists() {
            sys.setattr("executable", python.to_string_lossy().as_ref())?;
        }
        for dir in &sites {
            site.call_method1("addsitedir", (dir.to_string_lossy(),))?;
        }
        Ok(())
    };
    run().map_err(|e| fail(e.to_string()))
}

/// Whether two sys.path entries name the same directory.
fn same_dir(a: &str, b: &str) -> bool {
    a == b
        || match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
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
                "admin.wsgi:app",
                AppSource::File("admin.wsgi".into()),
                Some("app"),
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
