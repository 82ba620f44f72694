//! The edge: pick the role (master or zygote), turn errors into readable
//! sentences and an exit status.

use std::process::ExitCode;

use rsgi::config::{self, Action};
use rsgi::ipc::{EXIT_CONFIG, handoff};
use rsgi::{master, zygote};

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The writer drops (and counts) what it cannot write; tracing's own
    // report of a failed write is an `eprintln!`, which panics when stderr
    // fails too, so it is off.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| rsgi::logfile::Stderr)
        .log_internal_errors(false)
        .with_target(false)
        .init();
}

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

fn main() -> ExitCode {
    if let Ok(handoff) = std::env::var(handoff::ENV) {
        init_logging();
        return zygote::main(&handoff);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loaded = match config::load(&args, &|k| std::env::var(k).ok()) {
        Ok(loaded) => loaded,
        Err(e) => {
            // Not eprintln!: it panics when stderr fails.
            for line in e.to_string().lines() {
                rsgi::logfile::STDERR.write(format!("rsgi: {line}\n").as_bytes());
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if loaded.action != Action::Run {
        return config::perform(&loaded);
    }
    init_logging();
    if let Err(e) = apply_process_limits(&loaded.config) {
        eprintln!("rsgi: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    if loaded.config.emperor.is_empty() {
        master::run(&loaded, args)
    } else {
        master::startup::log(&loaded);
        rsgi::emperor::run(&loaded.config)
    }
}
