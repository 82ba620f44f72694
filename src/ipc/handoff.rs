//! What the master hands a zygote across `exec`: the config and the
//! numbers of the fds it inherits, as JSON in one environment variable
//! (removed before Python starts, so the app never sees it).
//! Both ends are the same binary, so serde's derived form is the contract.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handoff_round_trips_and_garbage_is_an_error() {
        let h = Handoff {
            config: Config {
                processes: 3,
                // Keys no option knows reach the zygote too.
                custom_options: vec![("my-setting".into(), "on".into())],
                ..Config::default()
            },
            sockets: vec![(5, SocketProto::Http), (6, SocketProto::Uwsgi)],
            stats_fd: 7,
            events_fd: 8,
            control_fd: 9,
            lifeline_fd: 10,
            generation: 2,
        };
        let back = Handoff::from_env(&h.to_env().expect("encode")).expect("decode");
        assert_eq!(back.config, h.config);
        assert_eq!(back.sockets, h.sockets);
        assert_eq!(back.fds(), vec![5, 6, 7, 8, 9, 10]);
        for garbage in ["", "{", "[]", "{\"config\": 1}", "\u{0}"] {
            assert!(Handoff::from_env(garbage).is_err(), "{garbage:?}");
        }
    }
}
