//! uWSGI's config logic: `if-*` and `for*` blocks, closed by `endif` /
//! `endfor` (core/config.c). A block applies to every option that follows
//! it, one at a time: an `if-*` keeps the option when its condition holds,
//! a `for*` adds it once per item; `%(_)` in the option's value is the
//! block's value (the variable, file, item). As in uWSGI, blocks do not
//! nest: a block opened inside another (when the outer one lets it
//! through) replaces it, and the first `endif` / `endfor` closes them all.

use std::ffi::{CStr, CString};
use std::path::Path;

/// An open block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// `if-*`: whether the condition holds, and what `%(_)` stands for
    /// (None: `%(_)` is left alone, as for `if-reload`).
    If { holds: bool, data: Option<String> },
    /// `for*`: one option per item.
    For { items: Vec<String> },
}

/// What the conditions look at.
pub struct Facts<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The latest value of a config key set before the block.
    pub option: &'a dyn Fn(&str) -> Option<String>,
    /// This load re-reads the config (SIGHUP), as uWSGI's `is_a_reload`.
    pub reload: bool,
    pub hostname: &'a str,
}

/// The most iterations `for-times` makes.
const MAX_TIMES: u64 = 10_000;

/// The names that close a block (uWSGI also accepts a bare `end`).
pub fn is_close(name: &str) -> bool {
    matches!(name, "endif" | "endfor" | "end")
}

