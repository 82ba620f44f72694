//! uWSGI's placeholders, in two steps as uWSGI has them.
//!
//! - Magic variables (`%d`, `%n`, `%k`, `%h`...) are replaced in the text of
//!   a config file as it is read (uWSGI's `magic_sub`, run by
//!   `uwsgi_open_and_read`); the command line and the environment have none.
//!   A magic variable uWSGI does not define is an error here, where uWSGI
//!   silently replaces it by nothing.
//! - In every value: `$(ENV)` (an environment variable), `@(FILE)` and
//!   `@(exec://CMD)` (a file's contents or a command's output, without one
//!   trailing newline), and `%(key)` (a value set before it) or
//!   `%(a + b)` (uWSGI's little pipeline: concatenation and `+ - * /`,
//!   `++`, `--`, from `uwsgi_manage_placeholder`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::options;
use super::source::Entry;

/// The magic variables of one config file (uWSGI's `magic_table`), with
/// the process-wide ones.
#[derive(Debug, Clone, Default)]
pub struct Magic {
    vars: Vec<(char, String)>,
}

/// The magic variables that do not depend on the file.
#[derive(Debug, Clone)]
pub struct Globals {
    vars: Vec<(char, String)>,
}

impl Globals {
    /// As uWSGI sets them at startup (core/uwsgi.c, "a couple of 'static'
    /// magic vars").
    pub fn of_this_process() -> Globals {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        let group = nix::unistd::Group::from_gid(gid)
            .ok()
            .flatten()
            .map_or_else(|| gid.to_string(), |g| g.name);
        Globals {
            vars: vec![
                ('v', cwd),
                ('h', hostname),
                ('t', now.as_secs().to_string()),
                ('T', now.as_micros().to_string()),
                ('V', env!("CARGO_PKG_VERSION").to_string()),
                ('k', cpus.to_string()),
                ('[', "\x1b".to_string()),
                ('u', uid.to_string()),
                ('U', user),
                ('g', gid.to_string()),
                ('G', group),
            ],
        }
    }
}

