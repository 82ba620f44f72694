//! Black-box tests: the real `rsgi` binary, started on sockets the test
//! binds itself, driven as a client or an operator would, and killed by
//! PID whatever happens. One test binary, so `common` builds once.

mod common;

mod config_apps;
mod config_cli;
mod config_compat;
mod config_corpus;
mod config_venv;
mod emperor;
mod examples;
mod faults;
mod harakiri_threads;
mod hostile_apps;
mod hostile_requests;
mod http_corpus;
mod layers;
mod lifecycle;
mod log_loss;
mod logging;
mod memory;
mod mounts;
mod nginx;
mod pip_install;
mod privileges;
mod python_versions;
mod reload;
mod serving;
mod sockets;
mod static_files;
mod stats;
mod supervisor;
mod systemd_units;
mod uwsgi_corpus;
mod uwsgi_module;
