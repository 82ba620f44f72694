//! Which Python runs the app, where rsgi's extension is, and the command
//! that turns that interpreter into a zygote. The master itself never
//! loads Python: it only finds files and starts a process.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rsgi_core::config::Config;

/// The environment variable that names the extension to load, before any
/// place rsgi looks for it itself.
pub const NATIVE_ENV: &str = "RSGI_NATIVE";

/// What the interpreter runs: check the version, load the extension by
/// path (so a vassal's venv needs no rsgi installed), and hand over to it.
/// A failure here exits 22, as a failed import of the app does.
const BOOTSTRAP: &str = r#"import os, sys
def fail(why):
    sys.stderr.write("rsgi: %s\n" % why)
    sys.stderr.flush()
    os._exit(22)
if sys.version_info < (3, 9):
    fail("%s is Python %d.%d; rsgi runs apps on Python 3.9 or later (set home/virtualenv or --python)" % ((sys.executable,) + tuple(sys.version_info[:2])))
try:
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_file_location
    # An explicit loader: /proc/self/fd/N has no suffix to pick one by.
    loader = ExtensionFileLoader("rsgi._native", sys.argv[1])
    spec = spec_from_file_location("rsgi._native", sys.argv[1], loader=loader)
    native = module_from_spec(spec)
    spec.loader.exec_module(native)
except Exception as e:
    fail("cannot load rsgi's extension %s into %s: %s" % (sys.argv[1], sys.executable, e))
native.zygote(os.environ.pop("RSGI_ZYGOTE"))
"#;

/// Where the interpreter choice came from, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `home` / `virtualenv`: the venv's own python.
    Virtualenv(PathBuf),
    /// `--python`.
    Option,
    /// The environment rsgi was installed into (`pip install rsgi` in a
    /// venv puts `rsgi` beside that venv's `python`).
    Installed,
    /// `python3` found on PATH.
    Path,
}

/// The interpreter a zygote runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub origin: Origin,
}

impl fmt::Display for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exe = self.executable.display();
        match &self.origin {
            Origin::Virtualenv(home) => write!(f, "{exe} (virtualenv {})", home.display()),
            Origin::Option => write!(f, "{exe} (--python)"),
            Origin::Installed => write!(f, "{exe} (the environment rsgi is installed in)"),
            Origin::Path => write!(f, "{exe} (python3 on PATH)"),
        }
    }
}

/// Why no zygote can be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PythonError {
    #[error(
        "virtualenv {0}: it has no bin/python or bin/python3 (is it a virtualenv? make one with python3 -m venv)"
    )]
    NoVenvPython(PathBuf),
    #[error("--python {0}: no such executable")]
    NoSuchPython(PathBuf),
    #[error("no python3 on PATH: set home/virtualenv or --python")]
    NoPython3,
    #[error(
        "rsgi's Python extension was not found (looked in {0}); reinstall rsgi, or set RSGI_NATIVE to the extension's path"
    )]
    NoExtension(String),
    #[error("cannot open rsgi's Python extension {0}: {1}")]
    Unreadable(PathBuf, String),
}

/// The interpreter for `config`: the virtualenv's own python (so the
/// venv's version and packages are the app's), else `--python`, else the
/// python beside the master binary `exe` (rsgi installed into a venv
/// serves that venv's apps), else `python3` on PATH.
pub fn choose(
    config: &Config,
    exe: &Path,
    path_var: Option<OsString>,
) -> Result<Interpreter, PythonError> {
    if let Some(home) = &config.home {
        let found = ["bin/python", "bin/python3"]
            .iter()
            .map(|name| home.join(name))
            .find(|p| is_executable(p))
            .ok_or_else(|| PythonError::NoVenvPython(home.clone()))?;
        return Ok(Interpreter {
            executable: found,
            origin: Origin::Virtualenv(home.clone()),
        });
    }
    if let Some(python) = &config.python {
        let found = if python.components().count() > 1 {
            Some(python.clone()).filter(|p| is_executable(p))
        } else {
            search_path(python, path_var.as_deref())
        };
        return found
            .map(|executable| Interpreter {
                executable,
                origin: Origin::Option,
            })
            .ok_or_else(|| PythonError::NoSuchPython(python.clone()));
    }
    let beside = exe.parent().and_then(|dir| {
        ["python", "python3"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| is_executable(p))
    });
    if let Some(executable) = beside {
        return Ok(Interpreter {
            executable,
            origin: Origin::Installed,
        });
    }
    search_path(Path::new("python3"), path_var.as_deref())
        .map(|executable| Interpreter {
            executable,
            origin: Origin::Path,
        })
        .ok_or(PythonError::NoPython3)
}

/// Where rsgi's extension is, for the master binary at `exe`. In order:
/// `RSGI_NATIVE`; beside the binary (`cargo build` puts it there); the
/// Python package a wheel installed next to the binary's `bin/` directory
/// (`pip install rsgi`: `venv/bin/rsgi` and
/// `venv/lib/python3.X/site-packages/rsgi/_native.abi3.so`).
pub fn extension(exe: &Path, native_var: Option<OsString>) -> Result<PathBuf, PythonError> {
    if let Some(path) = native_var {
        return Ok(PathBuf::from(path));
    }
    let mut looked = Vec::new();
    let Some(dir) = exe.parent() else {
        return Err(PythonError::NoExtension(exe.display().to_string()));
    };
    let beside = dir.join("librsgi_native.so");
    if beside.is_file() {
        return Ok(beside);
    }
    looked.push(beside.display().to_string());
    if let Some(prefix) = dir.parent() {
        for lib in ["lib", "lib64"] {
            let pattern = prefix.join(lib);
            looked.push(format!(
                "{}/python3.*/{{site,dist}}-packages/rsgi",
                pattern.display()
            ));
            if let Some(found) = installed_extension(&pattern) {
                return Ok(found);
            }
        }
    }
    Err(PythonError::NoExtension(looked.join(", ")))
}

