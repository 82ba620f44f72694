//! What the master hands a zygote across `exec`: the config and the
//! numbers of the fds it inherits, as JSON in one environment variable
//! (removed before Python starts, so the app never sees it).
//! Both ends are built from this source, so serde's derived form is the
//! contract; the version field catches a master and an extension that
//! come from different builds (a package upgraded under a running master).
//! The config travels as a type parameter, so this layer does not depend
//! on the config layer above it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::net::Proto;

/// The version both ends must share.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The environment variable that makes an `rsgi` process a zygote.
pub const ENV: &str = "RSGI_ZYGOTE";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handoff<C> {
    /// [`VERSION`] of the master that wrote it.
    pub version: String,
    pub config: C,
    /// Listening sockets, in config order.
    pub sockets: Vec<(i32, Proto)>,
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

impl<C: Serialize + DeserializeOwned> Handoff<C> {
    pub fn to_env(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_env(value: &str) -> Result<Handoff<C>, serde_json::Error> {
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
    use crate::config::Config;

    #[test]
    fn the_handoff_round_trips_and_garbage_is_an_error() {
        let h = Handoff {
            version: VERSION.into(),
            config: Config {
                processes: 3,
                // Keys no option knows reach the zygote too.
                custom_options: vec![("my-setting".into(), "on".into())],
                ..Config::default()
            },
            sockets: vec![(5, Proto::Http), (6, Proto::Uwsgi)],
            stats_fd: 7,
            events_fd: 8,
            control_fd: 9,
            lifeline_fd: 10,
            generation: 2,
        };
        let back = Handoff::<Config>::from_env(&h.to_env().expect("encode")).expect("decode");
        assert_eq!(back.config, h.config);
        assert_eq!(back.sockets, h.sockets);
        assert_eq!(back.fds(), vec![5, 6, 7, 8, 9, 10]);
        for garbage in ["", "{", "[]", "{\"config\": 1}", "\u{0}"] {
            assert!(Handoff::<Config>::from_env(garbage).is_err(), "{garbage:?}");
        }
    }
}
