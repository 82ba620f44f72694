//! uWSGI's hooks: `hook-PHASE = ACTION:ARGS`, actions run at fixed points
//! of start-up (core/hooks.c), and the `exec-PHASE = CMD` shorthands for
//! `hook-PHASE = exec:CMD`. Parsed here; run by the core's `hooks`
//! module (and, for `call:`, by the Python side).
//!
//! uWSGI's `call:` calls a C symbol; rsgi has none to call, so `call:`
//! calls a Python callable `module.func` instead, which exists only where
//! Python runs: the zygote and the workers. In a phase the master runs,
//! `call:` is a config error rather than a hook that can never work.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::value::Show;

/// One hook action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hook {
    /// `exec:CMD`: run with `/bin/sh -c`; a non-zero status fails.
    Exec(String),
    /// `safeexec:CMD`: as `exec:`, the status only logged.
    SafeExec(String),
    /// `call:module.func`: call a Python callable with no arguments.
    Call(String),
    /// `write:FILE DATA` (truncate), `writen:` (with a newline),
    /// `append:`, `appendn:`.
    Write {
        file: PathBuf,
        data: String,
        append: bool,
        newline: bool,
    },
    /// `create:FILE` / `creat:FILE`: create or truncate, empty.
    Create(PathBuf),
    /// `mkdir:DIR`: as mkdir(2), it fails if DIR exists.
    Mkdir(PathBuf),
    /// `unlink:FILE`: as unlink(2), it fails if FILE does not exist.
    Unlink(PathBuf),
    /// `chdir:DIR` / `cd:DIR`: the process's working directory.
    Chdir(PathBuf),
    /// `putenv:KEY=VALUE`: set a variable in this process's environment.
    Putenv(String, String),
    /// `print:TEXT` / `log:TEXT`: a line in the log.
    Print(String),
    /// `unix_signal:N FUNCTION`: what the master does on signal N. uWSGI
    /// installs a handler calling one of its C functions; configs use it
    /// to make SIGTERM (a reload in uWSGI) a graceful shutdown, which in
    /// rsgi it already is. The master's signals only.
    UnixSignal { signal: i32, action: SignalAction },
}

/// The uWSGI master functions `unix_signal:` may name, as rsgi does them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignalAction {
    /// `gracefully_kill_them_all`: rsgi's graceful shutdown (SIGTERM's).
    GracefulStop,
    /// `kill_them_all`: rsgi's immediate shutdown (SIGINT's).
    ImmediateStop,
    /// `grace_them_all`: a graceful reload (SIGHUP's).
    Reload,
}

impl SignalAction {
    fn uwsgi_name(self) -> &'static str {
        match self {
            SignalAction::GracefulStop => "gracefully_kill_them_all",
            SignalAction::ImmediateStop => "kill_them_all",
            SignalAction::Reload => "grace_them_all",
        }
    }
}

/// The signals rsgi's master acts on that `unix_signal:` may remap.
const REMAPPABLE: [(i32, &str); 4] = [
    (libc::SIGTERM, "TERM"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGHUP, "HUP"),
];

/// The actions rsgi has, for the error that names an unknown one.
const ACTIONS: &str = "exec, safeexec, call, write, writen, append, appendn, create, mkdir, unlink, chdir, putenv, print, unix_signal";

impl Hook {
    /// Whether this action needs Python (and so a phase where it runs).
    pub fn needs_python(&self) -> bool {
        matches!(self, Hook::Call(_))
    }

