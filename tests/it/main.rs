//! Black-box tests: the real `rsgi` binary, started on sockets the test
//! binds itself, driven as a client or an operator would, and killed by
//! PID whatever happens. One test binary, so `common` builds once.

mod common;

mod config_cli;
mod emperor;
mod hostile_apps;
mod hostile_requests;
mod http_corpus;
mod logging;
mod memory;
mod mounts;
mod nginx;
mod reload;
mod serving;
mod stats;
mod supervisor;
mod systemd_units;
mod uwsgi_corpus;
