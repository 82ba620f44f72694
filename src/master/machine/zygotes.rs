//! Zygotes: starting, promoting, restarting with backoff, retiring.

use super::*;

impl State {
    pub(super) fn zygote_mut(&mut self, generation: u64) -> Option<&mut Zygote> {
        self.current
            .iter_mut()
            .chain(self.next.iter_mut())
            .chain(self.retired.iter_mut())
            .find(|z| z.generation == generation)
    }

    pub(super) fn zygote_started(&mut self, generation: u64, pid: i32) {
        if let Some(z) = self.zygote_mut(generation) {
            z.pid = Some(pid);
            self.log(Note::ZygoteStarted { pid, generation });
        }
    }

    pub(super) fn zygote_not_started(&mut self, generation: u64, error: String) {
        if self
            .next
            .as_ref()
            .is_some_and(|z| z.generation == generation)
        {
            self.next = None;
            self.abandon_reload(ReloadFailure::NotStarted(error));
            return;
        }
        if self
            .current
            .as_ref()
            .is_none_or(|z| z.generation != generation)
        {
            self.retired.retain(|z| z.generation != generation);
            return;
        }
        self.current = None;
        self.drop_unborn_workers(generation);
        if !self.ever_ready {
            self.log(Note::CannotStart(format!("cannot start a zygote: {error}")));
            self.status = EXIT_CONFIG;
            self.stop(false);
            return;
        }
        self.log(Note::ZygoteNotStarted { error });
        let delay = self.zygote_backoff.record_death(Duration::ZERO);
        self.zygote_restart = Some(self.now + delay);
        self.restart_zygote_if_due();
    }

    pub(super) fn restart_zygote_if_due(&mut self) {
        if self.stopping.is_some() || self.current.is_some() {
            self.zygote_restart = None;
            return;
        }
        if self.zygote_restart.is_some_and(|at| at <= self.now) {
            self.zygote_restart = None;
            self.start_current_zygote();
        }
    }

    pub(super) fn zygote_ready(&mut self, generation: u64) {
        if let Some(z) = self.current.as_mut().filter(|z| z.generation == generation) {
            z.ready = true;
            self.ensure_pool();
            self.run_due_respawns();
        } else if self
            .next
            .as_ref()
            .is_some_and(|z| z.generation == generation)
        {
            self.promote();
            self.run_due_respawns();
        }
    }

    pub(super) fn zygote_exited(&mut self, pid: i32, how: Ended) -> bool {
        if let Some(z) = self.current.take_if(|z| z.pid == Some(pid)) {
            self.drop_unborn_workers(z.generation);
            if self.stopping.is_some() {
                return true;
            }
            if !self.ever_ready && !z.ready {
                let status = match how {
                    Ended::Code(c) => u8::try_from(c).ok().filter(|c| *c != 0),
                    Ended::Signal(_) => None,
                };
                self.log(Note::CannotStart(format!("the zygote {how}")));
                self.status = status.unwrap_or(EXIT_APP);
                self.stop(false);
                return true;
            }
            self.log(Note::ZygoteDied { pid, how });
            let delay = self
                .zygote_backoff
                .record_death(self.now.saturating_duration_since(z.started));
            self.zygote_restart = Some(self.now + delay);
            self.restart_zygote_if_due();
            return true;
        }
        if let Some(z) = self.next.take_if(|z| z.pid == Some(pid)) {
            self.drop_unborn_workers(z.generation);
            if self.stopping.is_none() {
                self.abandon_reload(ReloadFailure::Ended(how));
            }
            return true;
        }
        if let Some(i) = self.retired.iter().position(|z| z.pid == Some(pid)) {
            let z = self.retired.remove(i);
            self.drop_unborn_workers(z.generation);
            return true;
        }
        false
    }

    /// Workers that zygote `generation` was forking when it went away:
    /// their pids will never be known (if one was forked, it sees its
    /// master's lifeline and exits with it). Ask again elsewhere.
    pub(super) fn drop_unborn_workers(&mut self, generation: u64) {
        let (unborn, rest): (Vec<Worker>, Vec<Worker>) = std::mem::take(&mut self.pool.workers)
            .into_iter()
            .partition(|w| w.generation == generation && w.pid.is_none());
        self.pool.workers = rest;
        if self.stopping.is_some() {
            return;
        }
        for w in unborn {
            if !w.is_stopping() {
                self.respawns.push(Respawn {
                    at: self.now,
                    id: w.id,
                    replaces: w.replaces,
                });
            }
        }
    }

    /// Tell retired zygotes to stop once no worker of theirs is still
    /// being forked (a zygote that dies mid-fork leaves a worker whose pid
    /// the master never learns).
    pub(super) fn release_retired(&mut self) {
        let immediate = self.stopping.is_some_and(|s| s.immediate);
        let mut signals = Vec::new();
        for z in &mut self.retired {
            let Some(pid) = z.pid else { continue };
            let forking = self
                .pool
                .workers
                .iter()
                .any(|w| w.generation == z.generation && w.pid.is_none());
            let wanted = if immediate {
                Sig::Kill
            } else if forking {
                continue;
            } else {
                Sig::Term
            };
            if z.signaled == Some(Sig::Kill) || z.signaled == Some(wanted) {
                continue;
            }
            z.signaled = Some(wanted);
            signals.push((pid, wanted));
        }
        for (pid, sig) in signals {
            self.signal(pid, sig);
        }
    }
}
