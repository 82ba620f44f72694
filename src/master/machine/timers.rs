//! Deadlines: load-timeout, worker-reload-mercy, reload-mercy, harakiri;
//! the cycle and worker lifetimes are in `cycle`, the daemons' and cron's
//! own deadlines in `daemons` and `crons`.

use super::*;

impl State {
    pub(super) fn tick(&mut self, wall_us: u64, busy: &[Busy], load: &Load) {
        let now = self.now;
        if let Some(w) = &mut self.watchdog
            && now.saturating_duration_since(w.last) >= w.every
        {
            w.last = now;
            self.emit(Effect::Notify(Notify::Watchdog));
        }
        self.run_due_kills();
        self.daemon_timers();
        self.cron_timers();
        if let Some(s) = self.stopping {
            if !s.immediate && now.saturating_duration_since(s.since) >= self.settings.reload_mercy
            {
                self.log(Note::MercyExpired);
                self.kill_everything();
            }
            return;
        }
        self.check_load_timeouts();
        self.check_worker_mercy();
        self.check_harakiri(wall_us, busy);
        self.check_lifetimes();
        self.run_cycle(load);
        self.restart_zygote_if_due();
        self.run_due_respawns();
    }

    pub(super) fn run_due_kills(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.kills)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.kills = later;
        for (_, pid) in due {
            if let Some(i) = self.pool.index_of_pid(pid) {
                self.pool.workers[i].killed = true;
            }
            self.signal(pid, Sig::Kill);
        }
    }

    /// `load-timeout`: a zygote still importing, or a worker still not
    /// accepting, is killed. A reload's zygote that hangs ends the reload
    /// (the old workers keep serving, a folded reload runs next); a worker
    /// is respawned with backoff.
    ///
    /// Not before the first READY: uWSGI bounds no first start, and an app
    /// that takes minutes to import (a model loaded at import time) must
    /// still come up; systemd's TimeoutStartSec bounds a hung first start.
    pub(super) fn check_load_timeouts(&mut self) {
        let Some(limit) = self.load_limit() else {
            return;
        };
        let now = self.now;
        let overdue = |z: &Zygote| !z.ready && z.signaled.is_none() && now >= z.started + limit;
        if let Some(z) = self.next.as_mut().filter(|z| overdue(z)) {
            z.signaled = Some(Sig::Kill);
            let pid = z.pid;
            self.log(Note::ZygoteLoadTimedOut { pid, limit });
            if let Some(pid) = pid {
                self.signal(pid, Sig::Kill);
            }
            self.abandon_reload(ReloadFailure::TimedOut(limit));
        }
        if let Some(z) = self.current.as_mut().filter(|z| overdue(z)) {
            z.signaled = Some(Sig::Kill);
            let pid = z.pid;
            self.log(Note::ZygoteLoadTimedOut { pid, limit });
            if let Some(pid) = pid {
                self.signal(pid, Sig::Kill);
            }
        }
        let mut late = Vec::new();
        for w in &mut self.pool.workers {
            if let (WorkerState::Starting, Some(pid), false) = (w.state, w.pid, w.killed)
                && now >= w.spawned_at + limit
            {
                w.killed = true;
                late.push((w.id, pid));
            }
        }
        for (id, pid) in late {
            self.log(Note::WorkerLoadTimedOut { id, pid, limit });
            self.signal(pid, Sig::Kill);
        }
    }

    /// `worker-reload-mercy`: a worker told to stop that is still busy is
    /// killed, once.
    pub(super) fn check_worker_mercy(&mut self) {
        let (now, mercy) = (self.now, self.settings.worker_reload_mercy);
        let mut late = Vec::new();
        for w in &mut self.pool.workers {
            if let (WorkerState::Stopping(since), Some(pid), false) = (w.state, w.pid, w.killed)
                && now >= since + mercy
            {
                w.killed = true;
                late.push((w.id, pid));
            }
        }
        for (id, pid) in late {
            self.log(Note::WorkerMercyExpired { id, pid });
            self.signal(pid, Sig::Kill);
        }
    }

    /// `harakiri`: a request running longer than allowed gets its worker's
    /// Python stacks printed, then the worker killed and replaced.
    pub(super) fn check_harakiri(&mut self, wall_us: u64, busy: &[Busy]) {
        let Some(limit) = self.settings.harakiri else {
            return;
        };
        let limit_us = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX);
        let now = self.now;
        let mut victims = Vec::new();
        for w in &mut self.pool.workers {
            let Some(pid) = w.pid.filter(|_| !w.killed) else {
                continue;
            };
            if self.kills.iter().any(|(_, p)| *p == pid) {
                continue;
            }
            let Some(b) = busy.iter().find(|b| b.slot == w.slot) else {
                continue;
            };
            let ran = wall_us.saturating_sub(b.since_us);
            if ran <= limit_us {
                continue;
            }
            if !w.is_stopping() {
                w.state = WorkerState::Stopping(now);
            }
            victims.push((w.id, pid, b.uri.clone(), ran / 1_000_000));
        }
        for (id, pid, uri, seconds) in victims {
            self.log(Note::Harakiri {
                id,
                pid,
                uri,
                seconds,
            });
            *self.pool.harakiri.entry(id).or_default() += 1;
            if self.settings.harakiri_verbose {
                self.emit(Effect::LogKernelState { pid });
            }
            self.signal(pid, Sig::Traceback);
            self.kills.push((now + TRACEBACK_GRACE, pid));
            self.respawns.push(Respawn {
                at: now,
                id,
                replaces: None,
            });
        }
    }
}
