//! Stopping: graceful, immediate, and the last line.

use super::*;

impl State {
    pub(super) fn stop(&mut self, graceful: bool) {
        match self.stopping {
            None if graceful => {
                self.log(Note::GracefulShutdown);
                self.emit(Effect::Notify(Notify::Stopping));
                self.stopping = Some(Stopping {
                    since: self.now,
                    immediate: false,
                });
                self.wind_down();
                self.stop_daemons();
                let serials: Vec<u64> = self.pool.workers.iter().map(|w| w.serial).collect();
                for serial in serials {
                    self.stop_worker(serial);
                }
                self.retired.extend(self.current.take());
                self.retired.extend(self.next.take());
            }
            None => {
                self.log(Note::ImmediateShutdown);
                self.emit(Effect::Notify(Notify::Stopping));
                self.wind_down();
                self.stop_daemons();
                self.kill_everything();
            }
            Some(s) if !s.immediate && !graceful => {
                self.log(Note::ImmediateShutdown);
                self.kill_everything();
            }
            Some(_) => {}
        }
    }

    /// Nothing new starts once stopping.
    pub(super) fn wind_down(&mut self) {
        self.reload = None;
        self.pending = None;
        self.respawns.clear();
        self.zygote_restart = None;
        if self.candidate.take().is_some() {
            self.emit(Effect::DiscardConfig);
        }
    }

    pub(super) fn kill_everything(&mut self) {
        let since = self.stopping.map_or(self.now, |s| s.since);
        self.stopping = Some(Stopping {
            since,
            immediate: true,
        });
        let now = self.now;
        let mut pids = Vec::new();
        for w in &mut self.pool.workers {
            if !w.is_stopping() {
                w.state = WorkerState::Stopping(now);
            }
            if let Some(pid) = w.pid.filter(|_| !w.killed) {
                w.killed = true;
                pids.push(pid);
            }
        }
        for pid in pids {
            self.signal(pid, Sig::Kill);
        }
        self.retired.extend(self.current.take());
        self.retired.extend(self.next.take());
        // release_retired sends the zygotes their SIGKILL.
    }

    pub(super) fn exit_when_done(&mut self) {
        let done = self.stopping.is_some()
            && self.pool.workers.is_empty()
            && self.current.is_none()
            && self.next.is_none()
            && self.retired.is_empty()
            && self.daemons_gone();
        if done && !self.exited {
            self.exited = true;
            self.log(Note::Stopped {
                status: self.status,
            });
            self.emit(Effect::Exit(self.status));
        }
    }
}
