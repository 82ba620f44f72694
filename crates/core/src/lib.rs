//! rsgi-core: what the master and the Python side share. No Python here,
//! so the master, which links only this, never maps libpython.
//!
//! The layers, bottom up (a module uses only those below it):
//! - [`protocol`], [`net`], [`ipc`]: bytes on the wire, sockets, the
//!   messages between master, zygote and workers; [`cron`]: uWSGI's
//!   cron rule;
//! - [`config`], [`logformat`], [`logfile`], [`logger`], [`proctitle`],
//!   [`stats`]: the typed config and what every process needs to log,
//!   name itself and count;
//! - [`static_files`]: what the static-file options decide.
//! - [`hooks`]: running the config's start-up hooks.
pub mod config;
pub mod cron;
pub mod hooks;
pub mod ipc;
pub mod logfile;
pub mod logformat;
pub mod logger;
pub mod net;
pub mod proctitle;
pub mod protocol;
pub mod static_files;
pub mod stats;
