//! `pip install .` from the source tree into a fresh venv gives a working
//! `rsgi` command, exactly as the README's first command for Python users
//! says: `python3 -m venv v && v/bin/pip install . && v/bin/rsgi --http
//! :9090 --wsgi-file config-examples/hello.py`.
//!
//! The build is maturin's release build (a few minutes on two cores the
//! first time); its cargo target directory is kept in tests/.cache so
//! later runs only rebuild what changed. pip fetches maturin from PyPI.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Run `cmd` to completion within `limit`, or kill it; its output goes to
/// `log`. Returns whether it succeeded.
fn run_bounded(cmd: &mut Command, limit: Duration, log: &Path) -> bool {
    let out = std::fs::File::create(log).expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pip_install_from_the_source_tree_gives_a_working_rsgi_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new("pip");
    let venv = dir.path().join("v");
    let log = dir.path().join("pip.log");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(made.success());
    let installed = run_bounded(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "."])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", root.join("tests/.cache/pip-target")),
        Duration::from_secs(30 * 60),
        &log,
    );
    assert!(
        installed,
        "pip install . failed:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let version = Command::new(venv.join("bin/python"))
        .args(["-m", "rsgi", "--version"])
        .output()
        .expect("python -m rsgi");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("rsgi {}", env!("CARGO_PKG_VERSION"))
    );

    let port = free_port();
    let server_log = dir.path().join("rsgi.log");
    let out = std::fs::File::create(&server_log).expect("log");
    let child = Command::new(venv.join("bin/rsgi"))
        .args(["--http", &format!("127.0.0.1:{port}"), "--wsgi-file"])
        .arg(root.join("config-examples/hello.py"))
        // Not the test's environment's Python: the venv rsgi is in.
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("start the installed rsgi");
    let _guard = KillOnDrop(child);
    wait_until(
        "the installed rsgi to serve",
        Duration::from_secs(30),
        || ok_body(port).is_some(),
    );
    assert_eq!(ok_body(port).as_deref(), Some("Hello, World!\n"));
    let text = std::fs::read_to_string(&server_log).unwrap_or_default();
    assert!(
        text.contains(&format!(
            "the app runs in {}/bin/python (the environment rsgi is installed in)",
            venv.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("site-packages/rsgi/_native.abi3.so"),
        "{text}"
    );
}

/// Kills the process (and its children) by PID when the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        for child in descendants(pid).into_iter().chain([pid]) {
            // SAFETY: kill(2) on processes this test started.
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}
