//! Listening sockets as a worker sees them: inherited, already bound, of
//! one of two protocols; and the connections accepted from them.
//!
//! A connection is registered with the runtime only when it would block.
//! Most requests (a whole head there at accept, thanks to TCP_DEFER_ACCEPT,
//! and a response the socket takes at once) never do, and so never pay for
//! the two epoll_ctl calls and the bookkeeping a registration costs; with
//! a connection per request (nginx's uwsgi_pass) that is a fifth of the
//! worker's system calls.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use rsgi_core::net::accept::accept_nonblocking;
use rsgi_core::net::{ConnInfo, StdListener};

/// A listening socket registered with the worker's runtime.
pub struct Listener {
    fd: AsyncFd<StdListener>,
    /// The address connections arrive at (and its text), when the socket
    /// is bound to one (not a wildcard), so it need not be asked for, or
    /// formatted, per connection.
    local: Option<(SocketAddr, String)>,
}

/// An accepted, non-blocking connection.
pub struct Stream {
    /// Declared before `socket`: deregistration must precede the close.
    registered: OnceLock<io::Result<AsyncFd<RawFd>>>,
    socket: StdStream,
}

enum StdStream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Listener {
    /// Register an inherited socket; must run inside the runtime.
    pub fn from_std(l: StdListener) -> io::Result<Listener> {
        let local = match &l {
            StdListener::Tcp(t) => {
                t.set_nonblocking(true)?;
                // Accepted sockets inherit TCP_NODELAY from the listener
                // (Linux), which saves a setsockopt per connection.
                // Responses leave in one write, so Nagle would only delay
                // the next response on a keep-alive connection.
                nix::sys::socket::setsockopt(t, nix::sys::socket::sockopt::TcpNoDelay, &true)
                    .map_err(io::Error::from)?;
                Some(t.local_addr()?)
                    .filter(|a| !a.ip().is_unspecified())
                    .map(|a| (a, a.ip().to_string()))
            }
            StdListener::Unix(u) => {
                u.set_nonblocking(true)?;
                None
            }
        };
        // SAFETY: the AsyncFd owns the listener, so its fd stays open and
        // the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Listener { fd, local })
    }

    pub async fn accept(&self) -> io::Result<(Stream, ConnInfo)> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|l| accept_nonblocking(l.get_ref().as_raw_fd())) {
                Ok(accepted) => return self.describe(accepted?),
                Err(_would_block) => continue,
            }
        }
    }

    fn describe(
        &self,
        (fd, peer): (OwnedFd, Option<SocketAddr>),
    ) -> io::Result<(Stream, ConnInfo)> {
        let (socket, info) = match self.fd.get_ref() {
            StdListener::Tcp(_) => {
                let socket = std::net::TcpStream::from(fd);
                let peer = match peer {
                    Some(p) => p,
                    None => socket.peer_addr()?,
                };
                let (server_name, server_port) = match &self.local {
                    Some((addr, name)) => (name.clone(), addr.port()),
                    None => {
                        let addr = socket.local_addr()?;
                        (addr.ip().to_string(), addr.port())
                    }
                };
                let info = ConnInfo {
                    remote_addr: peer.ip().to_string(),
                    remote_port: peer.port(),
                    server_name,
                    server_port,
                };
                (StdStream::Tcp(socket), info)
            }
            StdListener::Unix(_) => {
                let info = ConnInfo {
                    remote_addr: String::new(),
                    remote_port: 0,
                    server_name: "localhost".into(),
                    server_port: 0,
                };
                (
                    StdStream::Unix(std::os::unix::net::UnixStream::from(fd)),
                    info,
                )
            }
        };
        Ok((
            Stream {
                registered: OnceLock::new(),
                socket,
            },
            info,
        ))
    }
}

impl Stream {
    pub fn as_raw_fd(&self) -> RawFd {
        match &self.socket {
            StdStream::Tcp(s) => s.as_raw_fd(),
            StdStream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Send a FIN: the client reads to the end of what was written, while
    /// the socket still takes what the client sends (a lingering close).
    pub fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: shutdown(2) on a descriptor this Stream owns.
        if unsafe { libc::shutdown(self.as_raw_fd(), libc::SHUT_WR) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Read what the socket holds, at most `max` bytes, into `buf`'s
    /// spare capacity, waiting (and registering with the runtime, the
    /// first time) only if it holds nothing yet. Ok(0) is end of stream.
    pub async fn read_buf(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        // Once registered, the runtime's readiness says whether a read can
        // succeed; trying first would cost a failed recv per wait.
        if self.registered.get().is_none() {
            match self.read_now(buf, max) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        let fd = self.registered()?;
        loop {
            let mut ready = fd.readable().await?;
            match ready.try_io(|_| self.read_now(buf, max)) {
                Ok(done) => return done,
                Err(_would_block) => continue,
            }
        }
    }

    /// Write some of `data`, waiting only if the socket takes none now.
    pub async fn write(&self, data: &[u8]) -> io::Result<usize> {
        if self.registered.get().is_none() {
            match self.write_now(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        let fd = self.registered()?;
        loop {
            let mut ready = fd.writable().await?;
            match ready.try_io(|_| self.write_now(data)) {
                Ok(done) => return done,
                Err(_would_block) => continue,
            }
        }
    }

    /// `sendfile(2)` at most `count` bytes of `file` from `*offset`
    /// (which advances), waiting only if the socket takes none now.
    /// Ok(0): the file ends before `*offset`.
    pub async fn send_file(
        &self,
        file: RawFd,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        if self.registered.get().is_none() {
            match self.send_file_now(file, offset, count) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        let fd = self.registered()?;
        loop {
            let mut ready = fd.writable().await?;
            match ready.try_io(|_| self.send_file_now(file, offset, count)) {
                Ok(done) => return done,
                Err(_would_block) => continue,
            }
        }
    }

    fn send_file_now(&self, file: RawFd, offset: &mut u64, count: usize) -> io::Result<usize> {
        let mut off = libc::off_t::try_from(*offset).map_err(io::Error::other)?;
        // SAFETY: both descriptors are open for the call; `off` is ours.
        let n = unsafe { libc::sendfile(self.as_raw_fd(), file, &mut off, count) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        *offset = off as u64;
        Ok(n as usize)
    }

    fn read_now(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(max.min(16 * 1024));
        }
        let spare = buf.spare_capacity_mut();
        let room = spare.len().min(max);
        // SAFETY: recv writes at most room <= spare.len() bytes into memory we own.
        let n = unsafe { libc::recv(self.as_raw_fd(), spare.as_mut_ptr().cast(), room, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: recv initialised the first n bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n as usize) };
        Ok(n as usize)
    }

    fn write_now(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: send reads at most data.len() bytes from a live slice.
        // MSG_NOSIGNAL: a client that went away is an EPIPE, not a SIGPIPE.
        let n = unsafe {
            libc::send(
                self.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn registered(&self) -> io::Result<&AsyncFd<RawFd>> {
        self.registered
            // SAFETY: `registered` is dropped before `socket` (field
            // order), so the fd stays open for the AsyncFd's whole life.
            .get_or_init(|| {
                unsafe { AsyncFd::register(self.as_raw_fd()) }.map_err(|e| e.into_parts().1)
            })
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))
    }
}
