//! The edge: pick the role (master or zygote), turn errors into one
//! readable sentence and an exit status from SPEC.md.

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

fn main() -> ExitCode {
    if let Ok(handoff) = std::env::var(handoff::ENV) {
        init_logging();
        return zygote::main(&handoff);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loaded = match config::load(&args, &|k| std::env::var(k).ok()) {
        Ok(loaded) => loaded,
        Err(e) => {
            rsgi::logfile::STDERR.write(format!("rsgi: {e}\n").as_bytes());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match loaded.action {
        Action::Run if !loaded.config.emperor.is_empty() => {
            init_logging();
            rsgi::emperor::run(&loaded.config)
        }
        Action::Run => {
            init_logging();
            master::run(loaded.config, args)
        }
        _ => config::perform(&loaded),
    }
}
