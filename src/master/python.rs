//! Which Python runs the app, where rsgi's extension is, and the command
//! that turns that interpreter into a zygote. The master itself never
//! loads Python: it only finds files and starts a process.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rsgi_core::config::Config;

/// The environment variable that names the extension builds to offer
/// (paths separated by `:`), instead of the places rsgi looks itself.
pub const NATIVE_ENV: &str = "RSGI_NATIVE";

/// What the interpreter runs: check the version, load the extension by
/// path (so a vassal's venv needs no rsgi installed), and hand over to it.
/// A failure here exits 22, as a failed import of the app does.
const BOOTSTRAP: &str = r#"import os, sys
def fail(why):
    sys.stderr.write("rsgi: %s\n" % why)
    sys.stderr.flush()
    os._exit(22)
version = "%d.%d" % sys.version_info[:2]
if sys.version_info < (3, 9):
    fail("%s is Python %s; rsgi runs apps on Python 3.9 or later (set home/virtualenv or --python)" % (sys.executable, version))
free_threaded = not getattr(sys, "_is_gil_enabled", lambda: True)()
builds = dict(arg.split("=", 1) for arg in sys.argv[1:])
want = "cp%d%d%s" % (sys.version_info[0], sys.version_info[1], "t" if free_threaded else "")
# A build for this very version is the fast one; the stable-ABI build
# serves any other (but not a free-threaded interpreter).
tag = want if want in builds else ("abi3" if "abi3" in builds and not free_threaded else None)
if tag is None:
    fail("%s is Python %s%s, and this rsgi has no extension for it (it has %s): install rsgi into that environment (pip install rsgi), or build rsgi-native with its default abi3 feature" % (sys.executable, version, " (free-threaded)" if free_threaded else "", ", ".join(sorted(builds))))
try:
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_file_location
    # An explicit loader: /proc/self/fd/N has no suffix to pick one by.
    loader = ExtensionFileLoader("rsgi._native", builds[tag])
    spec = spec_from_file_location("rsgi._native", builds[tag], loader=loader)
    native = module_from_spec(spec)
    spec.loader.exec_module(native)
except Exception as e:
    fail("cannot load rsgi's extension (%s) into %s: %s" % (tag, sys.executable, e))
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

/// Every build of rsgi's extension the master at `exe` can offer, in
/// order of preference: `RSGI_NATIVE` (paths separated by `:`); beside the binary (`cargo build`
/// puts `librsgi_native.so` there); the Python package a wheel installed
/// next to the binary's `bin/` directory (`pip install rsgi`:
/// `venv/bin/rsgi` and `venv/lib/python3.X/site-packages/rsgi/_native.*.so`,
/// one for that Python and one for the stable ABI).
pub fn extensions(exe: &Path, native_var: Option<OsString>) -> Vec<PathBuf> {
    if let Some(paths) = native_var {
        return std::env::split_paths(&paths).collect();
    }
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut found = files_in(dir, "librsgi_native", ".so");
    if let Some(prefix) = dir.parent() {
        for lib in ["lib", "lib64"] {
            let mut versions = files_in(&prefix.join(lib), "python3.", "");
            versions.reverse();
            for version in versions {
                for site in ["site-packages", "dist-packages"] {
                    found.extend(files_in(
                        &version.join(site).join("rsgi"),
                        "_native.",
                        ".so",
                    ));
                }
            }
        }
    }
    found
}

/// The entries of `dir` whose names start with `prefix` and end with
/// `suffix`, sorted.
fn files_in(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    names.sort();
    names
}

/// The ABI tag a build of the extension records in itself (`abi3`,
/// `cp311`, `cp313t`): the bytes `\0rsgi-native-abi=TAG\0`.
pub fn abi_tag(contents: &[u8]) -> Option<String> {
    const MARK: &[u8] = b"rsgi-native-abi=";
    contents
        .split(|&b| b == 0)
        .find_map(|part| part.strip_prefix(MARK))
        .filter(|tag| !tag.is_empty() && tag.iter().all(u8::is_ascii_alphanumeric))
        .map(|tag| String::from_utf8_lossy(tag).into_owned())
}

/// rsgi's extension builds, held open from start to exit, one per ABI tag:
/// zygotes load theirs through `/proc/self/fd/N`, so a package upgrade
/// that replaces the files on disk does not mix a new extension into an
/// old master (the handoff would not match); a restart picks it up.
#[derive(Debug)]
pub struct Natives {
    builds: Vec<Build>,
}

#[derive(Debug)]
struct Build {
    tag: String,
    path: PathBuf,
    file: std::fs::File,
}

