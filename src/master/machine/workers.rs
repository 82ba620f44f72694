//! Workers: spawning, readiness, recycling, scaling, deaths and respawns.

use super::*;

impl State {
    /// Ask the current zygote for worker `id`.
    pub(super) fn spawn_worker(
        &mut self,
        id: usize,
        replaces: Option<u64>,
    ) -> Result<usize, Blocked> {
        let Some(generation) = self
            .current
            .as_ref()
            .filter(|z| z.ready)
            .map(|z| z.generation)
        else {
            return Err(Blocked::NoZygote);
        };
        let slot = self.pool.free_slot().ok_or(Blocked::NoSlot)?;
        self.pool.add(id, slot, generation, self.now, replaces);
        self.emit(Effect::SpawnWorker {
            generation,
            slot,
            id,
        });
        Ok(slot)
    }

    /// Spawn worker `id`, or say why not and try again later.
    pub(super) fn spawn_or_retry(&mut self, id: usize, replaces: Option<u64>) {
        if let Err(why) = self.spawn_worker(id, replaces) {
            self.log(Note::CannotSpawn { id, why });
            self.respawns.push(Respawn {
                at: self.now + SPAWN_RETRY,
                id,
                replaces,
            });
        }
    }

    /// Bring the pool to `desired` serving workers; stop any above it.
    pub(super) fn ensure_pool(&mut self) {
        if self.stopping.is_some() || !self.current.as_ref().is_some_and(|z| z.ready) {
            return;
        }
        let wanted: Vec<usize> = (1..=self.desired).filter(|id| self.wanted(*id)).collect();
        for id in wanted {
            let scheduled = self.respawns.iter().any(|r| r.id == id);
            if !self.pool.serving(id) && !scheduled {
                self.spawn_or_retry(id, None);
            }
        }
        let surplus: Vec<u64> = self
            .pool
            .workers
            .iter()
            .filter(|w| !self.wanted(w.id) && !w.is_stopping())
            .map(|w| w.serial)
            .collect();
        for serial in surplus {
            self.stop_worker(serial);
        }
    }

    pub(super) fn stop_worker(&mut self, serial: u64) {
        let now = self.now;
        let Some(w) = self.pool.by_serial_mut(serial) else {
            return;
        };
        if w.is_stopping() {
            return;
        }
        w.state = WorkerState::Stopping(now);
        if let Some(pid) = w.pid {
            self.signal(pid, Sig::Term);
        }
    }

    pub(super) fn recycle(&mut self, slot: usize, reason: String) {
        // A reload replaces every worker anyway.
        if self.reload.is_some() {
            return;
        }
        let Some(w) = self.pool.by_slot(slot) else {
            return;
        };
        let (id, serial, pid) = (w.id, w.serial, w.pid);
        if w.state != WorkerState::Ready || self.being_replaced(serial) {
            return;
        }
        self.log(Note::Recycling { id, pid, reason });
        self.spawn_or_retry(id, Some(serial));
    }

    /// A replacement for worker `serial` is on its way (or scheduled).
    pub(super) fn being_replaced(&self, serial: u64) -> bool {
        self.pool.workers.iter().any(|o| o.replaces == Some(serial))
            || self.respawns.iter().any(|r| r.replaces == Some(serial))
    }

    /// A worker's pid became known (the zygote's answer or the worker's
    /// own ready message, whichever came first). A worker told to stop
    /// before that gets its signal now.
    pub(super) fn learn_pid(
        &mut self,
        slot: usize,
        generation: Option<u64>,
        pid: i32,
    ) -> Option<usize> {
        let immediate = self.stopping.is_some_and(|s| s.immediate);
        let w = self
            .pool
            .by_slot_mut(slot)
            .filter(|w| generation.is_none_or(|g| g == w.generation))?;
        if w.pid.is_some_and(|p| p != pid) {
            return None;
        }
        let id = w.id;
        if w.pid.is_none() {
            w.pid = Some(pid);
            if w.is_stopping() {
                let sig = if immediate { Sig::Kill } else { Sig::Term };
                w.killed |= sig == Sig::Kill;
                self.signal(pid, sig);
            }
            self.log(Note::WorkerSpawned { id, pid });
        }
        Some(id)
    }

    pub(super) fn worker_spawned(&mut self, generation: u64, slot: usize, pid: i32) {
        if self.learn_pid(slot, Some(generation), pid).is_none() {
            return;
        }
        if let Some(w) = self.pool.by_slot_mut(slot)
            && w.state == WorkerState::Spawning
        {
            w.state = WorkerState::Starting;
        }
    }

