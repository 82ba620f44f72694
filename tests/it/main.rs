//! Black-box tests: the real `rsgi` binary, started on sockets the test
//! binds itself, driven as a client or an operator would, and killed by
//! PID whatever happens. One test binary, so `common` builds once.

mod common;

mod cheaper;
mod config_apps;
mod config_cli;
mod config_compat;
mod config_corpus;
mod config_venv;
mod daemonize;
mod deploy_examples;
mod emperor;
mod examples;
mod faults;
mod fuzz_corpus;
mod harakiri_threads;
mod hostile_apps;
mod hostile_requests;
mod http_corpus;
mod layers;
mod lifecycle;
mod log_loss;
mod loggers;
mod logging;
mod memory;
mod mounts;
mod nginx;
mod origins;
mod pip_install;
mod privileges;
mod process_setup;
mod python_versions;
mod recycling;
mod reload;
mod response_headers;
mod scale_out;
mod serving;
mod sidecars;
mod sockets;
mod static_files;
mod stats;
mod supervisor;
mod systemd_units;
mod uwsgi_corpus;
mod uwsgi_module;
