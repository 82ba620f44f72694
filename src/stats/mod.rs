//! The stats the master serves, built from the shared region
//! (`rsgi_core::stats::region`) that the workers write.
//!
//! - [`document`]: uWSGI's stats JSON.
//! - [`metrics`]: the same counters as Prometheus text.
//! - [`server`]: the sockets that serve them (master and emperor).

pub mod document;
pub mod metrics;
pub mod server;