    pub(super) fn spawn_failed(&mut self, generation: u64, slot: usize, error: Option<String>) {
        let Some(i) = self.pool.workers.iter().position(|w| {
            w.slot == slot && w.generation == generation && w.state == WorkerState::Spawning
        }) else {
            return;
        };
        let w = self.pool.workers.remove(i);
        if self.stopping.is_some() || w.is_stopping() {
            return;
        }
        self.log(Note::SpawnFailed { id: w.id, error });
        self.respawns.push(Respawn {
            at: self.now + SPAWN_RETRY,
            id: w.id,
            replaces: w.replaces,
        });
    }

    pub(super) fn worker_ready(&mut self, slot: usize, pid: i32) {
        if self.reaped.contains(&pid) {
            return;
        }
        let Some(id) = self.learn_pid(slot, None, pid) else {
            return;
        };
        let Some(w) = self.pool.by_slot_mut(slot).filter(|w| !w.is_stopping()) else {
            return;
        };
        w.state = WorkerState::Ready;
        let (replaces, generation) = (w.replaces.take(), w.generation);
        self.pool.clear_failures(id);
        self.ever_ready = true;
        if let Some(old) = replaces {
            self.stop_worker(old);
        }
        if let Some(Reload {
            phase:
                Phase::Replacing {
                    generation: reloading,
                    current,
                    ..
                },
            ..
        }) = &mut self.reload
            && *current == Some(id)
            && generation >= *reloading
        {
            *current = None;
        }
    }

    pub(super) fn exited(&mut self, pid: i32, how: Ended) {
        self.kills.retain(|(_, p)| *p != pid);
        if let Some(i) = self.pool.index_of_pid(pid) {
            let w = self.pool.workers.remove(i);
            if self.reaped.len() == REAPED_KEPT {
                self.reaped.pop_front();
            }
            self.reaped.push_back(pid);
            self.worker_exited(w, pid, how);
            return;
        }
        if self.zygote_exited(pid, how)
            || self.daemon_exited(pid, how)
            || self.cron_exited(pid, how)
        {
            return;
        }
        // Processes the app started and left behind are reparented to the
        // master (a child subreaper); reaping them is all they need.
        self.log(Note::Reaped { pid, how });
    }

    pub(super) fn worker_exited(&mut self, w: Worker, pid: i32, how: Ended) {
        if self.stopping.is_some() || w.is_stopping() {
            self.log(Note::WorkerStopped { id: w.id, pid, how });
            return;
        }
        if how == Ended::Code(i32::from(EXIT_HOOK)) && w.state == WorkerState::Starting {
            // As uWSGI: a failing hook destroys the instance.
            self.log(Note::WorkerHookFailed { id: w.id, pid });
            self.status = EXIT_CONFIG;
            self.stop(false);
            return;
        }
        if how == Ended::Code(i32::from(EXIT_APP)) && !self.ever_ready && self.settings.lazy_apps {
            self.log(Note::AppCannotLoad { id: w.id, pid });
            self.status = EXIT_APP;
            self.stop(false);
            return;
        }
        self.log(Note::WorkerDied { id: w.id, pid, how });
        let lived = self.now.saturating_duration_since(w.spawned_at);
        let delay = self.pool.record_death(w.id, lived);
        let failures = self.pool.startup_failures(w.id);
        if failures >= backoff::WORTH_LOGGING {
            self.log(Note::BackingOff {
                id: w.id,
                failures,
                delay,
            });
        }
        // A replacement that died leaves the old worker serving; the retry
        // replaces it. A reload waiting on it goes on once the retry accepts.
        self.respawns.push(Respawn {
            at: self.now + delay,
            id: w.id,
            replaces: w.replaces,
        });
        self.run_due_respawns();
    }

    pub(super) fn run_due_respawns(&mut self) {
        if self.stopping.is_some() || !self.current.as_ref().is_some_and(|z| z.ready) {
            return;
        }
        let now = self.now;
        let (due, later): (Vec<Respawn>, Vec<Respawn>) = std::mem::take(&mut self.respawns)
            .into_iter()
            .partition(|r| r.at <= now);
        self.respawns = later;
        for r in due {
            let replaced_lives = r.replaces.is_some_and(|serial| {
                self.pool
                    .workers
                    .iter()
                    .any(|w| w.serial == serial && !w.is_stopping())
            });
            if replaced_lives || (self.wanted(r.id) && !self.pool.serving(r.id)) {
                self.spawn_or_retry(r.id, r.replaces.filter(|_| replaced_lives));
            }
        }
    }
}
