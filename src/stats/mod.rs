//! Worker counters and the stats document.
//!
//! - [`region`]: the shared memfd of per-worker counters (workers write,
//!   the master reads).
//! - [`document`]: uWSGI's stats JSON, built by the master from the region.
//! - [`metrics`]: the same counters as Prometheus text.
//! - [`server`]: the sockets that serve them (master and emperor).

pub mod document;
pub mod metrics;
pub mod region;
pub mod server;
