//! systemd integration: `sd_notify` over NOTIFY_SOCKET, and socket
//! activation (LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES). Both are plain
//! protocols over the environment and a datagram socket; no libsystemd.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The first fd systemd passes (SD_LISTEN_FDS_START).
const LISTEN_FDS_START: i32 = 3;

/// A connection to the service manager, if rsgi runs under one.
pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    /// Half of WATCHDOG_USEC: how often to ping, if the unit asks for it.
    pub watchdog_every: Option<Duration>,
}

impl Notifier {
    /// Read NOTIFY_SOCKET and WATCHDOG_USEC, and remove them from the
    /// environment so no child (the app) writes to systemd as us.
    pub fn from_env() -> Notifier {
        let path = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|p| !p.is_empty());
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|_| watchdog_for_us())
            .map(|us| Duration::from_micros(us / 2));
        // SAFETY: called at startup, before any other thread exists.
        unsafe {
            std::env::remove_var("NOTIFY_SOCKET");
            std::env::remove_var("WATCHDOG_USEC");
            std::env::remove_var("WATCHDOG_PID");
        }
        let socket = path.and_then(|p| UnixDatagram::unbound().ok().map(|s| (s, p)));
        Notifier {
            socket,
            watchdog_every,
        }
    }

    /// Send one notification (lines like `READY=1\nSTATUS=...`).
    pub fn notify(&self, state: &str) {
        let Some((sock, path)) = &self.socket else {
            return;
        };
        let sent = if let Some(abstract_name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
        } else {
            sock.send_to(state.as_bytes(), path)
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={status}"));
    }

    /// RELOADING=1 with the CLOCK_MONOTONIC timestamp systemd ≥ 253 wants.
    pub fn reloading(&self) {
        let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={ts}"));
    }

    pub fn stopping(&self) {
        self.notify("STOPPING=1");
    }

    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }
}

fn watchdog_for_us() -> bool {
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) => pid.parse::<u32>().ok() == Some(std::process::id()),
        Err(_) => true,
    }
}

/// Sockets passed by systemd: (fd, name). Empty unless LISTEN_PID is us.
/// The variables are removed so children do not take them for their own.
pub fn listen_fds() -> Vec<(i32, Option<String>)> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    // SAFETY: startup, single-threaded.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if !pid_ok || count <= 0 {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            (
                LISTEN_FDS_START + i,
                names.get(i as usize).cloned().filter(|n| !n.is_empty()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_in_order() {
        let dir = std::env::temp_dir().join(format!("rsgi-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = UnixDatagram::bind(&dir).expect("bind");
        let n = Notifier {
            socket: Some((
                UnixDatagram::unbound().expect("socket"),
                dir.to_string_lossy().into_owned(),
            )),
            watchdog_every: None,
        };
        n.ready("2 workers");
        n.reloading();
        n.stopping();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..3 {
            let len = listener.recv(&mut buf).expect("recv");
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        let _ = std::fs::remove_file(&dir);
        assert_eq!(got[0], "READY=1\nSTATUS=2 workers");
        assert!(
            got[1].starts_with("RELOADING=1\nMONOTONIC_USEC="),
            "{}",
            got[1]
        );
        assert_eq!(got[2], "STOPPING=1");
    }
}
