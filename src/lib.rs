//! rsgi: a uWSGI-compatible WSGI server and process supervisor.
//!
//! The modules follow the flow of data (see ARCHITECTURE.md):
//! - [`config`]: every config source into one typed, validated `Config`.
//! - [`protocol`]: bytes to request heads and back; pure, no I/O.
//! - [`wsgi`]: PEP 3333 over pyo3: app loading, environ, calling the app.
pub mod config;
pub mod emperor;
pub mod interpreter;
pub mod ipc;
pub mod logfile;
pub mod logformat;
pub mod master;
pub mod proctitle;
pub mod protocol;
pub mod stats;
pub mod systemd;
pub mod worker;
pub mod wsgi;
pub mod zygote;