    /// Whether only the master can do it.
    pub fn master_only(&self) -> bool {
        matches!(self, Hook::UnixSignal { .. })
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::Exec(c) => write!(f, "exec:{c}"),
            Hook::SafeExec(c) => write!(f, "safeexec:{c}"),
            Hook::Call(c) => write!(f, "call:{c}"),
            Hook::Write {
                file,
                data,
                append,
                newline,
            } => {
                let verb = if *append { "append" } else { "write" };
                let n = if *newline { "n" } else { "" };
                write!(f, "{verb}{n}:{} {data}", file.display())
            }
            Hook::Create(p) => write!(f, "create:{}", p.display()),
            Hook::Mkdir(p) => write!(f, "mkdir:{}", p.display()),
            Hook::Unlink(p) => write!(f, "unlink:{}", p.display()),
            Hook::Chdir(p) => write!(f, "chdir:{}", p.display()),
            Hook::Putenv(k, v) => write!(f, "putenv:{k}={v}"),
            Hook::Print(t) => write!(f, "print:{t}"),
            Hook::UnixSignal { signal, action } => {
                write!(f, "unix_signal:{signal} {}", action.uwsgi_name())
            }
        }
    }
}

impl Show for Hook {
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A hook for a phase Python runs in (pre-app, post-app, post-fork,
/// accepting): every action, `call:` included.
pub fn python_hook(raw: &str) -> Result<Hook, String> {
    let hook = parse(raw)?;
    if hook.master_only() {
        return Err(format!(
            "{raw:?}: unix_signal: sets what the master does on a signal; use it in hook-master-start"
        ));
    }
    Ok(hook)
}

/// A hook for a phase the master runs (asap, as-root, as-user,
/// master-start, as-user-atexit): no `call:`, the master has no Python.
pub fn master_hook(raw: &str) -> Result<Hook, String> {
    let hook = parse(raw)?;
    if hook.needs_python() {
        return Err(format!(
            "{raw:?}: call: runs a Python callable, and the master that runs this phase has no \
             Python; use call: in hook-pre-app, hook-post-app, hook-post-fork or hook-accepting"
        ));
    }
    Ok(hook)
}

/// `exec-PHASE = CMD`: uWSGI's shorthand for `hook-PHASE = exec:CMD`.
pub fn exec_hook(raw: &str) -> Result<Hook, String> {
    let cmd = raw.trim();
    if cmd.is_empty() {
        return Err("expected a command to run".into());
    }
    Ok(Hook::Exec(cmd.to_string()))
}

fn parse(raw: &str) -> Result<Hook, String> {
    let raw = raw.trim();
    let Some((action, arg)) = raw.split_once(':') else {
        return Err(format!("expected ACTION:ARGS (as exec:CMD), got {raw:?}"));
    };
    let need = |what: &str| -> Result<(), String> {
        if arg.trim().is_empty() {
            Err(format!("{action}: needs {what}"))
        } else {
            Ok(())
        }
    };
    let file_and_data = |append: bool, newline: bool| -> Result<Hook, String> {
        // As uWSGI: the file ends at the first space; writen/appendn
        // accept a file alone (a bare newline).
        let (file, data) = match arg.split_once(' ') {
            Some((file, data)) => (file, data),
            None if newline && !arg.is_empty() => (arg, ""),
            None => return Err(format!("{action}: expected FILE DATA, got {arg:?}")),
        };
        Ok(Hook::Write {
            file: PathBuf::from(file),
            data: data.to_string(),
            append,
            newline,
        })
    };
    let path = || PathBuf::from(arg.trim());
    Ok(match action {
        "exec" => {
            need("a command")?;
            Hook::Exec(arg.to_string())
        }
        "safeexec" => {
            need("a command")?;
            Hook::SafeExec(arg.to_string())
        }
        "call" => {
            let target = arg.trim();
            match target.rsplit_once('.') {
                Some((module, func)) if !module.is_empty() && !func.is_empty() => {}
                _ => return Err(format!("call: expected module.function, got {target:?}")),
            }
            Hook::Call(target.to_string())
        }
        "write" => file_and_data(false, false)?,
        "writen" => file_and_data(false, true)?,
        "append" => file_and_data(true, false)?,
        "appendn" => file_and_data(true, true)?,
        "create" | "creat" => {
            need("a file")?;
            Hook::Create(path())
        }
        "mkdir" => {
            need("a directory")?;
            Hook::Mkdir(path())
        }
        "unlink" => {
            need("a file")?;
            Hook::Unlink(path())
        }
        "chdir" | "cd" => {
            need("a directory")?;
            Hook::Chdir(path())
        }
        "putenv" => match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => Hook::Putenv(k.to_string(), v.to_string()),
            _ => return Err(format!("putenv: expected KEY=VALUE, got {arg:?}")),
        },
        "print" | "log" => Hook::Print(arg.to_string()),
        "unix_signal" => unix_signal(arg)?,
        _ => {
            return Err(format!(
                "unknown hook action {action:?} (rsgi has: {ACTIONS})"
            ));
        }
    })
}

/// `unix_signal:N FUNCTION`.
fn unix_signal(arg: &str) -> Result<Hook, String> {
    let Some((number, function)) = arg.trim().split_once(' ') else {
        return Err(format!(
            "unix_signal: expected SIGNAL FUNCTION, got {arg:?}"
        ));
    };
    // uWSGI reads the number with atoi(): its leading digits count and
    // what follows them is ignored. Configs rely on it: one project
    // writes `unix_signal:15<TAB># gracefully_kill_them_all`, meaning the
    // `#` as a comment, and uWSGI runs it as signal 15.
    let digits: String = number
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let signal = digits
        .parse::<i32>()
        .map_err(|_| format!("unix_signal: expected a signal number, got {number:?}"))?;
    if !REMAPPABLE.iter().any(|(n, _)| *n == signal) {
        let names: Vec<String> = REMAPPABLE
            .iter()
            .map(|(n, name)| format!("{n} ({name})"))
            .collect();
        return Err(format!(
            "unix_signal: rsgi's master remaps only {}, not {signal}",
            names.join(", ")
        ));
    }
    let action = match function.trim() {
        "gracefully_kill_them_all" => SignalAction::GracefulStop,
        "kill_them_all" => SignalAction::ImmediateStop,
        "grace_them_all" => SignalAction::Reload,
        other => {
            return Err(format!(
                "unix_signal: rsgi does gracefully_kill_them_all, kill_them_all and \
                 grace_them_all, not {other:?}"
            ));
        }
    };
    Ok(Hook::UnixSignal { signal, action })
}

/// What the master's signals do after `unix_signal:` hooks in `hooks`:
/// the last one for a signal wins, as uWSGI's last handler does.
pub fn signal_actions<'a>(hooks: impl IntoIterator<Item = &'a Hook>) -> Vec<(i32, SignalAction)> {
    let mut actions: Vec<(i32, SignalAction)> = Vec::new();
    for hook in hooks {
        if let Hook::UnixSignal { signal, action } = hook {
            actions.retain(|(s, _)| s != signal);
            actions.push((*signal, *action));
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse() {
        let w = |file: &str, data: &str, append, newline| Hook::Write {
            file: file.into(),
            data: data.into(),
            append,
            newline,
        };
        let table: &[(&str, Hook)] = &[
            ("exec:touch /tmp/x", Hook::Exec("touch /tmp/x".into())),
            ("safeexec:false", Hook::SafeExec("false".into())),
            ("call:app.hooks.ready", Hook::Call("app.hooks.ready".into())),
            (
                "write:/tmp/f hello world",
                w("/tmp/f", "hello world", false, false),
            ),
            ("writen:/tmp/f hi", w("/tmp/f", "hi", false, true)),
            ("writen:/tmp/f", w("/tmp/f", "", false, true)),
            ("append:/tmp/f x", w("/tmp/f", "x", true, false)),
            ("appendn:/tmp/f x y", w("/tmp/f", "x y", true, true)),
            ("create:/tmp/f", Hook::Create("/tmp/f".into())),
            ("creat:/tmp/f", Hook::Create("/tmp/f".into())),
            ("mkdir:/tmp/d", Hook::Mkdir("/tmp/d".into())),
            ("unlink:/tmp/f", Hook::Unlink("/tmp/f".into())),
            ("chdir:/srv", Hook::Chdir("/srv".into())),
            ("cd:/srv", Hook::Chdir("/srv".into())),
            ("putenv:A=b=c", Hook::Putenv("A".into(), "b=c".into())),
            ("print:hello", Hook::Print("hello".into())),
            ("log:hello", Hook::Print("hello".into())),
            ("  exec:a:b ", Hook::Exec("a:b".into())),
        ];
        for (raw, want) in table {
            assert_eq!(python_hook(raw).as_ref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn bad_hooks_are_refused_with_a_reason() {
        let table: &[(&str, &str)] = &[
            ("touch /tmp/x", "ACTION:ARGS"),
            ("exec:", "needs a command"),
            ("frobnicate:x", "unknown hook action \"frobnicate\""),
            ("mount:/a /b", "unknown hook action"),
            ("write:/tmp/only-a-file", "expected FILE DATA"),
            ("call:nodot", "module.function"),
            ("call:.f", "module.function"),
            ("putenv:=x", "KEY=VALUE"),
            ("mkdir:", "needs a directory"),
        ];
        for (raw, want) in table {
            let err = python_hook(raw).expect_err(raw);
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn the_master_refuses_call() {
        let err = master_hook("call:app.f").expect_err("call in the master");
        assert!(python_hook("unix_signal:15 gracefully_kill_them_all").is_err());
        assert!(err.contains("has no Python"), "{err}");
        assert_eq!(master_hook("exec:true"), Ok(Hook::Exec("true".into())));
    }

    #[test]
    fn unix_signal_remaps_the_masters_signals() {
        let hook = |raw: &str| master_hook(raw);
        type Want = Result<(i32, SignalAction), &'static str>;
        let table: &[(&str, Want)] = &[
            (
                "unix_signal:15 gracefully_kill_them_all",
                Ok((15, SignalAction::GracefulStop)),
            ),
            (
                "unix_signal:2 gracefully_kill_them_all",
                Ok((2, SignalAction::GracefulStop)),
            ),
            // atoi's reading, as uWSGI's: digits, then anything.
            (
                "unix_signal:15\t# gracefully_kill_them_all",
                Ok((15, SignalAction::GracefulStop)),
            ),
            (
                "unix_signal:3 kill_them_all",
                Ok((3, SignalAction::ImmediateStop)),
            ),
            (
                "unix_signal:1 grace_them_all",
                Ok((1, SignalAction::Reload)),
            ),
            ("unix_signal:10 gracefully_kill_them_all", Err("not 10")),
            ("unix_signal:15 reap_them_all", Err("not \"reap_them_all\"")),
            (
                "unix_signal:TERM gracefully_kill_them_all",
                Err("a signal number"),
            ),
            ("unix_signal:15", Err("SIGNAL FUNCTION")),
        ];
        for (raw, want) in table {
            match (hook(raw), want) {
                (Ok(Hook::UnixSignal { signal, action }), Ok(w)) => {
                    assert_eq!((signal, action), *w, "{raw}")
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{raw}: {e}"),
                (got, _) => panic!("{raw}: {got:?}"),
            }
        }
        let hooks: Vec<Hook> = [
            "unix_signal:15 kill_them_all",
            "exec:true",
            "unix_signal:2 gracefully_kill_them_all",
            "unix_signal:15 gracefully_kill_them_all",
        ]
        .iter()
        .map(|r| master_hook(r).expect(r))
        .collect();
        assert_eq!(
            signal_actions(&hooks),
            [
                (2, SignalAction::GracefulStop),
                (15, SignalAction::GracefulStop)
            ]
        );
    }

    #[test]
    fn exec_shorthands_are_exec_hooks() {
        assert_eq!(exec_hook(" ls -l "), Ok(Hook::Exec("ls -l".into())));
        assert!(exec_hook("  ").is_err());
    }

    #[test]
    fn hooks_print_back_as_written() {
        for raw in [
            "exec:a b",
            "call:m.f",
            "write:/f d",
            "appendn:/f d",
            "mkdir:/d",
            "putenv:K=V",
        ] {
            assert_eq!(python_hook(raw).map(|h| h.to_string()).as_deref(), Ok(raw));
        }
    }
}
