//! The edge: pick the role (master or zygote), turn errors into readable
//! sentences and an exit status from SPEC.md, and say at startup what
//! was loaded.

use std::process::ExitCode;

use rsgi::config::{self, Action, Loaded};
use rsgi::master::{self, EXIT_CONFIG};
use rsgi::zygote;

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// The startup lines: what was read, what it means, what was ignored.
/// (The master logs each socket as it binds it, the zygote the interpreter
/// and virtualenv.)
fn log_startup(loaded: &Loaded) {
    let c = &loaded.config;
    tracing::info!("rsgi {} starting", env!("CARGO_PKG_VERSION"));
    if loaded.files.is_empty() {
        tracing::info!("no config file; options from the command line and the environment");
    }
    for file in &loaded.files {
        tracing::info!(file = %file.display(), "config file read");
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    for i in &loaded.ignored {
        tracing::info!("{}: '{}' has no effect: {}", i.origin, i.written, i.reason);
    }
    if c.emperor.is_empty() {
        tracing::info!(
            "{} workers × {} threads{}",
            c.processes,
            c.threads,
            if c.lazy_apps { " (lazy-apps)" } else { "" }
        );
    }
    if let Some(stats) = &c.stats {
        tracing::info!(address = %stats, "stats server");
    }
    if let Some(metrics) = &c.metrics {
        tracing::info!(address = %metrics, "Prometheus metrics");
    }
    if c.show_config {
        for line in config::check_config_text(loaded).lines() {
            tracing::info!("{line}");
        }
    }
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
    if let Ok(handoff) = std::env::var(zygote::handoff::ENV) {
        init_logging();
        return zygote::main(&handoff);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loaded = match config::load(&args, &|k| std::env::var(k).ok()) {
        Ok(loaded) => loaded,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("rsgi: {line}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if loaded.action != Action::Run {
        return config::perform(&loaded);
    }
    init_logging();
    log_startup(&loaded);
    if let Err(e) = apply_process_limits(&loaded.config) {
        eprintln!("rsgi: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    if loaded.config.emperor.is_empty() {
        master::run(loaded.config, args)
    } else {
        rsgi::emperor::run(&loaded.config)
    }
}
