//! Worker counters and the stats document.
//!
//! - [`region`]: the shared memfd of per-worker counters (workers write,
//!   the master reads).
//! - [`document`]: uWSGI's stats JSON, built by the master from the region.

pub mod document;
pub mod region;
