//! The zygote's control socket: a stream the master and the zygote share,
//! one message per line each way.
//!
//!   master → zygote: `spawn SLOT ID`  fork worker ID into stats slot SLOT
//!   zygote → master: `ready`           the app is loaded; spawns may come
//!                    `spawned SLOT PID` the worker in SLOT runs as PID
//!                    `failed SLOT`      the fork for SLOT failed

use super::{DecodeError, Fields};

/// What the master asks of a zygote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Spawn { slot: usize, id: usize },
}

/// What a zygote tells the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Ready,
    Spawned { slot: usize, pid: i32 },
    Failed { slot: usize },
}

impl Command {
    /// The line to write, newline included.
    pub fn encode(&self) -> String {
        match self {
            Command::Spawn { slot, id } => format!("spawn {slot} {id}\n"),
        }
    }

    /// One line (its newline optional).
    pub fn decode(line: &str) -> Result<Command, DecodeError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        match Fields::split(line)? {
            ("spawn", rest) => {
                let mut f = Fields::new("spawn", rest);
                let slot = f.number("slot")?;
                let id = f.number("worker id")?;
                f.end()?;
                Ok(Command::Spawn { slot, id })
            }
            _ => Err(DecodeError::Unknown(line.to_string())),
        }
    }
}

impl Reply {
    /// The line to write, newline included.
    pub fn encode(&self) -> String {
        match self {
            Reply::Ready => "ready\n".to_string(),
            Reply::Spawned { slot, pid } => format!("spawned {slot} {pid}\n"),
            Reply::Failed { slot } => format!("failed {slot}\n"),
        }
    }

    /// One line (its newline optional).
    pub fn decode(line: &str) -> Result<Reply, DecodeError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        match Fields::split(line)? {
            ("ready", rest) => {
                Fields::new("ready", rest).end()?;
                Ok(Reply::Ready)
            }
            ("spawned", rest) => {
                let mut f = Fields::new("spawned", rest);
                let slot = f.number("slot")?;
                let pid = f.number("pid")?;
                f.end()?;
                Ok(Reply::Spawned { slot, pid })
            }
            ("failed", rest) => {
                let mut f = Fields::new("failed", rest);
                let slot = f.number("slot")?;
                f.end()?;
                Ok(Reply::Failed { slot })
            }
            _ => Err(DecodeError::Unknown(line.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        for c in [
            Command::Spawn { slot: 0, id: 1 },
            Command::Spawn {
                slot: 255,
                id: 4096,
            },
        ] {
            assert_eq!(Command::decode(&c.encode()), Ok(c));
        }
        for r in [
            Reply::Ready,
            Reply::Spawned {
                slot: 3,
                pid: 12345,
            },
            Reply::Failed { slot: 7 },
        ] {
            assert_eq!(Reply::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn the_wire_form_is_one_line_of_words() {
        assert_eq!(Command::Spawn { slot: 2, id: 1 }.encode(), "spawn 2 1\n");
        assert_eq!(
            Reply::Spawned { slot: 2, pid: 99 }.encode(),
            "spawned 2 99\n"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let missing = |message, field| DecodeError::Missing { message, field };
        let cases: &[(&str, DecodeError)] = &[
            ("", DecodeError::Empty),
            ("\n", DecodeError::Empty),
            ("spawn", missing("spawn", "slot")),
            ("spawn 1", missing("spawn", "worker id")),
            ("spawn  1 2", missing("spawn", "slot")),
            (
                "spawn x 2",
                DecodeError::NotANumber {
                    message: "spawn",
                    field: "slot",
                    value: "x".into(),
                },
            ),
            (
                "spawn -1 2",
                DecodeError::NotANumber {
                    message: "spawn",
                    field: "slot",
                    value: "-1".into(),
                },
            ),
            (
                "spawn 1 2 3",
                DecodeError::Trailing {
                    message: "spawn",
                    extra: "3".into(),
                },
            ),
            ("SPAWN 1 2", DecodeError::Unknown("SPAWN 1 2".into())),
        ];
        for (line, want) in cases {
            assert_eq!(Command::decode(line).as_ref(), Err(want), "{line:?}");
        }
        for line in [
            "",
            "ready now",
            "spawned 1",
            "spawned 1 x",
            "spawned 99999999999999999999 1",
            "failed",
            "failed 1 0",
            "hello",
        ] {
            assert!(Reply::decode(line).is_err(), "{line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(line in "\\PC{0,40}") {
            let _ = Command::decode(&line);
            let _ = Reply::decode(&line);
        }

        #[test]
        fn spawned_round_trips(slot in 0usize..100_000, pid in proptest::num::i32::ANY) {
            let r = Reply::Spawned { slot, pid };
            proptest::prop_assert_eq!(Reply::decode(&r.encode()), Ok(r));
        }
    }
}
