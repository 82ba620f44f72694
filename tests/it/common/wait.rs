//! Waiting for a condition, never for a time.

use std::time::{Duration, Instant};

/// How long a test waits for something that must happen before it fails
/// instead of hanging. It bounds a broken build, it claims nothing about
/// speed: the machines these tests run on are often busy with builds.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Wait until `cond` holds, checking every 20 ms; panics with `what` after
/// `timeout`.
pub fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    if !holds_within(timeout, cond) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Whether `cond` comes to hold within `timeout` (checked every 20 ms).
pub fn holds_within(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
