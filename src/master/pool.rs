//! The table of worker processes. Worker ids (1..=processes) are stable
//! across respawns; stats slots are per process, because during a rolling
//! reload the old and the new worker k run side by side. Each process also
//! gets a serial number that is never reused, so "the worker this one
//! replaces" cannot be confused with a later process in the same slot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use rsgi_core::stats::region::SLOTS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Asked of the zygote; pid not known yet.
    Spawning,
    /// Running, not yet accepting.
    Starting,
    /// Accepting requests.
    Ready,
    /// Told to stop at this instant (its SIGTERM waits for its pid if that
    /// is not known yet).
    Stopping(Instant),
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub id: usize,
    /// Never reused: names this process in `replaces`.
    pub serial: u64,
    pub slot: usize,
    pub pid: Option<i32>,
    /// The zygote it was forked from.
    pub generation: u64,
    pub state: WorkerState,
    pub spawned_at: Instant,
    /// The serial of the worker this one replaces once it is ready.
    pub replaces: Option<u64>,
    /// A SIGKILL went out to it (mercy, harakiri, start-up timeout).
    pub killed: bool,
}

impl Worker {
    pub fn is_stopping(&self) -> bool {
        matches!(self.state, WorkerState::Stopping(_))
    }
}

#[derive(Debug, Default)]
pub struct Pool {
    pub workers: Vec<Worker>,
    next_serial: u64,
    /// Start-up failures per worker id.
    backoff: HashMap<usize, Backoff>,
    /// Respawns per worker id (stats: respawn_count).
    pub respawns: HashMap<usize, u64>,
    /// Harakiri kills per worker id.
    pub harakiri: HashMap<usize, u64>,
}

impl Pool {
    pub fn free_slot(&self) -> Option<usize> {
        (0..SLOTS).find(|s| !self.workers.iter().any(|w| w.slot == *s))
    }

    /// Add a worker being spawned; returns its serial.
    pub fn add(
        &mut self,
        id: usize,
        slot: usize,
        generation: u64,
        now: Instant,
        replaces: Option<u64>,
    ) -> u64 {
        self.next_serial += 1;
        self.workers.push(Worker {
            id,
            serial: self.next_serial,
            slot,
            pid: None,
            generation,
            state: WorkerState::Spawning,
            spawned_at: now,
            replaces,
            killed: false,
        });
        self.next_serial
    }

    pub fn by_slot(&self, slot: usize) -> Option<&Worker> {
        self.workers.iter().find(|w| w.slot == slot)
    }

    pub fn by_slot_mut(&mut self, slot: usize) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.slot == slot)
    }

    pub fn by_serial_mut(&mut self, serial: u64) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.serial == serial)
    }

    pub fn index_of_pid(&self, pid: i32) -> Option<usize> {
        self.workers.iter().position(|w| w.pid == Some(pid))
    }

    /// A live worker with this id that is not on its way out.
    pub fn serving(&self, id: usize) -> bool {
        self.workers.iter().any(|w| w.id == id && !w.is_stopping())
    }

    pub fn ready_count(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state == WorkerState::Ready)
            .count()
    }

    /// Record a death after `lived`; returns how long to wait before
    /// respawning this id.
    pub fn record_death(&mut self, id: usize, lived: Duration) -> Duration {
        *self.respawns.entry(id).or_default() += 1;
        self.backoff.entry(id).or_default().record_death(lived)
    }

    pub fn startup_failures(&self, id: usize) -> u32 {
        self.backoff.get(&id).map_or(0, Backoff::failures)
    }

    /// Worker `id` is accepting: its start-up failures are over.
    pub fn clear_failures(&mut self, id: usize) {
        self.backoff.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_count_respawns_and_back_off_per_id() {
        let mut pool = Pool::default();
        assert_eq!(pool.record_death(1, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            pool.record_death(1, Duration::ZERO),
            Duration::from_millis(100)
        );
        assert_eq!(pool.record_death(2, Duration::ZERO), Duration::ZERO);
        assert_eq!(pool.startup_failures(1), 2);
        assert_eq!(
            pool.record_death(1, Duration::from_secs(60)),
            Duration::ZERO
        );
        assert_eq!(pool.startup_failures(1), 0);
        assert_eq!(pool.respawns[&1], 3);
    }

    #[test]
    fn serials_are_never_reused_even_when_slots_are() {
        let mut pool = Pool::default();
        let now = Instant::now();
        let a = pool.add(1, 0, 1, now, None);
        pool.workers.clear();
        assert_eq!(pool.free_slot(), Some(0));
        let b = pool.add(1, 0, 1, now, None);
        assert_ne!(a, b);
    }
}
