//! When to restart a process that died: at once if it had run a while,
//! later and later if it keeps dying soon after its start (a crash loop).
//! Workers, zygotes and the Emperor's vassals all restart by this rule.

use std::time::Duration;

/// A process that dies sooner than this after its start counts as a
/// start-up failure, and its restart is delayed.
pub const STARTUP_GRACE: Duration = Duration::from_secs(2);
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Failures in a row after which the delay is worth a log line.
pub const WORTH_LOGGING: u32 = 3;

/// The restart history of one process (a worker id, the zygote, a vassal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// A death after `lived`: how long to wait before the restart.
    /// No wait after a healthy run or a first failure; then 100 ms, 200 ms,
    /// 400 ms … up to 10 s while the failures go on.
    pub fn record_death(&mut self, lived: Duration) -> Duration {
        if lived >= STARTUP_GRACE {
            self.failures = 0;
            return Duration::ZERO;
        }
        self.failures = self.failures.saturating_add(1);
        delay(self.failures)
    }

    /// Start-up failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

fn delay(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    FIRST_DELAY
        .saturating_mul(1 << (failures - 2).min(16))
        .min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_then_caps() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(50);
        let delays: Vec<Duration> = (0..9).map(|_| b.record_death(quick)).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000]);
        for _ in 0..100 {
            assert_eq!(b.record_death(quick), MAX_DELAY);
        }
        assert_eq!(b.failures(), 109);
    }

    #[test]
    fn a_healthy_run_starts_over() {
        let mut b = Backoff::default();
        b.record_death(Duration::ZERO);
        b.record_death(Duration::ZERO);
        assert_eq!(b.failures(), 2);
        assert_eq!(b.record_death(STARTUP_GRACE), Duration::ZERO);
        assert_eq!(b.failures(), 0);
        assert_eq!(b.record_death(Duration::ZERO), Duration::ZERO);
    }
}