/// Open the block `name` (a canonical option name) with argument `arg`.
pub fn open(name: &str, arg: &str, facts: &Facts<'_>) -> Result<Block, String> {
    let arg = arg.trim();
    let cond = |holds: bool, data: Option<String>| Ok(Block::If { holds, data });
    match name {
        "if-env" | "if-not-env" | "if-opt" | "if-not-opt" => {
            // `VAR` or `VAR=value` (the value must then match).
            let (var, want) = match arg.split_once('=') {
                Some((v, w)) => (v, Some(w)),
                None => (arg, None),
            };
            let found = if name.ends_with("env") {
                (facts.env)(var)
            } else {
                (facts.option)(var)
            };
            let matches = match (&found, want) {
                (Some(f), Some(w)) => f == w,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let positive = !name.starts_with("if-not");
            cond(matches == positive, Some(found.unwrap_or_default()))
        }
        "if-exists" => cond(Path::new(arg).exists(), Some(arg.into())),
        "if-not-exists" => cond(!Path::new(arg).exists(), Some(arg.into())),
        "if-file" => cond(Path::new(arg).is_file(), Some(arg.into())),
        "if-not-file" => cond(!Path::new(arg).is_file(), Some(arg.into())),
        "if-dir" => cond(Path::new(arg).is_dir(), Some(arg.into())),
        "if-not-dir" => cond(!Path::new(arg).is_dir(), Some(arg.into())),
        "if-reload" => cond(facts.reload, None),
        "if-not-reload" => cond(!facts.reload, None),
        "if-hostname" => cond(facts.hostname == arg, Some(arg.into())),
        "if-not-hostname" => cond(facts.hostname != arg, Some(arg.into())),
        "if-plugin" => cond(plugin_loaded(arg), Some(arg.into())),
        "if-not-plugin" => cond(!plugin_loaded(arg), Some(arg.into())),
        "for" => Ok(Block::For {
            items: arg
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        }),
        "for-times" => {
            let n: u64 = arg
                .parse()
                .map_err(|_| format!("expected a number of times, got {arg:?}"))?;
            // Its items are made before the block applies (uWSGI loops
            // without a bound): `for-times = 4000000000` would take all
            // memory at once.
            if n > MAX_TIMES {
                return Err(format!("for-times takes at most {MAX_TIMES}, got {n}"));
            }
            Ok(Block::For {
                items: (1..=n).map(|i| i.to_string()).collect(),
            })
        }
        "for-readline" => {
            let text =
                std::fs::read_to_string(arg).map_err(|e| format!("cannot read {arg}: {e}"))?;
            Ok(Block::For {
                items: text.lines().map(String::from).collect(),
            })
        }
        "for-glob" => Ok(Block::For { items: glob(arg)? }),
        other => Err(format!("'{other}' is not a block")),
    }
}

impl Block {
    /// The values an option written inside this block stands for.
    pub fn apply(&self, value: &str) -> Vec<String> {
        match self {
            Block::If { holds: false, .. } => Vec::new(),
            Block::If { data: None, .. } => vec![value.to_string()],
            Block::If { data: Some(d), .. } => vec![value.replace("%(_)", d)],
            Block::For { items } => items.iter().map(|i| value.replace("%(_)", i)).collect(),
        }
    }
}

/// `if-plugin`: the plugins rsgi has built in (the Python interpreter and
/// HTTP serving).
pub fn plugin_loaded(name: &str) -> bool {
    super::plugins::is_builtin(name)
}

/// uWSGI's `for-glob`: glob(3) with GLOB_MARK (directories end with a
/// slash) and GLOB_NOCHECK (a pattern that matches nothing is its own
/// single item).
fn glob(pattern: &str) -> Result<Vec<String>, String> {
    let c = CString::new(pattern).map_err(|_| format!("{pattern:?} contains a NUL byte"))?;
    // SAFETY: glob_t is a plain C struct; all-zero is its documented
    // initial state before glob() fills it.
    let mut g: libc::glob_t = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `g` a valid glob_t
    // that lives across the call; no error callback is passed.
    let rc = unsafe {
        libc::glob(
            c.as_ptr(),
            libc::GLOB_MARK | libc::GLOB_NOCHECK,
            None,
            &mut g,
        )
    };
    if rc != 0 {
        // SAFETY: globfree accepts a glob_t that glob() returned an error for.
        unsafe { libc::globfree(&mut g) };
        return Err(format!("glob {pattern:?} failed"));
    }
    let items = (0..g.gl_pathc)
        .map(|i| {
            // SAFETY: glob() filled gl_pathv with gl_pathc valid C strings.
            unsafe { CStr::from_ptr(*g.gl_pathv.add(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // SAFETY: frees what glob() allocated; `g` is not used afterwards.
    unsafe { libc::globfree(&mut g) };
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        env: &'a dyn Fn(&str) -> Option<String>,
        option: &'a dyn Fn(&str) -> Option<String>,
    ) -> Facts<'a> {
        Facts {
            env,
            option,
            reload: false,
            hostname: "web1",
        }
    }

    #[test]
    fn conditions() {
        let env = |k: &str| (k == "PORT").then(|| "8080".to_string());
        let opt = |k: &str| (k == "processes").then(|| "4".to_string());
        let f = facts(&env, &opt);
        let dir = std::env::temp_dir();
        let file = dir.join(format!("rsgi-logic-{}", std::process::id()));
        std::fs::write(&file, "a\nb\n").unwrap();
        let (d, fl) = (dir.display().to_string(), file.display().to_string());
        let cases: Vec<(&str, String, bool, &str)> = vec![
            ("if-env", "PORT".into(), true, "8080"),
            ("if-env", "PORT=8080".into(), true, "8080"),
            ("if-env", "PORT=80".into(), false, ""),
            ("if-env", "NOPE".into(), false, ""),
            ("if-not-env", "NOPE".into(), true, ""),
            ("if-not-env", "PORT".into(), false, ""),
            ("if-not-env", "PORT=80".into(), true, "8080"),
            ("if-opt", "processes".into(), true, "4"),
            ("if-opt", "processes=2".into(), false, ""),
            ("if-not-opt", "threads".into(), true, ""),
            ("if-exists", d.clone(), true, &d),
            ("if-exists", "/nonexistent".into(), false, ""),
            ("if-not-exists", "/nonexistent".into(), true, "/nonexistent"),
            ("if-file", fl.clone(), true, &fl),
            ("if-file", d.clone(), false, ""),
            ("if-not-file", d.clone(), true, &d),
            ("if-dir", d.clone(), true, &d),
            ("if-dir", fl.clone(), false, ""),
            ("if-not-dir", fl.clone(), true, &fl),
            ("if-hostname", "web1".into(), true, "web1"),
            ("if-not-hostname", "web1".into(), false, ""),
            ("if-plugin", "python3".into(), true, "python3"),
            ("if-not-plugin", "php".into(), true, "php"),
        ];
        for (name, arg, holds, data) in cases {
            let block = open(name, &arg, &f).unwrap();
            let got = block.apply("x=%(_)");
            let want: Vec<String> = if holds {
                vec![format!("x={data}")]
            } else {
                vec![]
            };
            assert_eq!(got, want, "{name} = {arg}");
        }
        let reload = open("if-reload", "", &f).unwrap();
        assert!(reload.apply("%(_)").is_empty());
        assert_eq!(
            open("if-not-reload", "", &f).unwrap().apply("%(_)"),
            ["%(_)"]
        );
        let lines = open("for-readline", &fl, &f).unwrap();
        assert_eq!(lines.apply("l=%(_)"), ["l=a", "l=b"]);
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn loops() {
        let none = |_: &str| None;
        let f = facts(&none, &none);
        let each = open("for", "4031  14032 4033", &f).unwrap();
        assert_eq!(each.apply(":%(_)"), [":4031", ":14032", ":4033"]);
        assert_eq!(
            open("for-times", "3", &f).unwrap().apply("%(_)"),
            ["1", "2", "3"]
        );
        assert!(open("for-times", "x", &f).is_err());
        // Found with the config fuzz target: this took all memory.
        assert_eq!(
            open("for-times", "4000000000", &f),
            Err("for-times takes at most 10000, got 4000000000".into())
        );
        assert_eq!(
            open("for-times", "10000", &f).map(|b| b.apply("").len()),
            Ok(10_000)
        );
        assert!(open("for-readline", "/nonexistent", &f).is_err());
        let dir = std::env::temp_dir().join(format!("rsgi-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.ini"), "").unwrap();
        std::fs::write(dir.join("b.ini"), "").unwrap();
        let d = dir.display();
        let got = open("for-glob", &format!("{d}/*"), &f)
            .unwrap()
            .apply("%(_)");
        assert_eq!(
            got,
            [
                format!("{d}/a.ini"),
                format!("{d}/b.ini"),
                format!("{d}/sub/")
            ]
        );
        let none_match = format!("{d}/*.yaml");
        assert_eq!(
            open("for-glob", &none_match, &f).unwrap().apply("%(_)"),
            [none_match]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
