//! rsgi: a uWSGI-compatible WSGI server and process supervisor.
//!
//! The modules follow the flow of data (see ARCHITECTURE.md):
//! - [`config`]: every config source into one typed, validated `Config`.
//! - [`protocol`]: bytes to request heads and back; pure, no I/O.
pub mod config;
pub mod protocol;
