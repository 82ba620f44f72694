//! Rolling reloads: re-reading the config, loading the new code in a new
//! zygote, replacing the workers one at a time, folding triggers.

use super::*;

impl State {
    pub(super) fn start_reload(&mut self, reread: bool, reason: String) {
        self.restart_daemons_for_reload();
        self.reload = Some(Reload {
            reason,
            started: self.now,
            notified: false,
            phase: Phase::ReadingConfig,
        });
        if reread {
            self.emit(Effect::LoadConfig);
        } else {
            self.load_new_code();
        }
    }

    pub(super) fn config_loaded(&mut self, result: Result<Settings, Rejection>) {
        if !self
            .reload
            .as_ref()
            .is_some_and(|r| r.phase == Phase::ReadingConfig)
        {
            // Stale (a stop came in between): nothing uses it.
            if result.is_ok() {
                self.emit(Effect::DiscardConfig);
            }
            return;
        }
        match result {
            Ok(settings) => {
                self.candidate = Some(settings);
                self.load_new_code();
            }
            Err(rejection) => {
                self.log(Note::ConfigRejected(rejection));
                self.reload = None;
                self.run_pending();
            }
        }
    }

    pub(super) fn load_new_code(&mut self) {
        let generation = self.new_generation();
        let candidate = self.candidate.is_some();
        let Some(reload) = &mut self.reload else {
            return;
        };
        reload.phase = Phase::Loading;
        reload.notified = true;
        let reason = reload.reason.clone();
        self.log(Note::Reloading { reason });
        self.emit(Effect::Notify(Notify::Reloading));
        self.next = Some(Zygote::new(generation, self.now));
        self.emit(Effect::StartZygote {
            generation,
            candidate,
        });
    }

    /// The new code loaded: its zygote becomes the current one, its config
    /// the running one, and the workers are replaced.
    pub(super) fn promote(&mut self) {
        let Some(mut next) = self.next.take() else {
            return;
        };
        next.ready = true;
        let generation = next.generation;
        if let Some(old) = self.current.replace(next) {
            self.retired.push(old);
        }
        if let Some(settings) = self.candidate.take() {
            self.desired = settings.processes;
            self.settings = settings;
            self.keep_running_count();
            self.emit(Effect::CommitConfig);
        }
        let mut queue: Vec<usize> = self
            .pool
            .workers
            .iter()
            .filter(|w| !w.is_stopping() && self.wanted(w.id) && w.generation < generation)
            .map(|w| w.id)
            .collect();
        queue.sort_unstable();
        queue.dedup();
        if let Some(r) = &mut self.reload {
            r.phase = Phase::Replacing {
                generation,
                queue: queue.into(),
                current: None,
            };
        }
        self.ensure_pool();
    }

    /// The reload ends without new code: the running config, sockets and
    /// workers stay, and a folded reload runs next.
    pub(super) fn abandon_reload(&mut self, failure: ReloadFailure) {
        self.log(Note::ReloadFailed(failure));
        if let Some(z) = self.next.take() {
            // Reaped later; until then it is one more zygote on its way out.
            self.retired.push(z);
        }
        if self.candidate.take().is_some() {
            self.emit(Effect::DiscardConfig);
            self.log(Note::ConfigRolledBack);
        }
        if let Some(r) = self.reload.take()
            && r.notified
        {
            self.emit(Effect::Notify(Notify::Ready));
        }
        self.run_pending();
    }

    pub(super) fn run_pending(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        if let Some(p) = self.pending.take() {
            self.start_reload(p.reread, p.reason);
        }
    }

    /// Move the reload along: replace the next worker, or finish once
    /// every worker accepts.
    pub(super) fn progress(&mut self) {
        // A worker id removed (SIGTTOU) while its replacement was on its
        // way is no longer waited for.
        let unwanted = match &self.reload {
            Some(Reload {
                phase:
                    Phase::Replacing {
                        current: Some(id), ..
                    },
                ..
            }) => !self.wanted(*id),
            _ => false,
        };
        if let Some(Reload {
            phase: Phase::Replacing { current, .. },
            ..
        }) = &mut self.reload
            && unwanted
        {
            *current = None;
        }
        while let Some(Reload {
            phase:
                Phase::Replacing {
                    generation,
                    queue,
                    current: current @ None,
                },
            ..
        }) = &mut self.reload
        {
            let Some(id) = queue.pop_front() else {
                self.ensure_pool();
                if self.all_accepting() {
                    self.finish_reload();
                }
                break;
            };
            let generation = *generation;
            let old = self
                .pool
                .workers
                .iter()
                .find(|w| w.id == id && !w.is_stopping() && w.generation < generation)
                .map(|w| w.serial);
            // Gone or renewed meanwhile (a respawn from the new zygote).
            let Some(old) = old else { continue };
            *current = Some(id);
            self.spawn_or_retry(id, Some(old));
        }
        if !self.announced && self.reload.is_none() && self.all_accepting() {
            self.announce();
        }
    }

    pub(super) fn finish_reload(&mut self) {
        let Some(r) = self.reload.take() else {
            return;
        };
        self.reloads += 1;
        self.log(Note::ReloadDone {
            took: self.now.saturating_duration_since(r.started),
        });
        self.emit(Effect::Notify(Notify::Ready));
        if !self.announced {
            self.announced = true;
            self.log(Note::Ready {
                workers: self.target(),
            });
        }
        self.run_pending();
    }

    pub(super) fn announce(&mut self) {
        self.announced = true;
        self.log(Note::Ready {
            workers: self.target(),
        });
        self.emit(Effect::Notify(Notify::Ready));
    }

    /// Every worker id has a worker that accepts.
    pub(super) fn all_accepting(&self) -> bool {
        self.stopping.is_none()
            && (1..=self.desired).filter(|id| self.wanted(*id)).all(|id| {
                self.pool
                    .workers
                    .iter()
                    .any(|w| w.id == id && w.state == WorkerState::Ready)
            })
    }
}
