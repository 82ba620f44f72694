//! Finding vassal config files: a directory (every .ini/.toml/.yaml/.yml
//! in it) or a glob whose `*` and `?` are in the file name
//! (`/etc/rsgi/*.ini`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const EXTENSIONS: [&str; 4] = ["ini", "toml", "yaml", "yml"];

/// Every matching config file, with its mtime.
pub fn config_files(patterns: &[String]) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut out = BTreeMap::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let (dir, name_glob) = if path.is_dir() {
            (path.to_path_buf(), None)
        } else {
            (
                path.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                path.file_name().map(|n| n.to_string_lossy().into_owned()),
            )
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let wanted = match &name_glob {
                Some(g) => glob_match(g, &name),
                None => p
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e)),
            };
            if wanted && p.is_file() {
                out.insert(p, entry.metadata().and_then(|m| m.modified()).ok());
            }
        }
    }
    out
}

/// `*` matches any run of characters, `?` any one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.ini", "app.ini"));
        assert!(!glob_match("*.ini", "app.ini.bak"));
        assert!(glob_match("app?.toml", "app1.toml"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("a*b", "ac"));
    }
}
