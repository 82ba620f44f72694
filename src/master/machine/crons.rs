//! Cron commands (`cron`, `unique-cron`, `cron2`): the shell reports each
//! new wall-clock minute ([`Event::Minute`]); every entry whose schedule
//! matches runs once in that minute (uWSGI's core/cron.c). A unique entry
//! is skipped while its previous run goes on; a run older than its
//! harakiri (`cron2 harakiri=N`, else `cron-harakiri`) is killed. rsgi
//! does not wait for running commands at shutdown.

use super::*;
use rsgi_core::config::cron::{CivilTime, Cron};

#[derive(Debug, Clone)]
pub(super) struct Scheduled {
    pub(super) spec: Cron,
    /// The last minute it ran in.
    last: Option<CivilTime>,
    /// [`Effect::RunCron`] went out; no answer yet.
    starting: bool,
    /// Its running commands: pid, start, killed.
    runs: Vec<(i32, Instant, bool)>,
}

impl Scheduled {
    pub(super) fn new(spec: Cron) -> Scheduled {
        Scheduled {
            spec,
            last: None,
            starting: false,
            runs: Vec::new(),
        }
    }
}

impl State {
    fn cron_limit(&self, spec: &Cron) -> Option<Duration> {
        match spec.harakiri {
            Some(0) => None,
            Some(n) => Some(Duration::from_secs(n)),
            None => self.cron_harakiri,
        }
    }

    pub(super) fn minute(&mut self, t: CivilTime) {
        if self.stopping.is_some() {
            return;
        }
        for index in 0..self.crons.len() {
            let c = &mut self.crons[index];
            if c.last == Some(t) || !c.spec.matches(&t) {
                continue;
            }
            c.last = Some(t);
            if c.spec.unique && (c.starting || !c.runs.is_empty()) {
                let command = c.spec.command.clone();
                self.log(Note::CronSkipped { command });
                continue;
            }
            c.starting = true;
            self.emit(Effect::RunCron { index });
        }
    }

    pub(super) fn cron_started(&mut self, index: usize, pid: i32) {
        let now = self.now;
        let Some(c) = self.crons.get_mut(index) else {
            return;
        };
        c.starting = false;
        c.runs.push((pid, now, false));
        let command = c.spec.command.clone();
        self.log(Note::CronRunning { command, pid });
    }

    pub(super) fn cron_not_started(&mut self, index: usize, error: String) {
        let Some(c) = self.crons.get_mut(index) else {
            return;
        };
        c.starting = false;
        let command = c.spec.command.clone();
        self.log(Note::CronNotStarted { command, error });
    }

    pub(super) fn cron_exited(&mut self, pid: i32, how: Ended) -> bool {
        for c in &mut self.crons {
            if let Some(i) = c.runs.iter().position(|(p, _, _)| *p == pid) {
                c.runs.remove(i);
                let command = c.spec.command.clone();
                self.log(Note::CronFinished { command, pid, how });
                return true;
            }
        }
        false
    }

    /// Harakiri for cron commands.
    pub(super) fn cron_timers(&mut self) {
        let now = self.now;
        for index in 0..self.crons.len() {
            let Some(limit) = self.cron_limit(&self.crons[index].spec) else {
                continue;
            };
            let c = &mut self.crons[index];
            let mut late = Vec::new();
            for (pid, started, killed) in &mut c.runs {
                if !*killed && now >= *started + limit {
                    *killed = true;
                    late.push(*pid);
                }
            }
            let command = c.spec.command.clone();
            for pid in late {
                self.log(Note::CronHarakiri {
                    command: command.clone(),
                    pid,
                    limit,
                });
                self.emit(Effect::SignalGroup {
                    pid,
                    signal: libc::SIGKILL,
                });
            }
        }
    }

    pub(super) fn cron_deadlines(&self, at: &mut Vec<Instant>) {
        for c in &self.crons {
            if let Some(limit) = self.cron_limit(&c.spec) {
                at.extend(
                    c.runs
                        .iter()
                        .filter(|(_, _, killed)| !killed)
                        .map(|(_, started, _)| *started + limit),
                );
            }
        }
    }
}
