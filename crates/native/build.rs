//! Two jobs.
//!
//! Always: record which Python ABI this build is for, so the zygote's
//! bootstrap picks a file that fits without loading a wrong one: `abi3`
//! (every CPython from 3.9 on) or `cp3XY` (that version only, with `t` for
//! a free-threaded interpreter).
//!
//! For wheels only (the `wheel` feature, which pyproject.toml turns on):
//! maturin builds this package for one Python version and packs it with
//! the `python/rsgi` package; the wheel also needs the master binary (the
//! `rsgi` command, another package) and a stable-ABI build of this
//! extension for interpreters of other versions. Build both here with a
//! cargo of its own (its own target directory, so the builds do not wait
//! on each other's lock) and put them where pyproject.toml has maturin
//! pick them up. `cargo build` never takes this path.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=RSGI_NATIVE_ABI={}", abi_tag());
    if std::env::var_os("CARGO_FEATURE_WHEEL").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_WHEEL");
    if let Err(e) = bundle() {
        // A build script reports failure by panicking; this message is
        // what cargo and pip show.
        panic!("building the rest of rsgi's wheel failed: {e}");
    }
}

fn abi_tag() -> String {
    use pyo3_build_config::PythonAbiKind;
    let config = pyo3_build_config::get();
    let kind = config.target_abi().kind();
    match kind {
        PythonAbiKind::Stable(_) => "abi3".to_string(),
        PythonAbiKind::VersionSpecific(_) => {
            let v = config.version();
            let threads = if kind.is_free_threaded() { "t" } else { "" };
            format!("cp{}{}{threads}", v.major, v.minor)
        }
    }
}

fn bundle() -> Result<(), String> {
    let env = |k: &str| std::env::var(k).map_err(|e| format!("{k}: {e}"));
    let crate_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let root = crate_dir
        .ancestors()
        .nth(2)
        .ok_or("crates/native is not two levels below the workspace")?
        .to_path_buf();
    for dir in ["src", "crates/core/src", "crates/native/src", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let out = PathBuf::from(env("OUT_DIR")?);
    // OUT_DIR is TARGET/PROFILE/build/rsgi-native-HASH/out: the nested
    // build gets TARGET/wheel-parts, kept between builds.
    let target = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("wheel-parts"))
        .ok_or("OUT_DIR is not inside a target directory")?;
    let release = env("PROFILE")? == "release";
    let mut cargo = Command::new(env("CARGO")?);
    // What cargo set for this build script is not for the nested build:
    // an inherited CARGO_FEATURE_WHEEL would make the nested build of this
    // package run this very function again, and so on without end.
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if (name.starts_with("CARGO_") && name != "CARGO_HOME") || name.contains("RUSTFLAGS") {
            cargo.env_remove(&var);
        }
    }
    cargo
        .current_dir(&root)
        .args(["build", "--locked", "-p", "rsgi", "-p", "rsgi-native"])
        .arg("--target-dir")
        .arg(&target);
    if release {
        // Debug line tables are for developers; a wheel carries none.
        cargo
            .arg("--release")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    }
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p rsgi -p rsgi-native: {status}"));
    }
    let built = target.join(if release { "release" } else { "debug" });
    // The wheel's data directory, named for this version: maturin's
    // include copies it into the wheel as is, and pip installs its
    // scripts/ into the environment's bin/. An older version's goes.
    let python = root.join("python");
    for entry in std::fs::read_dir(&python).map_err(|e| format!("{}: {e}", python.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("rsgi-") && name.ends_with(".data") {
            std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let scripts = python.join(format!("rsgi-{}.data/scripts", env("CARGO_PKG_VERSION")?));
    std::fs::create_dir_all(&scripts).map_err(|e| format!("{}: {e}", scripts.display()))?;
    copy(&built.join("rsgi"), &scripts.join("rsgi"))?;
    copy(
        &built.join("librsgi_native.so"),
        &root.join("python/rsgi/_native.abi3.so"),
    )
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}
