//! The master's listening sockets: the running set every zygote inherits,
//! and during a SIGHUP reload the candidate set of the re-read config.
//! A socket both sets name is shared, not rebound, so no connection
//! waiting in its queue is lost; the candidate becomes the running set only
//! once the new code has loaded, and is dropped (closing what it alone
//! bound) if the reload fails.

use std::sync::Arc;

use rsgi_core::config::{Address, Config};
use rsgi_core::net::Proto;
use rsgi_core::net::StdListener;
use rsgi_core::net::bind::{self, BindError};

/// A bound socket, as the master keeps it for every zygote to inherit.
pub struct BoundSocket {
    pub address: Address,
    pub proto: Proto,
    pub listener: StdListener,
}

/// Every socket `config` asks for, in config order.
pub fn wanted(config: &Config) -> Vec<(Address, Proto)> {
    config
        .http_socket
        .iter()
        .chain(&config.http)
        .map(|a| (a.clone(), Proto::Http))
        .chain(config.socket.iter().map(|a| (a.clone(), Proto::Uwsgi)))
        .collect()
}

/// What each unix socket file gets: `chmod-socket`, and `chown-socket`
/// with its user and group looked up now (names or numbers, as uWSGI's
/// `uwsgi_chown`).
pub fn unix_perms(config: &Config) -> Result<bind::UnixPerms, String> {
    let owner = match &config.chown_socket {
        None => None,
        Some(owner) => {
            let fail = |what: &str, e: String| format!("chown-socket = {owner}: {what}: {e}");
            let (uid, _) = super::lookup_user(&owner.user).map_err(|e| fail(&owner.user, e))?;
            let gid = match &owner.group {
                Some(g) => Some(super::lookup_group(g).map_err(|e| fail(g, e))?.as_raw()),
                None => None,
            };
            Some((Some(uid.as_raw()), gid))
        }
    };
    Ok(bind::UnixPerms {
        mode: config.chmod_socket.map(|m| m.0),
        owner,
    })
}

pub struct Listeners {
    running: Vec<Arc<BoundSocket>>,
    candidate: Option<Vec<Arc<BoundSocket>>>,
}

impl Listeners {
    pub fn new(sockets: Vec<BoundSocket>) -> Listeners {
        Listeners {
            running: sockets.into_iter().map(Arc::new).collect(),
            candidate: None,
        }
    }

    pub fn running(&self) -> &[Arc<BoundSocket>] {
        &self.running
    }

    pub fn candidate(&self) -> Option<&[Arc<BoundSocket>]> {
        self.candidate.as_deref()
    }

    /// The sockets `new` asks for, as the candidate: the running ones it
    /// names are shared, the others bound now, before any worker is
    /// replaced. On error nothing changes.
    pub fn prepare(&mut self, new: &Config) -> Result<(), BindError> {
        let mut sockets = Vec::new();
        let perms = unix_perms(new);
        for (address, proto) in wanted(new) {
            if let Some(s) = self
                .running
                .iter()
                .find(|s| s.address == address && s.proto == proto)
            {
                sockets.push(s.clone());
                continue;
            }
            let perms = perms.clone().map_err(|reason| BindError {
                address: address.to_string(),
                reason,
            })?;
            let listener = bind::bind_address(&address, new.listen, perms)?;
            tracing::info!(%address, ?proto, "listening (new in the reloaded config)");
            sockets.push(Arc::new(BoundSocket {
                address,
                proto,
                listener,
            }));
        }
        self.candidate = Some(sockets);
        Ok(())
    }

    /// The candidate becomes the running set. Sockets it dropped close
    /// here; old workers keep their copies until they are replaced.
    pub fn commit(&mut self) {
        let Some(new) = self.candidate.take() else {
            return;
        };
        for gone in &self.running {
            if !new.iter().any(|s| Arc::ptr_eq(s, gone)) {
                tracing::info!(address = %gone.address, "no longer listening (not in the reloaded config)");
            }
        }
        self.running = new;
    }

    /// Drop the candidate: what it alone bound is closed.
    pub fn discard(&mut self) {
        self.candidate = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ports: &[u16]) -> Config {
        Config {
            http_socket: ports
                .iter()
                .map(|&port| Address::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                })
                .collect(),
            ..Config::default()
        }
    }

    fn port_of(s: &BoundSocket) -> u16 {
        match &s.listener {
            StdListener::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            StdListener::Unix(_) => 0,
        }
    }

    #[test]
    fn a_candidate_shares_kept_sockets_and_is_dropped_or_committed_whole() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p1 = first.local_addr().expect("addr").port();
        let mut l = Listeners::new(vec![BoundSocket {
            address: Address::Tcp {
                host: "127.0.0.1".into(),
                port: p1,
            },
            proto: Proto::Http,
            listener: StdListener::Tcp(first),
        }]);
        let p2 = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();

        l.prepare(&config(&[p1, p2])).expect("prepare");
        let candidate = l.candidate().expect("candidate");
        assert!(Arc::ptr_eq(&candidate[0], &l.running()[0]), "p1 is shared");
        assert_eq!(port_of(&candidate[1]), p2);
        l.discard();
        assert!(l.candidate().is_none());
        assert_eq!(l.running().len(), 1);
        // p2 was closed with the candidate: it can be bound again.
        assert!(std::net::TcpListener::bind(("127.0.0.1", p2)).is_ok());

        l.prepare(&config(&[p2])).expect("prepare");
        l.commit();
        assert_eq!(l.running().len(), 1);
        assert_eq!(port_of(&l.running()[0]), p2);
        assert!(std::net::TcpListener::bind(("127.0.0.1", p1)).is_ok());
    }
}
