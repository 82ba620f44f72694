//! Black-box test support: start the real `rsgi` binary on sockets the
//! test binds and keeps ([`Listener`], passed as `=FD`), know when it is
//! ready from what it tells systemd ([`Notifications`]), talk to it as a
//! client would, and kill every process it started by PID ([`Guard`]).

mod dir;
mod gate;
mod http;
mod load;
mod nginx;
mod notify;
mod process;
mod server;
mod sockets;
mod stats;
mod tmpfs;
mod wait;

pub use dir::TempDir;
pub use gate::*;
pub use http::*;
pub use load::*;
pub use nginx::*;
pub use process::*;
pub use server::*;
pub use sockets::*;
pub use stats::*;
pub use tmpfs::Tmpfs;
pub use wait::*;
