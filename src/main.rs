//! The master binary: load the config, then run the master (or the
//! Emperor); turn errors into readable sentences and an exit status.
//! It links no Python: zygotes and workers run in the app's interpreter
//! with rsgi's extension (crates/native).

mod daemon;
mod emperor;
mod master;
mod stats;
mod systemd;

use std::process::ExitCode;

use rsgi_core::config::{self, Action};
use rsgi_core::ipc::EXIT_CONFIG;
use rsgi_core::logfile;

/// `max-fd` and `limit-nproc`: limits for the whole instance, set before
/// the master starts anything so every process inherits them.
fn apply_process_limits(c: &config::Config) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    for (value, resource, name) in [
        (c.max_fd, Resource::RLIMIT_NOFILE, "max-fd"),
        (c.limit_nproc, Resource::RLIMIT_NPROC, "limit-nproc"),
    ] {
        if value > 0 {
            setrlimit(resource, value, value)
                .map_err(|e| format!("{name} = {value}: cannot set the limit: {e}"))?;
        }
    }
    Ok(())
}

/// `umask`: set before the master binds a socket or creates a file (the
/// log, the pidfile), so they and every process after inherit it. uWSGI
/// sets it as it reads the option, just as early.
fn apply_umask(c: &config::Config) {
    if let Some(mask) = c.umask {
        // SAFETY: umask only swaps the process's mask; it cannot fail.
        unsafe { libc::umask(mask.0 as libc::mode_t) };
    }
}

fn main() -> ExitCode {
    // Before anything reads the environment or starts a thread (see
    // claim_environ): room for process names longer than `rsgi app.ini`.
    rsgi_core::proctitle::claim_environ();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loaded = match config::load(&args, &|k| std::env::var(k).ok()) {
        Ok(loaded) => loaded,
        Err(e) => {
            // Not eprintln!: it panics when stderr fails.
            for line in e.to_string().lines() {
                logfile::STDERR.write(format!("rsgi: {line}\n").as_bytes());
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if loaded.action != Action::Run {
        return config::perform(&loaded);
    }
    rsgi_core::logger::init_tracing();
    if let Err(e) = apply_process_limits(&loaded.config) {
        logfile::STDERR.write(format!("rsgi: {e}\n").as_bytes());
        return ExitCode::from(EXIT_CONFIG);
    }
    apply_umask(&loaded.config);
    if let Err(e) = rsgi_core::logger::install(&loaded.config.loggers()) {
        logfile::STDERR.write(format!("rsgi: {e}\n").as_bytes());
        return ExitCode::from(EXIT_CONFIG);
    }
    match daemon::detach(&loaded.config) {
        Ok(daemon::Role::Launcher(status)) => return ExitCode::from(status),
        Ok(daemon::Role::Serve) => {}
        Err(e) => {
            logfile::STDERR.write(format!("rsgi: cannot daemonize: {e}\n").as_bytes());
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    if loaded.config.emperor.is_empty() {
        master::run(&loaded, args)
    } else {
        // The Emperor loads no app: daemonize2 is daemonize for it.
        daemon::loaded();
        master::startup::log(&loaded);
        emperor::run(&loaded.config)
    }
}
