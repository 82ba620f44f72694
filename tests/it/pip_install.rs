//! `pip install .` from the source tree into a fresh venv gives a working
//! `rsgi` command, exactly as the README's first command for Python users
//! says: `python3 -m venv v && v/bin/pip install . && v/bin/rsgi --http
//! :9090 --wsgi-file config-examples/hello.py`.
//!
//! The build is maturin's release build (a few minutes on two cores the
//! first time); its cargo target directory is kept in tests/.cache so
//! later runs only rebuild what changed. pip fetches maturin from PyPI.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

#[test]
fn pip_install_from_the_source_tree_gives_a_working_rsgi_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new("pip");
    let venv = dir.path().join("v");
    let made = run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        b"",
        PATIENCE,
    );
    assert!(made.status.success(), "python3 -m venv: {made:?}");
    let installed = run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "."])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", root.join("tests/.cache/pip-target")),
        b"",
        Duration::from_secs(30 * 60),
    );
    assert!(
        installed.status.success(),
        "pip install . failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let version = run(
        Command::new(venv.join("bin/python")).args(["-m", "rsgi", "--version"]),
        b"",
        PATIENCE,
    );
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("rsgi {}", env!("CARGO_PKG_VERSION"))
    );

    let socket = dir.path().join("http.sock");
    let log = dir.path().join("rsgi.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut cmd = Command::new(venv.join("bin/rsgi"));
    cmd.arg("--http")
        .arg(&socket)
        .arg("--wsgi-file")
        .arg(root.join("config-examples/hello.py"))
        // Not the test's environment's Python: the venv rsgi is in.
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    let _rsgi = Guard::spawn(&mut cmd, &[]).expect("start the installed rsgi");
    wait_until("the installed rsgi to serve", PATIENCE, || {
        ok_body(&socket).is_some()
    });
    assert_eq!(ok_body(&socket).as_deref(), Some("Hello, World!\n"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!(
            "the app runs in {}/bin/python (the environment rsgi is installed in)",
            venv.display()
        )),
        "{text}"
    );
    // The wheel carries a build for the Python it was made with, which the
    // app's interpreter (that same Python) loads, and a stable-ABI one.
    assert!(
        text.contains("site-packages/rsgi/_native.abi3.so"),
        "{text}"
    );
    let tag = run(
        Command::new(venv.join("bin/python"))
            .args(["-c", "import sys; print('cp%d%d' % sys.version_info[:2])"]),
        b"",
        PATIENCE,
    );
    let tag = String::from_utf8_lossy(&tag.stdout).trim().to_string();
    assert!(
        text.contains(&format!("extension=\"{tag}\"")),
        "the per-version build is the one loaded:\n{text}"
    );
}
