//! Any Python: the master links none, and one build serves every CPython
//! from 3.9 on, static builds included, each app in its own venv's
//! interpreter — and Emperor vassals on different versions side by side.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The app answers with the interpreter's version, its prefix, and a
/// module only its venv has.
const APP: &str = r#"
import sys, only_here
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    v = "%d.%d" % sys.version_info[:2]
    return [("%s %s %s" % (v, sys.prefix, only_here.NAME)).encode()]
"#;

/// Every CPython of pyenv's on this machine, as (major.minor, executable),
/// plus the `python3` on PATH.
fn interpreters() -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let root = std::env::var("HOME").unwrap_or_default() + "/.pyenv/versions";
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let exe = entry.path().join("bin/python3");
        if let Some(v) = version_of(&exe) {
            found.push((v, exe));
        }
    }
    if let Some(v) = version_of(Path::new("python3")) {
        found.push((v, PathBuf::from("python3")));
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    found
}

fn version_of(python: &Path) -> Option<String> {
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn minor(version: &str) -> u32 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// A venv of `python` under `dir`, holding the module `only_here`.
fn venv(python: &Path, dir: &Path, name: &str) -> PathBuf {
    let venv = dir.join(name);
    let made = std::process::Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python -m venv");
    assert!(made.success(), "{} -m venv", python.display());
    let version = version_of(&venv.join("bin/python")).expect("the venv's python runs");
    let site = venv.join(format!("lib/python{version}/site-packages"));
    std::fs::write(site.join("only_here.py"), format!("NAME = {name:?}\n")).expect("module");
    venv
}

#[test]
fn the_master_maps_no_libpython() {
    let dir = TempDir::new("nolibpython");
    dir.write(
        "app.py",
        "def application(e, start_response):\n    start_response('200 OK', [])\n    return [b'']\n",
    );
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py"]);
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", s.pid())).expect("maps");
    assert!(
        !maps.contains("libpython"),
        "the master maps libpython:\n{maps}"
    );
    let ldd = std::process::Command::new("ldd")
        .arg(rsgi_binary())
        .output()
        .expect("ldd");
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    assert!(!ldd.contains("libpython"), "ldd rsgi:\n{ldd}");
}

#[test]
fn each_python_from_3_9_serves_its_own_venv() {
    let found = interpreters();
    let usable: Vec<_> = found.iter().filter(|(v, _)| minor(v) >= 9).collect();
    assert!(!usable.is_empty(), "no CPython 3.9+ found");
    for (version, python) in usable {
        let dir = TempDir::new("pyver");
        dir.write("app.py", APP);
        let venv = venv(python, dir.path(), &format!("venv{version}"));
        let v = venv.to_string_lossy().into_owned();
        let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py", "--virtualenv", &v]);
        let body = s.get("/").text();
        assert_eq!(
            body,
            format!("{version} {v} venv{version}"),
            "the app runs on the venv's Python {version}"
        );
        assert!(
            s.log_text()
                .contains(&format!("{v}/bin/python (virtualenv {v})")),
            "the startup log names the interpreter:\n{}",
            s.log_text()
        );
    }
}

#[test]
fn a_python_older_than_3_9_is_refused_with_a_sentence() {
    let Some((_, old)) = interpreters()
        .into_iter()
        .find(|(v, _)| minor(v) < 9 && v.starts_with("3."))
    else {
        eprintln!("no Python 3 older than 3.9 here: nothing to check");
        return;
    };
    let dir = TempDir::new("pyold");
    dir.write("app.py", APP);
    let old = old.to_string_lossy().into_owned();
    let mut s = Server::spawn(
        dir,
        &["--wsgi-file", "{dir}/app.py", "--python", &old],
        true,
    );
    assert_eq!(s.wait_exit(PATIENCE), Some(22), "{}", s.log_text());
    assert!(
        s.log_text()
            .contains("rsgi runs apps on Python 3.9 or later"),
        "{}",
        s.log_text()
    );
}

/// Debian's /usr/bin/python3 has libpython linked in statically: the
/// extension takes its Python symbols from the executable.
#[test]
fn an_interpreter_without_a_shared_libpython_serves() {
    let python = Path::new("/usr/bin/python3");
    let ldd = std::process::Command::new("ldd").arg(python).output();
    let Ok(ldd) = ldd else {
        eprintln!("no ldd: skipped");
        return;
    };
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    if !python.exists() || ldd.contains("libpython") {
        eprintln!("/usr/bin/python3 is missing or links a shared libpython: skipped\n{ldd}");
        return;
    }
    let dir = TempDir::new("pystatic");
    dir.write(
        "app.py",
        "import sys\ndef application(e, start_response):\n    start_response('200 OK', [])\n    return [sys.executable.encode()]\n",
    );
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--python",
            "/usr/bin/python3",
        ],
    );
    assert_eq!(s.get("/").text(), "/usr/bin/python3");
    let worker = *worker_pids(s.pid()).first().expect("a worker");
    let maps = std::fs::read_to_string(format!("/proc/{worker}/maps")).expect("maps");
    assert!(
        !maps.contains("libpython"),
        "a worker of the static interpreter maps no libpython"
    );
}

#[test]
fn emperor_vassals_run_on_two_python_versions_at_once() {
    let found: Vec<_> = interpreters()
        .into_iter()
        .filter(|(v, _)| minor(v) >= 9)
        .collect();
    let (Some(first), Some(last)) = (found.first(), found.last()) else {
        panic!("no CPython 3.9+ found");
    };
    if first.0 == last.0 {
        eprintln!("one Python version only: the two-version half is not checked here");
        return;
    }
    let dir = TempDir::new("emperor-pyver");
    dir.write("app.py", APP);
    let vassals = dir.path().join("vassals");
    std::fs::create_dir_all(&vassals).expect("vassals dir");
    let mut expected = Vec::new();
    for (version, python) in [first, last] {
        let venv = venv(python, dir.path(), &format!("venv{version}"));
        let socket = dir.path().join(format!("app{version}.sock"));
        std::fs::write(
            vassals.join(format!("app{version}.ini")),
            format!(
                "[uwsgi]\nhttp-socket = {}\nwsgi-file = {}/app.py\nvirtualenv = {}\n",
                socket.display(),
                dir.path().display(),
                venv.display()
            ),
        )
        .expect("vassal ini");
        expected.push((
            socket,
            format!("{version} {} venv{version}", venv.display()),
        ));
    }
    let v = vassals.to_string_lossy().into_owned();
    let s = Server::spawn(dir, &["--emperor", &v], false);
    for (port, body) in &expected {
        wait_until("both vassals to serve", PATIENCE, || {
            ok_body(port).as_deref() == Some(body.as_str())
        });
    }
    drop(s);
}
