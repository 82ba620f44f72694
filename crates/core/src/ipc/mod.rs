//! What the master, the zygote and the workers say to each other, defined
//! once for both ends: the master encodes what the zygote decodes and the
//! other way round, so neither side parses by hand what the other wrote
//! with `format!`.
//!
//! - [`handoff`]: the config and inherited fds a zygote gets across `exec`.
//! - [`control`]: the zygote's control socket (master → zygote commands,
//!   zygote → master replies), one line each.
//! - [`event`]: a worker's datagrams to the master (ready, recycle me,
//!   reload everyone).
//! - the exit statuses every process uses, and the traceback signal.
//!
//! Messages are short ASCII words: easy to read in `strace`, and a decoder
//! that meets anything else returns a [`DecodeError`], never panics.

pub mod control;
pub mod event;
pub mod handoff;

/// Exit status: clean shutdown.
pub const EXIT_OK: u8 = 0;
/// Set by the Emperor in each vassal's environment: a vassal does not
/// detach for `daemonize` (its Emperor watches its pid), as in uWSGI.
pub const VASSAL_ENV: &str = "RSGI_VASSAL";
/// Exit status: bad config or command line.
pub const EXIT_CONFIG: u8 = 1;
/// Exit status: the app could not be loaded (uWSGI's 22, `need-app`).
pub const EXIT_APP: u8 = 22;
/// Exit status: the master could not bind a socket.
pub const EXIT_BIND: u8 = 30;
/// Internal exit status: a zygote or worker failed for a reason of its own
/// (a lost master, an unreadable handoff, a failed fork), after logging it.
/// It is 1 as for a config error: uWSGI too exits 1 for every other failure.
pub const EXIT_FAILED: u8 = 1;

/// Internal exit status: a worker's start-up hook (`hook-post-fork`,
/// `hook-accepting`, a lazy app's `hook-pre-app`...) failed, after logging
/// which. As in uWSGI, the master then stops the instance (exit 1). Only
/// a worker that never accepted can mean it (hooks run before), and the
/// number is one an app's `os._exit` is unlikely to pick.
pub const EXIT_HOOK: u8 = 113;

/// The signal that makes a worker print every thread's Python traceback
/// (registered with faulthandler in the worker); harakiri sends it before
/// the kill.
pub fn traceback_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is not UTF-8")]
    NotUtf8,
    #[error("unknown message {0:?}")]
    Unknown(String),
    #[error("{message}: the {field} is missing")]
    Missing {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: the {field} is not a number: {value:?}")]
    NotANumber {
        message: &'static str,
        field: &'static str,
        value: String,
    },
    #[error("{message}: unexpected {extra:?} after the last field")]
    Trailing {
        message: &'static str,
        extra: String,
    },
}

/// Reads the space-separated fields of one message.
struct Fields<'a> {
    message: &'static str,
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// The verb (first word) of `text` and a reader for what follows it.
    fn split(text: &'a str) -> Result<(&'a str, &'a str), DecodeError> {
        if text.is_empty() {
            return Err(DecodeError::Empty);
        }
        Ok(text.split_once(' ').unwrap_or((text, "")))
    }

    fn new(message: &'static str, rest: &'a str) -> Fields<'a> {
        Fields { message, rest }
    }

    /// The next word as a number.
    fn number<T: std::str::FromStr>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        let (word, rest) = self.rest.split_once(' ').unwrap_or((self.rest, ""));
        self.rest = rest;
        if word.is_empty() {
            return Err(DecodeError::Missing {
                message: self.message,
                field,
            });
        }
        word.parse().map_err(|_| DecodeError::NotANumber {
            message: self.message,
            field,
            value: word.to_string(),
        })
    }

    /// Everything left, as written (free text such as a reason).
    fn text(self) -> &'a str {
        self.rest
    }

    /// Nothing may be left.
    fn end(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                message: self.message,
                extra: self.rest.to_string(),
            })
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn exit_statuses_are_the_documented_ones() {
        assert_eq!(
            [EXIT_OK, EXIT_CONFIG, EXIT_APP, EXIT_BIND, EXIT_FAILED],
            [0, 1, 22, 30, 1]
        );
    }
}
