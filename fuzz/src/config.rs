//! The config layer: ini, TOML, YAML and JSON text through the readers
//! (`config::formats`) and through the whole loader (`config::load_with`,
//! as `rsgi --ini FILE` runs it: magic variables, `if-*` / `for*` blocks,
//! `set`, placeholders, typing), and each line through magic variables
//! (`placeholders::Magic`) and placeholder expansion
//! (`placeholders::expand`). Input: one byte that picks the format, then
//! the file's text (taken as UTF-8, invalid sequences replaced).
//!
//! Invariants: no panic; an error says something; an accepted config
//! prints (`--check-config`); a value without placeholders is taken as
//! written; expansion is bounded by what it substitutes; memory stays
//! under libFuzzer's `-rss_limit_mb`.
//!
//! The loader only runs on a text that cannot reach outside the process:
//! see [`stays_inside`]. What it leaves out (includes, `@(FILE)`,
//! `@(exec://CMD)`, `for-readline`, `for-glob`) reads files or runs
//! commands the fuzzer would name at random (`/dev/zero`, a FIFO, `rm`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rsgi_core::config::placeholders::{self, Globals, Magic, Scope};
use rsgi_core::config::{self, ConfigError, Entry, Origin, formats, options};

/// The formats, by the first input byte.
const FORMATS: [&str; 4] = ["ini", "toml", "yaml", "json"];

/// The variables `$(NAME)` finds: a few, one of them holding placeholders
/// itself (a value is not expanded again).
fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/fuzz".into()),
        "APP" => Some("site".into()),
        "TRICKY" => Some("%(processes)$(HOME)%d".into()),
        _ => None,
    }
}

pub fn check(data: &[u8]) {
    let Some((&which, text)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(which) % FORMATS.len()];
    let text = String::from_utf8_lossy(text);
    // No extension: %e and %s must not spell an include's name.
    let path = scratch_dir().join("input");
    check_lines(&text, &path);
    let read = match format {
        "ini" => formats::ini(&text, &path, None),
        "toml" => formats::toml(&text, &path, None),
        "yaml" => formats::yaml(&text, &path, None),
        _ => formats::json(&text, &path, None),
    };
    let pairs = match read {
        Ok(pairs) => pairs,
        Err(e) => {
            check_error(&e, &path);
            return;
        }
    };
    let lines = text.lines().count().max(1);
    for (key, _, line) in &pairs {
        assert!(*line <= lines, "{key} at line {line} of {lines}");
    }
    if !stays_inside(&text, &pairs) {
        return;
    }
    std::fs::write(&path, text.as_bytes()).expect("write the scratch config");
    let args = [format!("--{format}"), path.display().to_string()];
    match config::load_with(&args, &env, &[]) {
        Ok(loaded) => {
            config::check_config_text(&loaded);
        }
        Err(e) => check_error(&e, &path),
    }
}

/// Keys that read a file or list directories: an include (`ini`,
/// `config`...), `for-readline`, `for-glob`.
fn reaches_outside(key: &str) -> bool {
    options::find(key).is_some_and(|o| {
        o.kind == options::Kind::Include || matches!(o.name, "for-readline" | "for-glob")
    })
}

/// Whether loading `text` stays inside this process. `@(` is the only
/// way to a file's contents or a command in a value, and values are not
/// expanded twice, so a text without `@` never gets there. A key is never
/// expanded; only `set NAME=VALUE` makes a key of a value, so its NAME
/// must be written out (no `%`, `$`) and harmless.
fn stays_inside(text: &str, pairs: &[(String, String, usize)]) -> bool {
    if text.contains('@') {
        return false;
    }
    pairs.iter().all(|(key, value, _)| {
        if reaches_outside(key) {
            return false;
        }
        let is_set = |k: &str| options::find(k).is_some_and(|o| o.name == "set");
        if !is_set(key) {
            return true;
        }
        match value.split_once('=') {
            Some((name, _)) => {
                let name = name.trim();
                !name.contains(['%', '$']) && !reaches_outside(name) && !is_set(name)
            }
            // Without a written `=`, one could only come from expansion.
            None => !value.contains(['%', '$']),
        }
    })
}

/// An error says something; a file's syntax error names the file.
fn check_error(e: &ConfigError, path: &Path) {
    assert!(!e.to_string().is_empty());
    if let ConfigError::Syntax { path: p, .. } | ConfigError::NoSection { path: p, .. } = e {
        assert_eq!(p, path);
    }
}

/// Each line of the text as a value: magic variables as if it were read
/// from `path`, then placeholders against a few earlier entries.
fn check_lines(text: &str, path: &Path) {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    let globals = GLOBALS.get_or_init(Globals::of_this_process);
    let magic = Magic::for_file("input", path, None, globals, None);
    let earlier = [
        entry("base", "/srv/app"),
        entry("processes", "4"),
        entry("loop", "%(loop)"),
    ];
    let scope = Scope {
        earlier: &earlier,
        env: &env,
    };
    for raw in text.lines() {
        if let Ok(applied) = magic.apply(raw)
            && !raw.contains('%')
        {
            assert_eq!(applied, raw);
        }
        if raw.contains('@') {
            continue;
        }
        let mut referenced = HashSet::new();
        let Ok(expanded) = placeholders::expand(raw, &scope, &mut referenced) else {
            continue;
        };
        let out = expanded.value;
        if !raw.contains("$(") && !raw.contains("%(") {
            assert_eq!(out, raw);
        }
        // What one placeholder stands for here is at most 22 bytes (an
        // env value, a number), and each takes at least one byte.
        assert!(
            out.len() <= 22 * raw.len() + 22,
            "{raw:?} grew to {} bytes",
            out.len()
        );
    }
}

fn entry(key: &str, value: &str) -> Entry {
    Entry {
        key: key.into(),
        value: value.into(),
        origin: Origin::CommandLine,
    }
}

/// Where the loader's input is written: one directory per process.
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rsgi-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
}
