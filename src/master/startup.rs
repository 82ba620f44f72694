//! The lines logged once at start, before the sockets are bound: the
//! version, what was read, what it means, what was ignored. The sockets
//! follow as they are bound, and the zygote adds the interpreter and the
//! virtualenv. A reload logs none of these again: its config is re-read
//! quietly, and only its changes are noted.

use rsgi_core::config::{self, Loaded};

/// Log the startup lines; after `logto` took the log, so they land there.
pub fn log(loaded: &Loaded) {
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
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        tracing::info!(
            "{} worker{} × {} thread{}{}",
            c.processes,
            plural(c.processes),
            c.threads,
            plural(c.threads),
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
