//! Sockets: what a listening socket is (its protocol and its std type),
//! binding or inheriting one, accepting from it, and the facts about a
//! connection an app sees.
//!
//! - [`bind`]: bind an address from the config, or adopt an inherited fd.
//! - [`accept`]: accept4 with the peer's address in one call.

pub mod accept;
pub mod bind;

use std::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A socket address as users write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Address {
    /// `host:port`; `:port` means every interface (host "0.0.0.0").
    Tcp { host: String, port: u16 },
    /// A unix socket path.
    Unix(PathBuf),
    /// `=N`: an already open file descriptor.
    Fd(i32),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') && !host.starts_with('[') => {
                write!(f, "[{host}]:{port}")
            }
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Fd(n) => write!(f, "={n}"),
        }
    }
}

/// Which wire protocol a listening socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proto {
    /// HTTP/1.1 (`http-socket`, `http`).
    Http,
    /// The uwsgi binary protocol (`socket`, nginx `uwsgi_pass`).
    Uwsgi,
}

/// A bound listening socket, as std types.
#[derive(Debug)]
pub enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl AsRawFd for StdListener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            StdListener::Tcp(l) => l.as_raw_fd(),
            StdListener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// Facts about the connection a request came in on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote_addr: String,
    pub remote_port: u16,
    pub server_name: String,
    pub server_port: u16,
}
