//! Embed the directory of the linked libpython as an rpath, so the binary
//! runs without LD_LIBRARY_PATH when Python lives outside the system dirs
//! (pyenv, /opt, a venv's base interpreter).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')",
        ])
        .output();
    let Ok(out) = out else { return };
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let system_dirs = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib"];
    let is_system = libdir.is_empty()
        || system_dirs.contains(&libdir.as_str())
        || libdir.starts_with("/usr/lib/x86_64-linux-gnu")
        || libdir.starts_with("/usr/lib/aarch64-linux-gnu");
    if !is_system {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    }
}
