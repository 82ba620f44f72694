//! Running start-up hooks (`config::hooks`), in the order given, in the
//! process of their phase: the master runs its phases, the zygote and the
//! workers theirs. `call:` is the caller's: only a process with Python
//! can run it, so it hands its own runner in.
//!
//! As uWSGI (core/hooks.c, `uwsgi_hooks_run` with `fatal`): the first
//! failing hook stops the phase, and the caller aborts start-up.

use std::io::Write;
use std::process::Command;

use crate::config::hooks::Hook;

/// A hook that failed, named for the log line that aborts start-up.
#[derive(Debug, thiserror::Error)]
#[error("{option} = {hook} failed: {reason}")]
pub struct HookFailed {
    /// The option it came from, as `hook-pre-app`.
    pub option: String,
    pub hook: String,
    pub reason: String,
}

/// Runs a `call:` hook's `module.func`.
pub type Caller<'a> = &'a mut dyn FnMut(&str) -> Result<(), String>;

/// Run `hooks` (from `option`) one by one; stop at the first failure.
pub fn run(option: &str, hooks: &[Hook], call: Caller<'_>) -> Result<(), HookFailed> {
    for hook in hooks {
        tracing::info!("running \"{hook}\" ({option})");
        run_one(hook, call).map_err(|reason| HookFailed {
            option: option.to_string(),
            hook: hook.to_string(),
            reason,
        })?;
    }
    Ok(())
}

/// For phases without Python: a `call:` there is refused by the config,
/// so reaching this is a config that bypassed it.
pub fn no_python(target: &str) -> Result<(), String> {
    Err(format!(
        "call:{target} needs Python, which this process does not run"
    ))
}

fn run_one(hook: &Hook, call: Caller<'_>) -> Result<(), String> {
    match hook {
        Hook::Exec(cmd) => match shell(cmd)? {
            0 => Ok(()),
            code => Err(format!("the command exited with status {code}")),
        },
        Hook::SafeExec(cmd) => {
            let code = shell(cmd)?;
            if code != 0 {
                tracing::warn!("\"{cmd}\" exited with status {code} (safeexec: going on)");
            }
            Ok(())
        }
        Hook::Call(target) => call(target),
        Hook::Write {
            file,
            data,
            append,
            newline,
        } => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .append(*append)
                .truncate(!*append)
                .open(file)
                .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
            let mut bytes = data.clone().into_bytes();
            if *newline {
                bytes.push(b'\n');
            }
            f.write_all(&bytes)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))
        }
        Hook::Create(file) => std::fs::File::create(file)
            .map(drop)
            .map_err(|e| format!("cannot create {}: {e}", file.display())),
        Hook::Mkdir(dir) => std::fs::create_dir(dir)
            .map_err(|e| format!("cannot create the directory {}: {e}", dir.display())),
        Hook::Unlink(file) => {
            std::fs::remove_file(file).map_err(|e| format!("cannot remove {}: {e}", file.display()))
        }
        Hook::Chdir(dir) => std::env::set_current_dir(dir)
            .map_err(|e| format!("cannot change directory to {}: {e}", dir.display())),
        Hook::Putenv(key, value) => {
            // SAFETY: hooks run on the main thread of a process that is not
            // serving: the master outside its event loop, the zygote (whose
            // forks need it single-threaded), a worker before it serves.
            // No code of rsgi's reads the environment meanwhile.
            unsafe { std::env::set_var(key, value) };
            Ok(())
        }
        Hook::Print(text) => {
            tracing::info!("{text}");
            Ok(())
        }
        // The master's signal table reads these (`hooks::signal_actions`).
        Hook::UnixSignal { .. } => Ok(()),
    }
}

/// `/bin/sh -c CMD`, waited for; its exit status (128+N for a signal, as
/// the shell reports it).
fn shell(cmd: &str) -> Result<i32, String> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hooks::python_hook;

    fn hooks(raw: &[&str]) -> Vec<Hook> {
        raw.iter().map(|r| python_hook(r).expect(r)).collect()
    }

    #[test]
    fn hooks_run_in_order_and_stop_at_the_first_failure() {
        let dir = std::env::temp_dir().join(format!("rsgi-hooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let d = dir.display();
        let list = hooks(&[
            &format!("mkdir:{d}"),
            &format!("writen:{d}/log one"),
            &format!("appendn:{d}/log two"),
            &format!("exec:echo three >> {d}/log"),
            "call:app.four",
            &format!("create:{d}/gone"),
            &format!("unlink:{d}/gone"),
            "safeexec:exit 3",
            "exec:exit 4",
            &format!("appendn:{d}/log never"),
        ]);
        let mut called = Vec::new();
        let mut caller = |t: &str| {
            called.push(t.to_string());
            Ok(())
        };
        let err = run("hook-pre-app", &list, &mut caller).expect_err("exit 4 fails");
        assert_eq!(err.hook, "exec:exit 4");
        assert_eq!(
            err.to_string(),
            "hook-pre-app = exec:exit 4 failed: the command exited with status 4"
        );
        assert_eq!(called, ["app.four"]);
        let log = std::fs::read_to_string(dir.join("log")).expect("log");
        assert_eq!(log, "one\ntwo\nthree\n");
        assert!(!dir.join("gone").exists());
        // As mkdir(2) and unlink(2): an existing directory, a missing file fail.
        assert!(run("x", &hooks(&[&format!("mkdir:{d}")]), &mut no_python).is_err());
        assert!(run("x", &hooks(&[&format!("unlink:{d}/gone")]), &mut no_python).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_call_names_its_reason() {
        let err =
            run("hook-as-root", &hooks(&["call:m.f"]), &mut no_python).expect_err("no python");
        assert!(err.reason.contains("needs Python"), "{err}");
    }
}
