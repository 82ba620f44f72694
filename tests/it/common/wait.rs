//! Waiting for a condition, never for a time.

use std::time::{Duration, Instant};

/// How long a test waits for something that must happen before it fails
/// instead of hanging. It bounds a broken build, it claims nothing about
/// speed: the machines these tests run on are often busy with builds.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Wait until `cond` holds, checking every 20 ms; panics with `what` after
/// `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if cond() {
            return;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
