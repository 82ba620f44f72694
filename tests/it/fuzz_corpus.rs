//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the
//! fuzz targets' own checks, on stable Rust and without libFuzzer, so that
//! every input a fuzzer once found interesting stays a regression test.
//! The checks are fuzz/src/*.rs, compiled into this test as a module.
//!
//! `RSGI_FUZZ_EXTRA=fuzz/work` replays a fuzzing run's working corpora
//! (fuzz/work/<target>/) as well, and holds all of their targets up to
//! Python's `urllib.parse`.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fuzz_checks::target_path::Compared;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What a committed corpus may weigh (CI replays it in seconds). A
/// minimised http_head corpus needs about 370 files to keep every edge
/// (many error paths are each reached by one input).
const MAX_FILES: usize = 400;
const MAX_BYTES: u64 = 2 << 20;

/// The directories that hold `target`'s inputs.
fn dirs(target: &str) -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(ROOT).join("fuzz/corpus").join(target)];
    if let Ok(extra) = std::env::var("RSGI_FUZZ_EXTRA") {
        for d in extra.split(':').filter(|d| !d.is_empty()) {
            let d = Path::new(ROOT).join(d).join(target);
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    dirs
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("a corpus file"))
        })
        .collect();
    out.sort();
    out
}

/// Run `check` on every input of `target`; name every one that fails.
fn replay(target: &str, check: fn(&[u8])) {
    let committed = files(&dirs(target)[0]);
    assert!(!committed.is_empty(), "fuzz/corpus/{target} is empty");
    let bytes: u64 = committed.iter().map(|(_, d)| d.len() as u64).sum();
    assert!(
        committed.len() <= MAX_FILES && bytes <= MAX_BYTES,
        "fuzz/corpus/{target}: {} files, {bytes} bytes; minimise it (fuzz/README.md)",
        committed.len()
    );
    let mut failed = Vec::new();
    let mut count = 0;
    for dir in dirs(target) {
        for (name, data) in files(&dir) {
            count += 1;
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(format!("{}/{name}", dir.display()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {count} inputs fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn http_head() {
    replay("http_head", fuzz_checks::http_head::check);
}

#[test]
fn chunked() {
    replay("chunked", fuzz_checks::chunked::check);
}

#[test]
fn uwsgi_packet() {
    replay("uwsgi_packet", fuzz_checks::uwsgi_packet::check);
}

#[test]
fn target_path() {
    replay("target_path", fuzz_checks::target_path::check);
}

#[test]
fn config() {
    replay("config", fuzz_checks::config::check);
    let _ = std::fs::remove_dir_all(fuzz_checks::config::scratch_dir());
}

#[test]
fn logformat() {
    replay("logformat", fuzz_checks::logformat::check);
}

#[test]
fn response() {
    replay("response", fuzz_checks::response::check);
}

/// rsgi's PATH_INFO and QUERY_STRING for each target in the corpus agree
/// with Python's `urllib.parse` (fuzz/differential/urlsplit.py), but for
/// the differences `compare_with_python` lists.
#[test]
fn target_path_agrees_with_python_urllib() {
    let dirs = dirs("target_path");
    let output = Command::new("python3")
        .arg(Path::new(ROOT).join("fuzz/differential/urlsplit.py"))
        .args(&dirs)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "urlsplit.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut python: HashMap<String, serde_json::Value> = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let name = value["file"].as_str().expect("a file name").to_string();
        python.insert(name, value);
    }
    let (mut tally, mut failed) = (HashMap::new(), Vec::new());
    for dir in &dirs {
        for (name, data) in files(dir) {
            let reading = python.get(&name).expect("python read every file");
            match fuzz_checks::target_path::compare_with_python(&data, reading) {
                Ok(how) => *tally.entry(format!("{how:?}")).or_insert(0) += 1,
                Err(why) => failed.push(format!(
                    "{name} {:?}: {why}",
                    String::from_utf8_lossy(&data)
                )),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} differences:\n{}",
        failed.len(),
        failed.join("\n")
    );
    eprintln!("compared with urllib.parse: {tally:?}");
    assert!(
        tally
            .get(&format!("{:?}", Compared::Same))
            .is_some_and(|&n| n >= 10),
        "{tally:?}"
    );
}
