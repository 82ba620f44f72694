//! The table of worker processes. Worker ids (1..=processes) are stable
//! across respawns; stats slots are per process, because during a rolling
//! reload the old and the new worker k run side by side.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::stats::region::SLOTS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Asked of the zygote; pid not known yet.
    Spawning,
    /// Running, not yet accepting.
    Starting,
    /// Accepting requests.
    Ready,
    /// Told to stop (SIGTERM) at this instant.
    Stopping(Instant),
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub id: usize,
    pub slot: usize,
    pub pid: Option<i32>,
    pub generation: u64,
    pub state: State,
    pub spawned_at: Instant,
    /// Unix seconds at spawn (stats: last_spawn).
    pub spawned_unix: u64,
    /// The slot of the worker this one replaces once it is ready.
    pub replaces: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Pool {
    pub workers: Vec<Worker>,
    /// Consecutive deaths at startup per worker id, for backoff.
    failures: HashMap<usize, u32>,
    /// Respawns per worker id (stats: respawn_count).
    pub respawns: HashMap<usize, u64>,
    /// Harakiri kills per worker id.
    pub harakiri: HashMap<usize, u64>,
}

/// A worker that dies sooner than this after its start counts as a
/// startup failure, and its respawn is delayed.
pub const STARTUP_GRACE: Duration = Duration::from_secs(2);
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl Pool {
    pub fn free_slot(&self) -> Option<usize> {
        (0..SLOTS).find(|s| !self.workers.iter().any(|w| w.slot == *s))
    }

    pub fn by_slot(&mut self, slot: usize) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.slot == slot)
    }

    pub fn by_pid(&self, pid: i32) -> Option<usize> {
        self.workers.iter().position(|w| w.pid == Some(pid))
    }

    /// A live worker with this id that is not on its way out.
    pub fn serving(&self, id: usize) -> bool {
        self.workers
            .iter()
            .any(|w| w.id == id && !matches!(w.state, State::Stopping(_)))
    }

    pub fn ready_count(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state == State::Ready)
            .count()
    }

    /// Record a death; returns how long to wait before respawning this id.
    pub fn record_death(&mut self, id: usize, lived: Duration) -> Duration {
        *self.respawns.entry(id).or_default() += 1;
        if lived >= STARTUP_GRACE {
            self.failures.remove(&id);
            return Duration::ZERO;
        }
        let n = self.failures.entry(id).or_default();
        *n += 1;
        backoff(*n)
    }

    pub fn startup_failures(&self, id: usize) -> u32 {
        self.failures.get(&id).copied().unwrap_or(0)
    }

    pub fn clear_failures(&mut self, id: usize) {
        self.failures.remove(&id);
    }
}

/// 100 ms, 200 ms, 400 ms … up to 10 s after `n` failures in a row.
pub fn backoff(n: u32) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    BACKOFF_BASE
        .saturating_mul(1 << (n - 2).min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(6), Duration::from_millis(1600));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }

    #[test]
    fn deaths_after_the_grace_period_reset_the_backoff() {
        let mut pool = Pool::default();
        assert_eq!(pool.record_death(1, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            pool.record_death(1, Duration::ZERO),
            Duration::from_millis(100)
        );
        assert_eq!(pool.startup_failures(1), 2);
        assert_eq!(
            pool.record_death(1, Duration::from_secs(60)),
            Duration::ZERO
        );
        assert_eq!(pool.startup_failures(1), 0);
        assert_eq!(pool.respawns[&1], 3);
    }
}