impl Globals {
    /// This machine's name (`%h`, `if-hostname`).
    pub fn hostname(&self) -> String {
        self.vars
            .iter()
            .find(|(c, _)| *c == 'h')
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// uWSGI's hash of a config path for `%j` (djb33x over the bytes as C
/// `char`s, which are signed on the platforms rsgi runs on).
fn djb33x(bytes: &[u8]) -> u32 {
    bytes.iter().fold(5381u32, |h, &b| {
        (h << 5).wrapping_add(h) ^ (b as i8 as i32 as u32)
    })
}

impl Magic {
    /// The table for the file named `spec` as the user wrote it (without
    /// its `:section`), read from `path`; `first` holds the values of the
    /// first file read, which the upper-case variables repeat.
    pub fn for_file(
        spec: &str,
        path: &Path,
        section: Option<&str>,
        globals: &Globals,
        first: Option<&Magic>,
    ) -> Magic {
        let mut vars: Vec<(char, String)> = globals.vars.clone();
        // uWSGI keeps a symlinked config's own path (Debian's apps-enabled
        // links), and resolves everything else.
        let full: PathBuf = if path.is_symlink() {
            std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
        } else {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        };
        let full_text = full.display().to_string();
        let file_name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = full
            .parent()
            .map(|d| {
                let d = d.display().to_string();
                if d.ends_with('/') { d } else { format!("{d}/") }
            })
            .unwrap_or_default();
        let (stem, ext) = match file_name.rsplit_once('.') {
            Some((s, e)) => (s.to_string(), e.to_string()),
            None => (file_name.clone(), String::new()),
        };
        let parts: Vec<String> = dir
            .split('/')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        let inode = std::fs::symlink_metadata(path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m).to_string())
            .unwrap_or_default();
        let hash = djb33x(full_text.as_bytes()).to_le_bytes();
        let hex: String = hash.iter().map(|b| format!("{b:02X}")).collect();
        let binary = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        vars.extend([
            ('o', spec.to_string()),
            ('p', full_text),
            ('s', file_name),
            ('d', dir),
            ('n', stem),
            ('e', ext),
            ('c', parts.last().cloned().unwrap_or_default()),
            ('x', section.unwrap_or("").to_string()),
            ('j', hex),
            ('i', inode),
            ('b', binary),
        ]);
        for (i, digit) in ('0'..='9').enumerate() {
            vars.push((digit, parts.get(i).cloned().unwrap_or_default()));
        }
        // The upper-case variables are those of the first file read.
        let base = first.map_or(&vars, |f| &f.vars).clone();
        for (lower, upper) in [
            ('o', 'O'),
            ('d', 'D'),
            ('s', 'S'),
            ('p', 'P'),
            ('c', 'C'),
            ('e', 'E'),
            ('n', 'N'),
            ('x', 'X'),
            ('i', 'I'),
            ('j', 'J'),
        ] {
            let value = base
                .iter()
                .find(|(c, _)| *c == lower)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            vars.push((upper, value));
        }
        Magic { vars }
    }

    fn get(&self, c: char) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_str())
    }

    /// Replace the magic variables in `raw`. `%%` is a percent sign, `%(`
    /// opens a placeholder (left for [`expand`]); a `%` before a space or
    /// at the end stays as written.
    pub fn apply(&self, raw: &str) -> Result<String, String> {
        if !raw.contains('%') {
            return Ok(raw.to_string());
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some('%') => {
                    chars.next();
                    out.push('%');
                }
                Some('(') => out.push('%'),
                Some(v) if v.is_ascii_alphanumeric() || v == '[' => {
                    chars.next();
                    match self.get(v) {
                        Some(value) => out.push_str(value),
                        None => {
                            return Err(format!(
                                "%{v} is not a magic variable (they are %d %p %s %n %e %c %x %o %j %i %b %0-%9, their first-file forms %D %P %S %N %E %C %X %O %J %I, and %v %h %t %T %V %k %u %U %g %G); write %%{v} for a literal percent sign"
                            ));
                        }
                    }
                }
                _ => out.push('%'),
            }
        }
        Ok(out)
    }
}

/// What [`expand`] needs to see.
pub struct Scope<'a> {
    /// Entries set before this one.
    pub earlier: &'a [Entry],
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// An expanded value, and what the user should hear about it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    pub value: String,
    pub warnings: Vec<String>,
}

/// How deep `%(...)` may nest in `%(...)`: enough for real configs, and a
/// bound for a value that refers to itself.
const MAX_DEPTH: usize = 8;

/// The longest value placeholders may expand to. uWSGI has no bound, but
/// values that repeat one another (`b = %(a)%(a)`, `c = %(b)%(b)`...)
/// double with each line, so a few dozen lines would take all memory.
pub const MAX_VALUE: usize = 1 << 20;

/// Expand `$(ENV)`, `@(FILE)` and `%(...)` in `raw`.
///
/// As in uWSGI, an unset `$(ENV)` and a `%(name)` that names nothing set
/// before stay as written (`log-format = %(method) %(uri)` relies on it);
/// the first is worth a warning. Names `%(key)` found are added to
/// `referenced`: such keys are variables, not unknown options.
pub fn expand(
    raw: &str,
    scope: &Scope<'_>,
    referenced: &mut HashSet<String>,
) -> Result<Expanded, String> {
    let mut warnings = Vec::new();
    let value = expand_at(raw, scope, referenced, &mut warnings, 0)?;
    Ok(Expanded { value, warnings })
}

