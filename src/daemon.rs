//! `daemonize FILE` and `daemonize2 FILE`: detach from the terminal as
//! uWSGI does (core/utils.c `daemonize`): fork, `setsid`, fork again (so
//! the daemon is no session leader and can never get a controlling
//! terminal), stdin from /dev/null, stdout and stderr to FILE.
//!
//! The launching process waits on a pipe for the daemon's word before it
//! exits, so its exit status means something: 0 once the daemon has taken
//! FILE (`daemonize`) or once every worker accepts (`daemonize2`, whose
//! daemon keeps the terminal as its log until then, so load errors are
//! seen where rsgi was started); 1 if the daemon ended first. uWSGI's
//! launcher exits 0 at the first fork whatever happens next.
//!
//! Under an Emperor a vassal does not detach (its Emperor watches its
//! pid); it only logs to FILE, as uWSGI's vassals do. rsgi reloads in
//! place, so the detached master stays the same process across reloads.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use rsgi_core::config::Config;
use rsgi_core::ipc::VASSAL_ENV;

/// Which process this is after [`detach`].
pub enum Role {
    /// Go on to serve: no daemonizing was asked (or this is a vassal),
    /// or this is the daemon.
    Serve,
    /// The launching process: exit with this status.
    Launcher(u8),
}

/// `daemonize2`'s daemon, until the app has loaded: the log file to take
/// and the pipe its launcher waits on.
struct Pending {
    file: File,
    path: PathBuf,
    launcher: OwnedFd,
}

static PENDING: Mutex<Option<Pending>> = Mutex::new(None);

/// Detach if the config asks for it. Call before any thread or child
/// exists (the forks copy only the calling thread).
pub fn detach(config: &Config) -> Result<Role, String> {
    let (path, after_load) = match (&config.daemonize, &config.daemonize2) {
        (Some(path), _) => (path, false),
        (None, Some(path)) => (path, true),
        (None, None) => return Ok(Role::Serve),
    };
    if std::env::var_os(VASSAL_ENV).is_some() {
        // The master logs to `log_file()`, which names FILE.
        return Ok(Role::Serve);
    }
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        tracing::warn!(
            "daemonize under systemd: with Type=notify systemd takes the launching process, \
             which exits now, for the service; run rsgi in the foreground instead (drop \
             daemonize; systemd logs stderr)"
        );
    }
    let file = rsgi_core::logfile::open_append(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    let (waiting, launcher) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: no other thread exists yet (see above).
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("cannot fork: {e}"))? {
        nix::unistd::ForkResult::Parent { child } => {
            drop(launcher);
            // The first child exits as soon as it has forked the daemon.
            let _ = nix::sys::wait::waitpid(child, None);
            return Ok(Role::Launcher(wait_for_word(waiting)));
        }
        nix::unistd::ForkResult::Child => {}
    }
    drop(waiting);
    if let Err(e) = nix::unistd::setsid() {
        tell_and_exit(&format!("cannot start a session: {e}"));
    }
    // SAFETY: still the only thread.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => tell_and_exit(&format!("cannot fork: {e}")),
    }
    if let Err(e) = stdin_from_dev_null() {
        tell_and_exit(&format!("cannot open /dev/null: {e}"));
    }
    let pending = Pending {
        file,
        path: path.clone(),
        launcher,
    };
    if after_load {
        if let Ok(mut slot) = PENDING.lock() {
            *slot = Some(pending);
        }
    } else {
        take_log(pending);
    }
    Ok(Role::Serve)
}

/// Whether `daemonize2`'s daemon still waits for the app (its log is
/// still the terminal's).
pub fn waiting_for_load() -> bool {
    PENDING.lock().is_ok_and(|p| p.is_some())
}

/// Every worker accepts: `daemonize2`'s daemon takes its log file and
/// lets its launcher exit. Later calls do nothing.
pub fn loaded() {
    let pending = PENDING.lock().ok().and_then(|mut p| p.take());
    if let Some(pending) = pending {
        tracing::info!(
            "the app has loaded: detached from the terminal, logging to {}",
            pending.path.display()
        );
        take_log(pending);
    }
}

/// Make FILE this process's stdout and stderr, then tell the launcher.
fn take_log(pending: Pending) {
    let Pending { file, launcher, .. } = pending;
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto a standard descriptor; `file` is open.
        unsafe { libc::dup2(file.as_raw_fd(), fd) };
    }
    let _ = File::from(launcher).write_all(b"0");
}

fn stdin_from_dev_null() -> std::io::Result<()> {
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 onto stdin; `null` is open.
    if unsafe { libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// In the forked processes, before the daemon runs: say why on the
/// terminal (still stderr) and exit; the launcher then exits 1.
fn tell_and_exit(why: &str) -> ! {
    rsgi_core::logfile::STDERR.write(format!("rsgi: cannot daemonize: {why}\n").as_bytes());
    std::process::exit(1)
}

/// The launcher's exit status: 0 once the daemon said it detached, 1 if
/// it ended first (it said why on the terminal).
fn wait_for_word(waiting: OwnedFd) -> u8 {
    let mut word = [0u8; 1];
    let mut waiting = File::from(waiting);
    let read = loop {
        match waiting.read(&mut word) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => break other,
        }
    };
    match read {
        Ok(1) => 0,
        _ => {
            rsgi_core::logfile::STDERR
                .write(b"rsgi: the daemon exited before it detached (see above)\n");
            1
        }
    }
}
