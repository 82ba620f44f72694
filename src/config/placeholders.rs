//! uWSGI placeholders in values: `%(key)` (a value set before), `$(ENV)`
//! (an environment variable), and in files `%d` (the file's directory,
//! with a trailing slash), `%n` (its name without extension), `%p` (its
//! absolute path), `%c` (the name of its directory), `%%` (a percent sign).

use std::collections::HashSet;
use std::path::Path;

use super::options;
use super::source::Entry;

pub fn expand(
    raw: &str,
    file: Option<&Path>,
    earlier: &[Entry],
    env: &dyn Fn(&str) -> Option<String>,
    referenced: &mut HashSet<String>,
) -> String {
    if !raw.contains('%') && !raw.contains("$(") {
        return raw.to_string();
    }
    let abs = file.map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf()));
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['%', '$']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(inner) = tail.strip_prefix("$(")
            && let Some(end) = inner.find(')')
        {
            out.push_str(&env(&inner[..end]).unwrap_or_default());
            rest = &inner[end + 1..];
            continue;
        }
        if let Some(inner) = tail.strip_prefix("%(")
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            let canonical = options::find(name).map(|o| o.name);
            let value = earlier.iter().rev().find(|e| {
                e.key == name
                    || (canonical.is_some() && options::find(&e.key).map(|o| o.name) == canonical)
            });
            // As in uWSGI, a %(name) that names nothing set before it stays
            // as written: log-format's %(method) and friends rely on it.
            match value {
                Some(e) => {
                    referenced.insert(name.to_string());
                    out.push_str(&e.value);
                }
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &inner[end + 1..];
            continue;
        }
        let magic = tail.chars().nth(1);
        let replaced = match (magic, &abs, tail.starts_with('%')) {
            (Some('%'), Some(_), true) => Some("%".to_string()),
            (Some('d'), Some(p), true) => p.parent().map(|d| format!("{}/", d.display())),
            (Some('n'), Some(p), true) => p.file_stem().map(|s| s.to_string_lossy().into_owned()),
            (Some('p'), Some(p), true) => Some(p.display().to_string()),
            (Some('c'), Some(p), true) => p
                .parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().into_owned()),
            _ => None,
        };
        match replaced {
            Some(text) => {
                out.push_str(&text);
                rest = &tail[2..];
            }
            None => {
                out.push(tail.chars().next().unwrap_or('%'));
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::config::Origin;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            origin: Origin::CommandLine,
        }
    }

    fn run(raw: &str, file: Option<&str>, earlier: &[Entry]) -> String {
        let env = |k: &str| (k == "HOME_DIR").then(|| "/home/x".to_string());
        let file = file.map(PathBuf::from);
        expand(raw, file.as_deref(), earlier, &env, &mut HashSet::new())
    }

    #[test]
    fn expands_magic_vars_of_the_file() {
        let f = Some("/srv/app/conf/site.ini");
        assert_eq!(run("%dreload.txt", f, &[]), "/srv/app/conf/reload.txt");
        assert_eq!(run("/run/%n.sock", f, &[]), "/run/site.sock");
        assert_eq!(run("%p", f, &[]), "/srv/app/conf/site.ini");
        assert_eq!(run("%c", f, &[]), "conf");
        assert_eq!(run("100%%", f, &[]), "100%");
        assert_eq!(run("%d", None, &[]), "%d", "no file: left alone");
    }

    #[test]
    fn expands_references_and_env_and_keeps_unknown_names() {
        let earlier = [entry("base", "/srv"), entry("workers", "4")];
        assert_eq!(run("%(base)/app", None, &earlier), "/srv/app");
        assert_eq!(run("%(processes)", None, &earlier), "4", "aliases resolve");
        assert_eq!(run("$(HOME_DIR)/v", None, &[]), "/home/x/v");
        assert_eq!(run("$(NOPE)x", None, &[]), "x");
        assert_eq!(run("%(method) %(uri)", None, &earlier), "%(method) %(uri)");
    }
}
