//! What the master checks of its workers on a clock: cheaper's decision
//! and the evil memory limits once per cycle (a second, as uWSGI's master
//! loop), and max-worker-lifetime at each worker's own deadline.

use super::cheaper::{Active, Sample};
use super::*;

impl State {
    /// The cycle, when it is due.
    pub(super) fn run_cycle(&mut self, load: &Load) {
        if !self.settings.cycles() || self.now < self.cycle_at {
            return;
        }
        self.cycle_at = self.now + cheaper::CYCLE;
        self.check_evil_limits(load);
        self.run_cheaper(load);
    }

    /// `evil-reload-on-rss` / `evil-reload-on-as`: the master kills a
    /// worker past the limit at once (SIGKILL, as uWSGI's
    /// `uwsgi_master_check_workers_deadline`), whatever it is doing, and
    /// spawns its replacement. `reload-on-rss` is the graceful one.
    fn check_evil_limits(&mut self, load: &Load) {
        let (rss_limit, as_limit) = (
            self.settings.evil_reload_on_rss,
            self.settings.evil_reload_on_as,
        );
        if rss_limit == 0 && as_limit == 0 {
            return;
        }
        let now = self.now;
        let mut victims = Vec::new();
        for w in &mut self.pool.workers {
            let Some(pid) = w.pid.filter(|_| !w.killed && !w.is_stopping()) else {
                continue;
            };
            let Some(l) = load.workers.iter().find(|l| l.slot == w.slot) else {
                continue;
            };
            let over = if as_limit > 0 && l.vsz >= as_limit {
                Some((true, l.vsz))
            } else if rss_limit > 0 && l.rss >= rss_limit {
                Some((false, l.rss))
            } else {
                None
            };
            let Some((address_space, bytes)) = over else {
                continue;
            };
            w.state = WorkerState::Stopping(now);
            w.killed = true;
            victims.push((w.id, pid, address_space, bytes));
        }
        for (id, pid, address_space, bytes) in victims {
            self.log(Note::EvilReload {
                id,
                pid,
                address_space,
                bytes,
            });
            self.signal(pid, Sig::Kill);
            self.respawns.push(Respawn {
                at: now,
                id,
                replaces: None,
            });
        }
    }

    /// Cheaper: not while starting, reloading or stopping (as uWSGI,
    /// which skips it while reloading).
    fn run_cheaper(&mut self, load: &Load) {
        let Some(settings) = self.settings.cheaper.clone() else {
            return;
        };
        if self.reload.is_some() || self.stopping.is_some() || !self.announced {
            return;
        }
        let of = |slot: usize| load.workers.iter().find(|l| l.slot == slot);
        let active: Vec<Active> = self
            .pool
            .workers
            .iter()
            .filter(|w| w.pid.is_some() && !w.is_stopping() && self.wanted(w.id))
            .map(|w| {
                let l = of(w.slot).copied().unwrap_or_default();
                Active {
                    serial: w.serial,
                    busy: l.busy,
                    running_us: l.running_us,
                    rss: l.rss,
                }
            })
            .collect();
        let sample = Sample {
            active: &active,
            backlog: load.backlog,
            cheaped: self.cheaped().count(),
        };
        let mut remarks = Vec::new();
        let decision = self
            .cheaper
            .decide(&settings, self.now, sample, &mut remarks);
        for remark in remarks {
            self.log(Note::CheaperRemark(remark));
        }
        match decision {
            Decision::Hold => {}
            Decision::Spawn(n, why) => {
                let ids: Vec<usize> = self.cheaped().take(n).collect();
                for id in &ids {
                    self.cheaped.remove(id);
                }
                let running = self.target();
                self.log(Note::CheaperSpawning { ids, why, running });
                self.ensure_pool();
            }
            Decision::Cheap(why) => {
                // The idle worker that has run longest, as uWSGI picks it.
                let victim = self
                    .pool
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Ready && self.wanted(w.id))
                    .filter(|w| !of(w.slot).is_some_and(|l| l.busy))
                    .filter(|w| !self.being_replaced(w.serial))
                    .min_by_key(|w| w.spawned_at)
                    .map(|w| (w.id, w.serial, w.pid));
                let Some((id, serial, pid)) = victim else {
                    return;
                };
                self.cheaped.insert(id);
                let running = self.target();
                self.log(Note::Cheaping {
                    id,
                    pid,
                    why,
                    running,
                });
                self.stop_worker(serial);
            }
        }
    }

    /// A re-read config is committed: cheaper keeps the workers running
    /// now (within its new bounds), not its initial count or the maximum.
    pub(super) fn keep_running_count(&mut self) {
        self.cheaper = Cheaper::default();
        let Some(min) = self.settings.cheaper.as_ref().map(|c| c.min) else {
            self.cheaped.clear();
            return;
        };
        let max = self.desired;
        let mut keep: Vec<usize> = (1..=max)
            .filter(|id| !self.cheaped.contains(id) && self.pool.serving(*id))
            .collect();
        let target = keep.len().clamp(min, max);
        keep.truncate(target);
        for id in 1..=max {
            if keep.len() >= target {
                break;
            }
            if !keep.contains(&id) {
                keep.push(id);
            }
        }
        self.cheaped = (1..=max).filter(|id| !keep.contains(id)).collect();
    }

    /// `max-worker-lifetime`: when each accepting worker's lifetime ends
    /// (worker k's lifetime is lifetime + (k - 1) × delta, as uWSGI's
    /// core/master_checks.c computes it), by slot. None while a reload
    /// renews them all anyway.
    pub(super) fn lifetime_ends(&self) -> Vec<(usize, Instant)> {
        let Some(lifetime) = self.settings.max_worker_lifetime else {
            return Vec::new();
        };
        if self.reload.is_some() || self.stopping.is_some() {
            return Vec::new();
        }
        let delta = self.settings.max_worker_lifetime_delta;
        self.pool
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Ready && !self.being_replaced(w.serial))
            .map(|w| {
                let extra = delta.saturating_mul(u32::try_from(w.id - 1).unwrap_or(u32::MAX));
                (w.slot, w.spawned_at + lifetime + extra)
            })
            .collect()
    }

    /// Recycle (gracefully) the workers whose lifetime ended.
    pub(super) fn check_lifetimes(&mut self) {
        let now = self.now;
        for (slot, end) in self.lifetime_ends() {
            if end > now {
                continue;
            }
            let lived = self
                .pool
                .by_slot(slot)
                .map_or(0, |w| now.saturating_duration_since(w.spawned_at).as_secs());
            self.recycle(slot, format!("max-worker-lifetime (ran {lived} s)"));
        }
    }
}
