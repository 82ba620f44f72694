//! What the master hands a zygote across `exec`: the config and the
//! numbers of the fds it inherits, as JSON in one environment variable
//! (removed before Python starts, so the app never sees it).

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The environment variable that makes an `rsgi` process a zygote.
pub const ENV: &str = "RSGI_ZYGOTE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocketProto {
    Http,
    Uwsgi,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handoff {
    pub config: Config,
    /// Listening sockets, in config order.
    pub sockets: Vec<(i32, SocketProto)>,
    /// The stats region's memfd.
    pub stats_fd: i32,
    /// Datagram socket for worker → master events.
    pub events_fd: i32,
    /// Stream socket for master ↔ zygote commands.
    pub control_fd: i32,
    /// Read end of a pipe whose write end only the master holds: EOF on it
    /// means the master is gone.
    pub lifeline_fd: i32,
    /// The reload generation this zygote serves (for logs).
    pub generation: u64,
}

impl Handoff {
    pub fn to_env(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_env(value: &str) -> Result<Handoff, serde_json::Error> {
        serde_json::from_str(value)
    }

    /// Every fd the zygote must inherit.
    pub fn fds(&self) -> Vec<i32> {
        let mut fds: Vec<i32> = self.sockets.iter().map(|(fd, _)| *fd).collect();
        fds.extend([
            self.stats_fd,
            self.events_fd,
            self.control_fd,
            self.lifeline_fd,
        ]);
        fds
    }
}