/// `LIB/python3.*/{site,dist}-packages/rsgi/_native*.so`, newest Python
/// first (any of them serves: the extension is built for the stable ABI).
fn installed_extension(lib: &Path) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3."))
        })
        .collect();
    versions.sort();
    versions.iter().rev().find_map(|version| {
        ["site-packages", "dist-packages"].iter().find_map(|site| {
            let package = version.join(site).join("rsgi");
            std::fs::read_dir(&package)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("_native.") && n.ends_with(".so"))
                })
        })
    })
}

/// rsgi's extension, held open from start to exit: zygotes load it
/// through `/proc/self/fd/N`, so a package upgrade that replaces the file
/// on disk does not mix a new extension into an old master (the handoff
/// would not match); a restart picks the new build up.
#[derive(Debug)]
pub struct Native {
    file: std::fs::File,
    /// Where it was found, for the startup log.
    pub path: PathBuf,
}

impl Native {
    /// Find (see [`extension`]) and open the extension.
    pub fn open(exe: &Path, native_var: Option<OsString>) -> Result<Native, PythonError> {
        let path = extension(exe, native_var)?;
        let file = std::fs::File::open(&path)
            .map_err(|e| PythonError::Unreadable(path.clone(), e.to_string()))?;
        Ok(Native { file, path })
    }

    /// The descriptor a child must inherit, and the path it loads.
    pub fn inherited(&self) -> (i32, String) {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        (fd, format!("/proc/self/fd/{fd}"))
    }
}

/// The command that starts a zygote: `python [-O…] -c BOOTSTRAP EXTENSION`,
/// with the config's environment. The handoff and the inherited fds (the
/// extension's among them) are the caller's to add.
pub fn zygote_command(python: &Interpreter, extension: &str, config: &Config) -> Command {
    let mut cmd = Command::new(&python.executable);
    // `optimize`: as a flag, so the app's own subprocesses do not inherit
    // it as PYTHONOPTIMIZE would make them.
    for _ in 0..config.optimize.unwrap_or(0).min(2) {
        cmd.arg("-O");
    }
    cmd.arg("-c").arg(BOOTSTRAP).arg(extension);
    // `env` and `unenv` must be in place before the interpreter starts:
    // os.environ is read once, at start-up.
    for key in &config.unenv {
        cmd.env_remove(key);
    }
    for (key, value) in &config.env {
        cmd.env(key, value);
    }
    cmd
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn search_path(name: &Path, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let dirs = path_var?;
    std::env::split_paths(dirs)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rsgi-python-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn the_virtualenv_wins_then_the_option_then_path() {
        let dir = scratch("choose");
        let venv = dir.join("venv");
        let venv_python = executable(&venv, "bin/python");
        let other = executable(&dir, "other/python3.12");
        let on_path = executable(&dir, "path/python3");
        let path_var = Some(OsString::from(dir.join("path")));
        let exe = dir.join("target/rsgi");
        let mut config = Config {
            home: Some(venv.clone()),
            python: Some(other.clone()),
            ..Config::default()
        };
        assert_eq!(
            choose(&config, &exe, path_var.clone()),
            Ok(Interpreter {
                executable: venv_python,
                origin: Origin::Virtualenv(venv.clone())
            })
        );
        config.home = None;
        assert_eq!(
            choose(&config, &exe, path_var.clone()).map(|i| i.executable),
            Ok(other)
        );
        config.python = Some("python3".into());
        assert_eq!(
            choose(&config, &exe, path_var.clone()).map(|i| i.executable),
            Ok(on_path.clone())
        );
        config.python = None;
        assert_eq!(
            choose(&config, &exe, path_var.clone()),
            Ok(Interpreter {
                executable: on_path,
                origin: Origin::Path
            })
        );
        // rsgi installed into a venv: that venv's python, before PATH's.
        let installed = executable(&dir, "venv2/bin/python");
        assert_eq!(
            choose(&config, &dir.join("venv2/bin/rsgi"), path_var),
            Ok(Interpreter {
                executable: installed,
                origin: Origin::Installed
            })
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_interpreter_is_a_sentence_that_says_what_to_do() {
        let dir = scratch("missing");
        let config = Config {
            home: Some(dir.join("not-a-venv")),
            ..Config::default()
        };
        let exe = dir.join("rsgi");
        assert!(matches!(
            choose(&config, &exe, None),
            Err(PythonError::NoVenvPython(_))
        ));
        assert_eq!(
            choose(&Config::default(), &exe, Some(OsString::from(&dir))),
            Err(PythonError::NoPython3)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_extension_is_found_beside_the_binary_or_in_the_installed_package() {
        let dir = scratch("ext");
        let exe = dir.join("bin/rsgi");
        assert!(matches!(
            extension(&exe, None),
            Err(PythonError::NoExtension(_))
        ));
        let installed = executable(&dir, "lib/python3.12/site-packages/rsgi/_native.abi3.so");
        assert_eq!(extension(&exe, None), Ok(installed));
        let beside = executable(&dir, "bin/librsgi_native.so");
        assert_eq!(extension(&exe, None), Ok(beside));
        assert_eq!(
            extension(&exe, Some("/x/y.so".into())),
            Ok(PathBuf::from("/x/y.so"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
