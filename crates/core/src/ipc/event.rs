//! A worker's messages to the master: one datagram each, on the events
//! socket every worker inherits.
//!
//!   `ready SLOT PID`       listening sockets registered: count me in
//!   `recycle SLOT REASON`  replace me (max-requests, reload-on-rss)
//!   `reload REASON`        reload every worker (py-autoreload saw a change)

use super::{DecodeError, Fields, truncate};

/// The largest datagram a worker sends; the master reads up to this much.
/// Reasons are cut to fit, on a character boundary.
pub const MAX_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    Ready { slot: usize, pid: i32 },
    Recycle { slot: usize, reason: String },
    Reload { reason: String },
}

impl WorkerEvent {
    /// The datagram, at most [`MAX_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let with_reason = |head: String, reason: &str| {
            let room = MAX_LEN.saturating_sub(head.len() + 1);
            format!("{head} {}", truncate(reason, room)).into_bytes()
        };
        match self {
            WorkerEvent::Ready { slot, pid } => format!("ready {slot} {pid}").into_bytes(),
            WorkerEvent::Recycle { slot, reason } => with_reason(format!("recycle {slot}"), reason),
            WorkerEvent::Reload { reason } => with_reason("reload".to_string(), reason),
        }
    }

    pub fn decode(datagram: &[u8]) -> Result<WorkerEvent, DecodeError> {
        let text = std::str::from_utf8(datagram).map_err(|_| DecodeError::NotUtf8)?;
        match Fields::split(text)? {
            ("ready", rest) => {
                let mut f = Fields::new("ready", rest);
                let slot = f.number("slot")?;
                let pid = f.number("pid")?;
                f.end()?;
                Ok(WorkerEvent::Ready { slot, pid })
            }
            ("recycle", rest) => {
                let mut f = Fields::new("recycle", rest);
                let slot = f.number("slot")?;
                let reason = f.text().to_string();
                Ok(WorkerEvent::Recycle { slot, reason })
            }
            ("reload", rest) => Ok(WorkerEvent::Reload {
                reason: rest.to_string(),
            }),
            _ => Err(DecodeError::Unknown(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips() {
        for e in [
            WorkerEvent::Ready { slot: 0, pid: 1 },
            WorkerEvent::Recycle {
                slot: 4,
                reason: "max-requests (50 requests)".into(),
            },
            WorkerEvent::Recycle {
                slot: 4,
                reason: String::new(),
            },
            WorkerEvent::Reload {
                reason: "py-autoreload: /srv/app/views.py changed".into(),
            },
            WorkerEvent::Reload {
                reason: " spaces  kept ".into(),
            },
        ] {
            assert_eq!(WorkerEvent::decode(&e.encode()), Ok(e));
        }
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_the_datagram() {
        let e = WorkerEvent::Reload {
            reason: "é".repeat(MAX_LEN),
        };
        let bytes = e.encode();
        assert!(bytes.len() <= MAX_LEN);
        let WorkerEvent::Reload { reason } = WorkerEvent::decode(&bytes).unwrap() else {
            panic!("not a reload");
        };
        assert!(reason.len() > MAX_LEN - 10 && reason.chars().all(|c| c == 'é'));
    }

    #[test]
    fn garbage_is_an_error() {
        for bytes in [
            &b""[..],
            b"\xff\xfe",
            b"ready",
            b"ready 1",
            b"ready 1 2 3",
            b"ready one 2",
            b"recycle",
            b"recycle x why",
            b"stop",
            b" ready 1 2",
        ] {
            assert!(
                WorkerEvent::decode(bytes).is_err(),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = WorkerEvent::decode(&data);
        }

        #[test]
        fn recycle_round_trips(slot in 0usize..1000, reason in "\\PC{0,80}") {
            let e = WorkerEvent::Recycle { slot, reason };
            proptest::prop_assert_eq!(WorkerEvent::decode(&e.encode()), Ok(e));
        }
    }
}