impl Natives {
    /// Find (see [`extensions`]) and open every build; the first of each
    /// tag wins.
    pub fn open(exe: &Path, native_var: Option<OsString>) -> Result<Natives, PythonError> {
        let mut builds: Vec<Build> = Vec::new();
        for path in extensions(exe, native_var) {
            let unreadable =
                |e: std::io::Error| PythonError::Unreadable(path.clone(), e.to_string());
            let tag = abi_tag(&std::fs::read(&path).map_err(unreadable)?).ok_or_else(|| {
                PythonError::Unreadable(
                    path.clone(),
                    "it is not a build of rsgi's extension".into(),
                )
            })?;
            if builds.iter().any(|b| b.tag == tag) {
                continue;
            }
            let file = std::fs::File::open(&path).map_err(unreadable)?;
            builds.push(Build { tag, path, file });
        }
        if builds.is_empty() {
            let dir = exe.parent().unwrap_or(exe).display();
            return Err(PythonError::NoExtension(format!(
                "{dir}/librsgi_native*.so, {dir}/../lib/python3.*/site-packages/rsgi"
            )));
        }
        Ok(Natives { builds })
    }

    /// The descriptors a child must inherit, and the zygote bootstrap's
    /// arguments: `TAG=/proc/self/fd/N` for each build.
    pub fn inherited(&self) -> (Vec<i32>, Vec<String>) {
        use std::os::fd::AsRawFd;
        self.builds
            .iter()
            .map(|b| {
                let fd = b.file.as_raw_fd();
                (fd, format!("{}=/proc/self/fd/{fd}", b.tag))
            })
            .unzip()
    }

    /// `RSGI_NATIVE` for a child that inherits the descriptors.
    pub fn inherited_var(&self) -> (Vec<i32>, String) {
        use std::os::fd::AsRawFd;
        let fds: Vec<i32> = self.builds.iter().map(|b| b.file.as_raw_fd()).collect();
        let paths: Vec<String> = fds.iter().map(|fd| format!("/proc/self/fd/{fd}")).collect();
        (fds, paths.join(":"))
    }

    /// For the startup log: `abi3 at /path, cp311 at /path`.
    pub fn describe(&self) -> String {
        self.builds
            .iter()
            .map(|b| format!("{} at {}", b.tag, b.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The command that starts a zygote: `python [-O…] -c BOOTSTRAP TAG=PATH…`,
/// with the config's environment. The handoff and the inherited fds (the
/// extension's among them) are the caller's to add.
pub fn zygote_command(python: &Interpreter, builds: &[String], config: &Config) -> Command {
    let mut cmd = Command::new(&python.executable);
    // `optimize`: as a flag, so the app's own subprocesses do not inherit
    // it as PYTHONOPTIMIZE would make them.
    for _ in 0..config.optimize.unwrap_or(0).min(2) {
        cmd.arg("-O");
    }
    cmd.arg("-c").arg(BOOTSTRAP).args(builds);
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
    fn builds_are_found_beside_the_binary_and_in_the_installed_package() {
        let dir = scratch("ext");
        let exe = dir.join("bin/rsgi");
        assert!(extensions(&exe, None).is_empty());
        assert!(matches!(
            Natives::open(&exe, None),
            Err(PythonError::NoExtension(_))
        ));
        let build = |name: &str, tag: &str| {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, format!("\x7fELF...\0rsgi-native-abi={tag}\0..."))
                .expect("write");
            path
        };
        let abi3 = build("lib/python3.12/site-packages/rsgi/_native.abi3.so", "abi3");
        let cp312 = build(
            "lib/python3.12/site-packages/rsgi/_native.cpython-312-x86_64-linux-gnu.so",
            "cp312",
        );
        let beside = build("bin/librsgi_native.so", "abi3");
        assert_eq!(
            extensions(&exe, None),
            [beside.clone(), abi3, cp312.clone()]
        );
        // One build per tag, the first found: beside the binary wins.
        let natives = Natives::open(&exe, None).expect("open");
        assert_eq!(
            natives.describe(),
            format!("abi3 at {}, cp312 at {}", beside.display(), cp312.display())
        );
        let (fds, args) = natives.inherited();
        assert_eq!(fds.len(), 2);
        assert_eq!(args[1], format!("cp312=/proc/self/fd/{}", fds[1]));
        assert_eq!(
            extensions(&exe, Some("/x/a.so:/x/b.so".into())),
            [PathBuf::from("/x/a.so"), PathBuf::from("/x/b.so")]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_abi_tag_is_read_from_the_file() {
        assert_eq!(
            abi_tag(b"xx\0rsgi-native-abi=cp311\0yy").as_deref(),
            Some("cp311")
        );
        assert_eq!(
            abi_tag(b"\0rsgi-native-abi=abi3\0").as_deref(),
            Some("abi3")
        );
        assert_eq!(abi_tag(b"\0rsgi-native-abi=\0"), None);
        assert_eq!(abi_tag(b"\0rsgi-native-abi=../x\0"), None);
        assert_eq!(abi_tag(b"an ordinary file"), None);
    }
}
