//! Binding the configured sockets, once, in the master. Workers inherit
//! them, so a worker restart never closes a listening socket.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, bind, getsockname,
    getsockopt, listen, setsockopt, socket, sockopt,
};

use crate::net::Address;
use crate::net::StdListener;

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

/// What a unix socket file gets once bound: `chmod-socket` and
/// `chown-socket` (the ids, looked up by the caller; None keeps that id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnixPerms {
    pub mode: Option<u32>,
    pub owner: Option<(Option<u32>, Option<u32>)>,
}

impl UnixPerms {
    pub fn mode(mode: Option<u32>) -> UnixPerms {
        UnixPerms { mode, owner: None }
    }
}

/// Bind and listen on `address` with the given backlog; a unix socket's
/// file gets `perms`.
pub fn bind_address(
    address: &Address,
    backlog: u32,
    perms: UnixPerms,
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
        Address::Unix(path) => bind_unix(path, backlog, perms).map_err(|e| fail(address, e)),
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

fn bind_unix(path: &Path, backlog: Backlog, perms: UnixPerms) -> io::Result<StdListener> {
    // A socket file left by a previous run that died would make bind fail
    // with EADDRINUSE; a live server on it answers connect, a stale one not.
    // Only a socket is ever removed: a typo'd path must not cost a file.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another server is listening on it",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; rsgi only replaces a socket an earlier run left",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    if let Some(mode) = perms.mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    if let Some((uid, gid)) = perms.owner {
        // As uWSGI's uwsgi_chown: the file itself (a socket, not a link).
        std::os::unix::fs::lchown(path, uid, gid)
            .map_err(|e| io::Error::new(e.kind(), format!("chown-socket: {e}")))?;
    }
    // std binds with its own backlog (128); apply ours.
    listen(&listener, backlog)?;
    Ok(StdListener::Unix(listener))
}

/// A listening socket handed to us already open (`=3`, systemd). It is
/// checked through the bare number first, and adopted (to be closed by
/// us) only once it is a listening stream socket of a family rsgi serves:
/// a wrong number (`--socket =2`) is an error that leaves the descriptor
/// alone, stderr included.
pub fn inherit_fd(fd: i32) -> io::Result<StdListener> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file descriptor {fd} {what}"),
        )
    };
    // SAFETY: fcntl on an arbitrary integer is safe; it tells us whether it
    // is an open descriptor before we borrow it.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("file descriptor {fd} is not open"),
        ));
    }
    // SAFETY: open (checked above) and not closed while borrowed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let ty = getsockopt(&borrowed, sockopt::SockType).map_err(|_| invalid("is not a socket"))?;
    if ty != SockType::Stream {
        return Err(invalid("is not a stream socket"));
    }
    if !getsockopt(&borrowed, sockopt::AcceptConn).unwrap_or(false) {
        return Err(invalid("is not a listening socket"));
    }
    let local: SockaddrStorage = getsockname(fd)?;
    let family = local.family();
    if !matches!(
        family,
        Some(AddressFamily::Inet | AddressFamily::Inet6 | AddressFamily::Unix)
    ) {
        return Err(invalid("is not a TCP or unix socket"));
    }
    // SAFETY: a listening socket of ours from now on (checked above);
    // nothing else in rsgi owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(match family {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn is_open(fd: i32) -> bool {
        // SAFETY: fcntl on an integer only reports whether it is open.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rsgi-bind-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn descriptors_that_are_not_listening_sockets_are_refused_and_left_open() {
        let (r, w) = std::io::pipe().expect("pipe");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let connected =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let unconnected = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        let datagram = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let cases: Vec<(i32, &str)> = vec![
            (r.as_raw_fd(), "is not a socket"),
            (w.as_raw_fd(), "is not a socket"),
            (unconnected.as_raw_fd(), "is not a listening socket"),
            (connected.as_raw_fd(), "is not a listening socket"),
            (datagram.as_raw_fd(), "is not a stream socket"),
            (libc::STDERR_FILENO, ""),
        ];
        for (fd, why) in cases {
            let err = inherit_fd(fd).map(|_| ()).expect_err("refused");
            assert!(err.to_string().contains(why), "fd {fd}: {err}");
            assert!(is_open(fd), "fd {fd} was closed");
        }
        assert!(inherit_fd(-1).is_err());
        assert!(inherit_fd(987_654).is_err());
    }

    #[test]
    fn listening_sockets_are_adopted_by_family() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        let fd = tcp.into_raw_fd();
        assert!(matches!(inherit_fd(fd), Ok(StdListener::Tcp(_))));
        let dir = scratch("family");
        let unix = std::os::unix::net::UnixListener::bind(dir.join("s")).expect("unix");
        let fd = unix.into_raw_fd();
        assert!(matches!(inherit_fd(fd), Ok(StdListener::Unix(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_a_socket_is_replaced_at_a_unix_path() {
        let dir = scratch("replace");
        let backlog = Backlog::new(8).expect("backlog");
        // A regular file, a directory and a symlink stay, with an error naming them.
        let file = dir.join("file");
        std::fs::write(&file, "precious").expect("file");
        let sub = dir.join("dir");
        std::fs::create_dir(&sub).expect("dir");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        for path in [&file, &sub, &link] {
            let err = bind_unix(path, backlog, UnixPerms::default())
                .map(|_| ())
                .expect_err("refused");
            assert!(
                err.to_string().contains(&path.display().to_string())
                    && err.to_string().contains("not a socket"),
                "{err}"
            );
        }
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "precious");
        assert!(sub.is_dir());
        // A stale socket (nobody listening) is replaced; a live one is not.
        let stale = dir.join("stale");
        drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
        let live =
            bind_unix(&stale, backlog, UnixPerms::default()).expect("replaces a stale socket");
        let err = bind_unix(&stale, backlog, UnixPerms::default())
            .map(|_| ())
            .expect_err("live");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(live);
        let _ = std::fs::remove_dir_all(dir);
    }
}
