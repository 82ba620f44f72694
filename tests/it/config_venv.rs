//! `home` / `virtualenv` isolates the app as uWSGI does: it imports the
//! venv's packages, not the base interpreter's. The venv is made once with
//! `python3 -m venv` under tests/.cache (gitignored) and holds another
//! version of a small pure-Python package (blinker) than the base
//! interpreter; installing it needs the package registry, and the test is
//! skipped, saying so, only when the registry cannot be reached.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const PACKAGE: &str = "blinker";

fn base_version() -> Option<String> {
    let out = run(
        Command::new("python3").args([
            "-c",
            &format!("import importlib.metadata as m; print(m.version('{PACKAGE}'))"),
        ]),
        b"",
        PATIENCE,
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn unreachable_registry(stderr: &str) -> bool {
    [
        "NewConnectionError",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "Max retries exceeded",
        "Connection refused",
        "No matching distribution found",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

/// The cached venv with `PACKAGE==version`, made on first use; None (with
/// a message) when the registry cannot be reached.
fn venv_with(version: &str) -> Option<PathBuf> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.cache");
    let venv = cache.join(format!("venv-{PACKAGE}-{version}"));
    if venv.join("ready").exists() {
        return Some(venv);
    }
    std::fs::create_dir_all(&cache).expect("tests/.cache");
    // Build aside and rename, so an interrupted run leaves no half venv.
    let building = cache.join(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let made = run(
        Command::new("python3").args(["-m", "venv"]).arg(&building),
        b"",
        PATIENCE,
    );
    assert!(made.status.success(), "python3 -m venv failed: {made:?}");
    let pip = run(
        Command::new(building.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .arg(format!("{PACKAGE}=={version}")),
        b"",
        PATIENCE * 4,
    );
    if !pip.status.success() {
        let stderr = String::from_utf8_lossy(&pip.stderr);
        let _ = std::fs::remove_dir_all(&building);
        if unreachable_registry(&stderr) {
            eprintln!(
                "SKIPPED: the package registry is unreachable, so no venv with {PACKAGE}=={version} could be made:\n{stderr}"
            );
            return None;
        }
        panic!("pip install {PACKAGE}=={version} failed:\n{stderr}");
    }
    std::fs::write(building.join("ready"), "").expect("mark ready");
    match std::fs::rename(&building, &venv) {
        Ok(()) => {}
        // Another run made it meanwhile.
        Err(_) if venv.join("ready").exists() => {
            let _ = std::fs::remove_dir_all(&building);
        }
        Err(e) => panic!("cannot move the venv into tests/.cache: {e}"),
    }
    Some(venv)
}

#[test]
fn the_app_imports_the_venvs_packages_not_the_base_interpreters() {
    let base = base_version();
    // Any version other than the base interpreter's will do.
    let version = if base.as_deref() == Some("1.8.2") {
        "1.7.0"
    } else {
        "1.8.2"
    };
    let Some(venv) = venv_with(version) else {
        return;
    };
    let dir = TempDir::new("venv");
    dir.write(
        "app.py",
        &format!(
            r#"
import sys, importlib.metadata, {PACKAGE}
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    lines = [importlib.metadata.version("{PACKAGE}"), {PACKAGE}.__file__, sys.prefix] + sys.path
    return ["\n".join(lines).encode()]
"#
        ),
    );
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--virtualenv",
            &venv.to_string_lossy(),
        ],
    );
    let body = s.get("/").text();
    let lines: Vec<&str> = body.lines().collect();
    let venv_real = std::fs::canonicalize(&venv).unwrap();
    assert_eq!(
        lines[0], version,
        "the venv's {PACKAGE}, not the base's {base:?}:\n{body}"
    );
    let file = std::fs::canonicalize(lines[1]).unwrap();
    assert!(
        file.starts_with(&venv_real),
        "{PACKAGE} from {}:\n{body}",
        lines[1]
    );
    assert_eq!(
        std::fs::canonicalize(lines[2]).unwrap(),
        venv_real,
        "sys.prefix"
    );
    // No other site-packages than the venv's is on sys.path.
    for entry in &lines[3..] {
        if entry.ends_with("site-packages") {
            let real = std::fs::canonicalize(entry).unwrap_or_else(|_| PathBuf::from(entry));
            assert!(
                real.starts_with(&venv_real),
                "{entry} is on sys.path:\n{body}"
            );
        }
    }
    let log = s.log_text();
    assert!(
        log.contains("interpreter ready")
            && log.contains(&format!("(virtualenv {})", venv.display())),
        "the startup log names the interpreter and the venv:\n{log}"
    );
}
