//! Imports run one way. Each crate's top-level modules form layers, and a
//! module may name (`crate::x`) only modules of the layers below its own;
//! the crates themselves stack as core ← native, core ← master. A test
//! module (`#[cfg(test)] mod tests`) may reach anywhere in its crate.

use std::path::{Path, PathBuf};

/// Per crate: its source directory and its layers, bottom first.
const CRATES: &[(&str, &[&[&str]])] = &[
    (
        "crates/core/src",
        &[
            &["protocol", "net", "logfile", "proctitle", "stats", "cron"],
            &["logger"],
            &["ipc"],
            &["logformat"],
            &["config"],
            &["static_files", "hooks"],
        ],
    ),
    (
        "crates/native/src",
        &[
            &["wsgi"],
            &["uwsgi_api"],
            &["worker"],
            &["interpreter"],
            &["zygote"],
        ],
    ),
    (
        "src",
        &[&["systemd", "stats", "daemon"], &["master"], &["emperor"]],
    ),
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level module a file belongs to (`worker` for worker/conn.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    Some(name.trim_end_matches(".rs").to_string())
}

/// The `crate::NAME` paths in `text`, outside its test module.
fn uses(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.push(name);
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    for (dir, layers) in CRATES {
        let src = root.join(dir);
        let layer_of = |m: &str| layers.iter().position(|l| l.contains(&m));
        for file in sources(&src) {
            let Some(module) = module_of(&src, &file) else {
                continue;
            };
            // The crate roots (lib.rs, main.rs) stand above every layer.
            let Some(own) = layer_of(&module) else {
                assert!(
                    ["lib", "main"].contains(&module.as_str()),
                    "{}: module {module} is in no layer of {dir}; add it to CRATES",
                    file.display()
                );
                continue;
            };
            let text = std::fs::read_to_string(&file).expect("read");
            for used in uses(&text) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(layer) if layer < own => {}
                    _ => wrong.push(format!("{}: {module} uses crate::{used}", file.display())),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run upward:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_master_and_the_core_do_not_depend_on_python() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for manifest in ["Cargo.toml", "crates/core/Cargo.toml"] {
        let text = std::fs::read_to_string(root.join(manifest)).expect("read");
        let deps = text.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        assert!(
            !deps.contains("pyo3") && !deps.contains("rsgi-native"),
            "{manifest} depends on Python:\n{deps}"
        );
    }
}
