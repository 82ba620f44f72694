//! Listening sockets the test binds itself and hands to rsgi as `=FD` (a
//! descriptor it inherits), so an address is never picked, released and
//! then bound again, with another test free to take it in between: the
//! test holds the socket from its bind to its end.

use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// A TCP socket on 127.0.0.1 at a port the kernel picks, set up as
    /// rsgi sets up the sockets it binds itself (TCP_DEFER_ACCEPT: a
    /// worker accepts a connection once its request is there), so a test
    /// sees what `--http-socket 127.0.0.1:PORT` would give.
    pub fn tcp() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let one: libc::c_int = 1;
        // SAFETY: setsockopt reads an int-sized value from a live local.
        let rc = unsafe {
            libc::setsockopt(
                l.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "TCP_DEFER_ACCEPT");
        Listener::Tcp(l)
    }

    /// A unix socket at `path` (in the test's own temp dir).
    pub fn unix(path: &Path) -> Listener {
        let l = UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        Listener::Unix(l, path.to_path_buf())
    }

    /// The TCP port; panics for a unix socket.
    pub fn port(&self) -> u16 {
        match self {
            Listener::Tcp(l) => l.local_addr().expect("local address").port(),
            Listener::Unix(_, path) => panic!("{} has no port", path.display()),
        }
    }

    /// Whether process `pid` has this socket open (by the socket's inode,
    /// as /proc shows it: `socket:[N]`).
    pub fn held_by(&self, pid: i32) -> bool {
        let me = std::fs::read_link(format!("/proc/self/fd/{}", self.as_fd().as_raw_fd()))
            .expect("our own descriptor");
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == me))
    }

    /// A second descriptor for the same socket (rsgi gets this one).
    pub fn dup(&self) -> OwnedFd {
        self.as_fd().try_clone_to_owned().expect("dup a listener")
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        }
    }
}
