//! Only for wheels. maturin packs this binary and the `python/rsgi`
//! package into one wheel, but builds only this package; the Python
//! extension lives in another (crates/native). With the `bundle-native`
//! feature, which pyproject.toml turns on, build the extension here with
//! a cargo of its own (its own target directory, so the two builds do not
//! wait on each other's lock) and put it in the Python package, where the
//! installed master looks for it. `cargo build` and `cargo run` never
//! take this path: the workspace builds the extension beside the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BUNDLE_NATIVE").is_none() {
        return;
    }
    for dir in ["crates/native/src", "crates/core/src", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    if let Err(e) = bundle() {
        // A build script reports failure by panicking; this message is
        // what cargo and pip show.
        panic!("building rsgi's Python extension for the wheel failed: {e}");
    }
}

fn bundle() -> Result<(), String> {
    let env = |k: &str| std::env::var(k).map_err(|e| format!("{k}: {e}"));
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?);
    // OUT_DIR is TARGET/PROFILE/build/rsgi-HASH/out: the nested build gets
    // TARGET/bundle-native, kept between builds.
    let target = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("bundle-native"))
        .ok_or("OUT_DIR is not inside a target directory")?;
    let release = env("PROFILE")? == "release";
    let mut cargo = Command::new(env("CARGO")?);
    cargo
        .current_dir(&root)
        .args(["build", "--locked", "-p", "rsgi-native", "--target-dir"])
        .arg(&target);
    if release {
        // Debug line tables are for developers; a wheel carries none.
        cargo
            .arg("--release")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    }
    // What cargo set for this build script is not for the nested build.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_MAKEFLAGS",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p rsgi-native: {status}"));
    }
    let built = target
        .join(if release { "release" } else { "debug" })
        .join("librsgi_native.so");
    let dest = root.join("python/rsgi/_native.abi3.so");
    copy(&built, &dest)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}