fn expand_at(
    raw: &str,
    scope: &Scope<'_>,
    referenced: &mut HashSet<String>,
    warnings: &mut Vec<String>,
    depth: usize,
) -> Result<String, String> {
    if !raw.contains("$(") && !raw.contains("@(") && !raw.contains("%(") {
        return Ok(raw.to_string());
    }
    if depth > MAX_DEPTH {
        return Err(format!(
            "placeholders nest deeper than {MAX_DEPTH} levels in {raw:?}"
        ));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['$', '@', '%']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let sigil = tail.as_bytes()[0];
        let Some(inner_start) = tail.get(1..).filter(|t| t.starts_with('(')) else {
            out.push(sigil as char);
            rest = &tail[1..];
            continue;
        };
        let Some(close) = matching_paren(inner_start) else {
            out.push_str(tail);
            rest = "";
            break;
        };
        let written = &tail[..close + 2];
        let inner = expand_at(
            &inner_start[1..close],
            scope,
            referenced,
            warnings,
            depth + 1,
        )?;
        rest = &tail[close + 2..];
        match sigil {
            b'$' => match (scope.env)(&inner) {
                Some(v) => out.push_str(&v),
                None => {
                    warnings.push(format!(
                        "$({inner}) is not set in the environment; it is kept as written, as uWSGI does"
                    ));
                    out.push_str(written);
                }
            },
            b'@' => out.push_str(&read_at(&inner)?),
            _ => match reference(&inner, scope.earlier, referenced) {
                Some(v) => out.push_str(&v),
                None => out.push_str(written),
            },
        }
        if out.len() > MAX_VALUE {
            return Err(too_long());
        }
    }
    out.push_str(rest);
    if out.len() > MAX_VALUE {
        return Err(too_long());
    }
    Ok(out)
}

fn too_long() -> String {
    format!(
        "with its placeholders expanded the value passes {} MiB",
        MAX_VALUE >> 20
    )
}

