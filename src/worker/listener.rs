//! Listening sockets as a worker sees them: inherited, already bound, of
//! one of two protocols.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::wsgi::environ::ConnInfo;

/// Which wire protocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Uwsgi,
}

/// A bound listening socket, before the worker's runtime exists.
#[derive(Debug)]
pub enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl StdListener {
    pub fn as_raw_fd(&self) -> RawFd {
        match self {
            StdListener::Tcp(l) => l.as_raw_fd(),
            StdListener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// A listening socket registered with the worker's runtime.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// An accepted connection.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    /// Register an inherited socket; must run inside the runtime.
    pub fn from_std(l: StdListener) -> io::Result<Listener> {
        Ok(match l {
            StdListener::Tcp(l) => {
                l.set_nonblocking(true)?;
                Listener::Tcp(TcpListener::from_std(l)?)
            }
            StdListener::Unix(l) => {
                l.set_nonblocking(true)?;
                Listener::Unix(UnixListener::from_std(l)?)
            }
        })
    }

    pub async fn accept(&self) -> io::Result<(Stream, ConnInfo)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                let local = s.local_addr()?;
                let info = ConnInfo {
                    remote_addr: peer.ip().to_string(),
                    remote_port: peer.port(),
                    server_name: local.ip().to_string(),
                    server_port: local.port(),
                };
                Ok((Stream::Tcp(s), info))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                let info = ConnInfo {
                    remote_addr: String::new(),
                    remote_port: 0,
                    server_name: "localhost".into(),
                    server_port: 0,
                };
                Ok((Stream::Unix(s), info))
            }
        }
    }
}

impl Stream {
    pub fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
        }
    }

    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }

    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            Stream::Unix(s) => s.writable().await,
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }
}
