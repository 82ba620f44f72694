//! Binding the configured sockets, once, in the master. Workers inherit
//! them, so a worker restart never closes a listening socket.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, bind, getsockname,
    listen, setsockopt, socket, sockopt,
};

use crate::config::Address;
use crate::worker::listener::StdListener;

/// A socket that could not be bound; the master exits 30 with this sentence.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {address}: {reason}")]
pub struct BindError {
    pub address: String,
    pub reason: String,
}

fn fail(address: &Address, reason: impl ToString) -> BindError {
    BindError {
        address: address.to_string(),
        reason: reason.to_string(),
    }
}

/// Bind and listen on `address` with the given backlog; unix sockets get
/// `chmod` (octal mode) when set.
pub fn bind_address(
    address: &Address,
    backlog: u32,
    chmod: Option<u32>,
) -> Result<StdListener, BindError> {
    let backlog =
        Backlog::new(i32::try_from(backlog).unwrap_or(i32::MAX).max(1)).unwrap_or(Backlog::MAXCONN);
    match address {
        Address::Tcp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let addr = (host, *port)
                .to_socket_addrs()
                .map_err(|e| fail(address, format!("cannot resolve the host: {e}")))?
                .next()
                .ok_or_else(|| fail(address, "the host resolves to no address"))?;
            bind_tcp(addr, backlog).map_err(|e| fail(address, e))
        }
        Address::Unix(path) => bind_unix(path, backlog, chmod).map_err(|e| fail(address, e)),
        Address::Fd(fd) => inherit_fd(*fd).map_err(|e| fail(address, e)),
    }
}

fn bind_tcp(addr: SocketAddr, backlog: Backlog) -> nix::Result<StdListener> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    // Restarting rsgi must not fail on connections of the previous run
    // lingering in TIME_WAIT.
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    // Hand a connection to accept() only once its first bytes arrived: a
    // worker then sees the request right after accepting, and counts it
    // before accepting more (see worker::exec::Executor::wait_for_thread).
    // Clients that connect and say nothing wait in the kernel, not in us.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads an int-sized value from a live local.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    listen(&fd, backlog)?;
    Ok(StdListener::Tcp(std::net::TcpListener::from(fd)))
}

fn bind_unix(path: &Path, backlog: Backlog, chmod: Option<u32>) -> io::Result<StdListener> {
    // A socket file left by a previous run that died would make bind fail
    // with EADDRINUSE; a live server on it answers connect, a stale one not.
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is listening on it",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    if let Some(mode) = chmod {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    // std binds with its own backlog (128); apply ours.
    listen(&listener, backlog)?;
    Ok(StdListener::Unix(listener))
}

/// A listening socket handed to us already open (`=3`, systemd).
pub fn inherit_fd(fd: i32) -> io::Result<StdListener> {
    // SAFETY: fcntl on an arbitrary integer is safe; it tells us whether it
    // is an open descriptor before we take ownership of it.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("file descriptor {fd} is not open"),
        ));
    }
    // SAFETY: the fd is open (checked above) and nothing else in rsgi owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let ty = nix::sys::socket::getsockopt(&owned, sockopt::SockType).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file descriptor {fd} is not a socket"),
        )
    })?;
    if ty != SockType::Stream {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file descriptor {fd} is not a stream socket"),
        ));
    }
    let local: SockaddrStorage = getsockname(fd)?;
    Ok(match local.family() {
        Some(AddressFamily::Unix) => {
            StdListener::Unix(std::os::unix::net::UnixListener::from(owned))
        }
        _ => StdListener::Tcp(std::net::TcpListener::from(owned)),
    })
}

/// Whether the listening socket `fd` is bound to `address` (for matching
/// systemd's sockets to the configured ones).
pub fn fd_matches(fd: i32, address: &Address) -> bool {
    let Ok(local) = getsockname::<SockaddrStorage>(fd) else {
        return false;
    };
    match address {
        Address::Tcp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let Some(sa) = local
                .as_sockaddr_in()
                .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(*a)))
                .or_else(|| {
                    local
                        .as_sockaddr_in6()
                        .map(|a| SocketAddr::from(std::net::SocketAddrV6::from(*a)))
                })
            else {
                return false;
            };
            sa.port() == *port
                && (host.is_empty()
                    || host == "0.0.0.0"
                    || host == "::"
                    || (host, *port)
                        .to_socket_addrs()
                        .is_ok_and(|mut a| a.any(|a| a.ip() == sa.ip())))
        }
        Address::Unix(path) => local
            .as_unix_addr()
            .and_then(|u| u.path())
            .is_some_and(|p| p == path.as_path()),
        Address::Fd(n) => *n == fd,
    }
}
