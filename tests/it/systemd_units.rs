//! The unit files in systemd/ pass `systemd-analyze verify`.

use crate::common::*;

#[test]
fn units_verify() {
    let found = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing but CI must run this test"
        );
        eprintln!("skipping: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let dir = TempDir::new("units");
    let exe = env!("CARGO_BIN_EXE_rsgi");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut paths = Vec::new();
    for (unit, as_name) in [
        ("rsgi.service", "rsgi.service"),
        ("rsgi.socket", "rsgi.socket"),
        ("rsgi@.service", "rsgi@demo.service"),
    ] {
        let text = std::fs::read_to_string(format!("{root}/systemd/{unit}")).unwrap();
        // The units name the installed binary; verify them against this build.
        let text = text.replace("/usr/local/bin/rsgi", exe);
        paths.push(dir.write(as_name, &text).display().to_string());
    }
    let out = run(
        std::process::Command::new("systemd-analyze")
            .arg("verify")
            .args(&paths),
        b"",
        PATIENCE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // systemd-analyze also complains about the host (no running systemd in
    // a container); only lines about our units count.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("rsgi")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}
