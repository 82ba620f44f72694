//! What rsgi tells systemd, heard as systemd hears it: a datagram socket
//! whose path the test passes in NOTIFY_SOCKET. READY=1 once every worker
//! accepts, RELOADING=1 when a reload starts loading new code, READY=1
//! again when it is done (or given up), STOPPING=1 on the way out: the
//! events tests wait on, instead of sleeping or reading the log.

use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Notifications {
    path: PathBuf,
    socket: UnixDatagram,
    /// Each message with when it arrived.
    messages: mpsc::Receiver<(Instant, String)>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Notifications {
    /// Listen at `path`. A thread takes each message as it comes: a unix
    /// datagram queue holds 10 by default, and a sender to a full queue
    /// blocks, so an unread queue would stall rsgi's master.
    pub fn bind(path: &Path) -> Notifications {
        let socket =
            UnixDatagram::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        // Writable by anyone, as systemd's own socket is: a master that
        // dropped privileges (uid, gid) still reaches it.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
            .expect("chmod the notify socket");
        let reading = socket.try_clone().expect("clone the notify socket");
        let (tx, messages) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when Drop shuts the socket down (recv returns 0).
            while let Ok(n @ 1..) = reading.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send((Instant::now(), message)).is_err() {
                    return;
                }
            }
        });
        Notifications {
            path: path.to_path_buf(),
            socket,
            messages,
            reader: Some(reader),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next message, if one comes within `within`.
    pub fn next(&self, within: Duration) -> Option<String> {
        self.next_timed(within).map(|(_, m)| m)
    }

    /// The next message and when it arrived (read off the socket, however
    /// late the test takes it), if one comes within `within`.
    pub fn next_timed(&self, within: Duration) -> Option<(Instant, String)> {
        self.messages.recv_timeout(within).ok()
    }

    /// Every message sent until now and not yet taken. A marker the test
    /// sends itself queues behind all of them, so reading up to it misses
    /// none, without waiting on a clock.
    pub fn until_now(&self) -> Vec<String> {
        const MARKER: &str = "rsgi-tests: nothing was sent after this";
        UnixDatagram::unbound()
            .and_then(|s| s.send_to(MARKER.as_bytes(), &self.path))
            .expect("send the end marker");
        let mut messages = Vec::new();
        loop {
            match self.next(super::wait::PATIENCE) {
                Some(m) if m == MARKER => return messages,
                Some(m) => messages.push(m),
                None => panic!("the end marker did not come back"),
            }
        }
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Periodic messages (the watchdog's ping and its status line) that say
/// nothing about a state change.
pub fn is_periodic(message: &str) -> bool {
    message == "WATCHDOG=1" || message.starts_with("STATUS=")
}