/// The index of the `)` that closes the `(` at the start of `s`.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `@(FILE)` / `@(exec://CMD)`: the contents without one trailing newline
/// (uWSGI's `uwsgi_at_file_read`).
fn read_at(what: &str) -> Result<String, String> {
    let mut text = if let Some(cmd) = what.strip_prefix("exec://") {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", cmd])
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("@(exec://{cmd}): cannot run it: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "@(exec://{cmd}): the command failed ({})",
                out.status
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        let path = what.strip_prefix("file://").unwrap_or(what);
        std::fs::read_to_string(path).map_err(|e| format!("@({what}): cannot read {path}: {e}"))?
    };
    if text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    Ok(text)
}

/// The value a `%(...)` stands for: one name, or uWSGI's pipeline.
fn reference(inner: &str, earlier: &[Entry], referenced: &mut HashSet<String>) -> Option<String> {
    if !inner.contains(' ') {
        let value = lookup(inner, earlier)?;
        referenced.insert(inner.to_string());
        return Some(value);
    }
    // uWSGI's pipeline: tokens separated by spaces; numbers and option
    // values are concatenated unless an operator comes between them.
    #[derive(Clone, Copy)]
    enum Op {
        Concat,
        Add,
        Sub,
        Mul,
        Div,
    }
    let number = |s: &str| -> i64 {
        // strtoll: leading digits (with a sign), else 0.
        let t = s.trim_start();
        let end = t
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
            .map_or(t.len(), |(i, _)| i);
        t[..end].parse().unwrap_or(0)
    };
    let mut current: Option<String> = None;
    let mut op = Op::Concat;
    for token in inner.split(' ').filter(|t| !t.is_empty()) {
        let value = match token {
            "+" => {
                op = Op::Add;
                continue;
            }
            "-" => {
                op = Op::Sub;
                continue;
            }
            "*" => {
                op = Op::Mul;
                continue;
            }
            "/" => {
                op = Op::Div;
                continue;
            }
            "++" | "--" => {
                if let Some(c) = &current {
                    let step = if token == "++" { 1 } else { -1 };
                    current = Some(number(c).wrapping_add(step).to_string());
                }
                op = Op::Concat;
                continue;
            }
            t if t.parse::<i64>().is_ok() => t.to_string(),
            name => {
                referenced.insert(name.to_string());
                lookup(name, earlier).unwrap_or_default()
            }
        };
        let a = current.as_deref().unwrap_or("");
        current = Some(match op {
            Op::Concat => format!("{a}{value}"),
            Op::Add => number(a).wrapping_add(number(&value)).to_string(),
            Op::Sub => number(a).wrapping_sub(number(&value)).to_string(),
            Op::Mul => number(a).wrapping_mul(number(&value)).to_string(),
            // As uWSGI: a division by zero is 0.
            Op::Div => number(a)
                .checked_div(number(&value))
                .unwrap_or(0)
                .to_string(),
        });
        op = Op::Concat;
    }
    current
}

/// The latest value of `name` set before, by its name or by another name
/// of the same option.
fn lookup(name: &str, earlier: &[Entry]) -> Option<String> {
    // Another name of the same option: compared with the option's own
    // names (unique in the table), not by searching the table for every
    // entry, which for a block's thousands of entries made one %(option)
    // take seconds.
    let spec = options::find(name);
    let other_name = |key: &str| spec.is_some_and(|o| o.name == key || o.aliases.contains(&key));
    earlier
        .iter()
        .rev()
        .find(|e| e.key == name || other_name(&e.key))
        .map(|e| e.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Origin;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            origin: Origin::CommandLine,
        }
    }

    fn run(raw: &str, earlier: &[Entry]) -> Result<Expanded, String> {
        let env = |k: &str| (k == "HOME_DIR").then(|| "/home/x".to_string());
        let scope = Scope { earlier, env: &env };
        expand(raw, &scope, &mut HashSet::new())
    }

    fn value(raw: &str, earlier: &[Entry]) -> String {
        run(raw, earlier).unwrap().value
    }

    fn globals() -> Globals {
        Globals {
            vars: vec![
                ('v', "/work".into()),
                ('h', "web1".into()),
                ('t', "1700000000".into()),
                ('T', "1700000000123456".into()),
                ('V', "0.1.0".into()),
                ('k', "8".into()),
                ('[', "\x1b".into()),
                ('u', "1000".into()),
                ('U', "app".into()),
                ('g', "1000".into()),
                ('G', "app".into()),
            ],
        }
    }

    /// Every magic variable of a file, checked against what uWSGI 2.0.31
    /// prints for `print = ...` in /srv/app/conf/site.ini (the first file).
    #[test]
    fn magic_variables_of_a_file() {
        let path = Path::new("/srv/app/conf/site.ini");
        let magic = Magic::for_file("site.ini", path, Some("web"), &globals(), None);
        let cases = [
            ("%d", "/srv/app/conf/"),
            ("%p", "/srv/app/conf/site.ini"),
            ("%s", "site.ini"),
            ("%n", "site"),
            ("%e", "ini"),
            ("%c", "conf"),
            ("%x", "web"),
            ("%o", "site.ini"),
            ("%0/%1/%2/%3", "srv/app/conf/"),
            ("%D|%N|%X|%O", "/srv/app/conf/|site|web|site.ini"),
            ("%k %h %u %U %g %G %V", "8 web1 1000 app 1000 app 0.1.0"),
            ("%t %T %v", "1700000000 1700000000123456 /work"),
            ("100%%", "100%"),
            ("50% off", "50% off"),
            ("%", "%"),
            ("%(base)", "%(base)"),
            ("%[[0m", "\x1b[0m"),
        ];
        for (raw, want) in cases {
            assert_eq!(magic.apply(raw).as_deref(), Ok(want), "{raw}");
        }
        // %j is uWSGI's djb33x of the full path, in memory (little-endian)
        // byte order, as upper-case hex.
        let j = magic.apply("%j").unwrap();
        let expected: String = djb33x(b"/srv/app/conf/site.ini")
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(j, expected);
        assert_eq!(djb33x(b"a"), (5381u32 << 5).wrapping_add(5381) ^ 97);
        // uWSGI 2.0.31 printed %j = E25C94CA for /tmp/magic/sub/site.ini.
        let known = Magic::for_file(
            "sub/site.ini",
            Path::new("/tmp/magic/sub/site.ini"),
            None,
            &globals(),
            None,
        );
        assert_eq!(known.apply("%j").unwrap(), "E25C94CA");
        let e = magic.apply("log-date %Y").unwrap_err();
        assert!(
            e.contains("%Y is not a magic variable") && e.contains("%%Y"),
            "{e}"
        );
    }

    #[test]
    fn upper_case_variables_repeat_the_first_file() {
        let first = Magic::for_file(
            "main.ini",
            Path::new("/etc/app/main.ini"),
            None,
            &globals(),
            None,
        );
        let second = Magic::for_file(
            "/opt/other/more.ini",
            Path::new("/opt/other/more.ini"),
            None,
            &globals(),
            Some(&first),
        );
        assert_eq!(
            second.apply("%n %N %d %D").unwrap(),
            "more main /opt/other/ /etc/app/"
        );
    }

    #[test]
    fn references_env_and_keeps_unknown_names() {
        let earlier = [entry("base", "/srv"), entry("workers", "4")];
        assert_eq!(value("%(base)/app", &earlier), "/srv/app");
        assert_eq!(value("%(processes)", &earlier), "4", "aliases resolve");
        assert_eq!(value("$(HOME_DIR)/v", &[]), "/home/x/v");
        assert_eq!(value("%(method) %(uri)", &earlier), "%(method) %(uri)");
        let unset = run("$(NOPE)x", &[]).unwrap();
        assert_eq!(unset.value, "$(NOPE)x", "kept as written, as uWSGI");
        assert!(
            unset.warnings[0].contains("$(NOPE) is not set"),
            "{:?}",
            unset.warnings
        );
    }

    #[test]
    fn arithmetic_follows_uwsgi_pipeline() {
        let earlier = [
            entry("processes", "4"),
            entry("cores", "8"),
            entry("name", "web"),
        ];
        let cases = [
            ("%(2 * 1024 * 1024 * 1024)", "2147483648"),
            ("%(processes + 2)", "6"),
            ("%(cores - processes)", "4"),
            ("%(cores / 0)", "0"),
            ("%(cores / 3)", "2"),
            ("%(processes cores + 2)", "50"),
            ("%(processes ++)", "5"),
            ("%(processes --)", "3"),
            ("%(name processes)", "web4"),
            ("%(name -sock)", "web"),
            ("%(missing + 1)", "1"),
        ];
        for (raw, want) in cases {
            assert_eq!(value(raw, &earlier), want, "{raw}");
        }
    }

    #[test]
    fn at_reads_files_and_commands() {
        let dir = std::env::temp_dir().join(format!("rsgi-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("somaxconn");
        std::fs::write(&f, "4096\n").unwrap();
        assert_eq!(value(&format!("@({})", f.display()), &[]), "4096");
        assert_eq!(value(&format!("@(file://{})", f.display()), &[]), "4096");
        assert_eq!(value("@(exec://echo hi there)", &[]), "hi there");
        assert_eq!(
            value(&format!("n=@(exec://cat {})!", f.display()), &[]),
            "n=4096!"
        );
        assert!(
            run("@(/nonexistent/x)", &[])
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(run("@(exec://exit 3)", &[]).unwrap_err().contains("failed"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_expanded_value_is_bounded() {
        let half = "x".repeat(MAX_VALUE / 2);
        let earlier = [entry("a", &half)];
        assert_eq!(value("%(a)%(a)", &earlier).len(), MAX_VALUE);
        for raw in ["%(a)%(a)!", "%(a)%(a)%(a)"] {
            assert_eq!(run(raw, &earlier), Err(too_long()), "{raw}");
        }
        assert_eq!(
            too_long(),
            "with its placeholders expanded the value passes 1 MiB"
        );
    }

    #[test]
    fn nested_placeholders_expand_inside_out() {
        let earlier = [entry("dir", "/proc/sys/net/core"), entry("n", "2")];
        assert_eq!(value("%(n + %(n))", &earlier), "4");
        assert!(
            value("@(%(dir)/somaxconn)", &earlier)
                .parse::<u64>()
                .is_ok()
        );
        assert_eq!(value("a %(unclosed", &earlier), "a %(unclosed");
    }
}
