//! Attached daemons (`attach-daemon` and kin), as uWSGI's core/daemons.c
//! runs them, on the master's rules:
//!
//! - they start once every worker accepts (the first "rsgi is ready");
//! - a plain daemon that dies is started again with `master::backoff`
//!   (at once after a healthy run, later and later in a crash loop); a
//!   control daemon's death stops rsgi instead;
//! - a smart daemon (a pidfile) is watched through its pidfile, read once
//!   a second: started when the pidfile names no live process, adopted
//!   when it already does, left running at shutdown (signalled only with
//!   `notifypid`);
//! - a reload restarts the plain ones (their `reloadsignal`, else their
//!   `stopsignal`), not the control ones;
//! - shutdown sends each plain daemon's process group its `stopsignal`,
//!   then SIGKILL after `reload-mercy`; rsgi exits once they are reaped.

use super::*;
use rsgi_core::config::daemons::Daemon;

/// How often smart daemons' pidfiles are read (uWSGI: once a second).
pub const PIDFILE_POLL: Duration = Duration::from_secs(1);

/// Where a smart daemon stands, from its pidfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Smart {
    /// Its pidfile has not been read yet.
    Unknown,
    /// Launched; this many reads found no live pid since.
    Launched { checks: u32 },
    /// Its pidfile names a live process.
    Watching,
    /// It died; a restart is due.
    Down,
}

/// One attached daemon and its process.
#[derive(Debug, Clone)]
pub(super) struct Attached {
    pub(super) spec: Daemon,
    /// A plain daemon's process (also its process group), or the pid a
    /// smart daemon's pidfile names.
    pub(super) pid: Option<i32>,
    /// A smart daemon's command, until it exits (it daemonized).
    launcher: Option<i32>,
    /// [`Effect::StartDaemon`] went out; no answer yet.
    starting: bool,
    started: Instant,
    backoff: Backoff,
    restart_at: Option<Instant>,
    /// Told to stop at this instant; SIGKILL after `reload-mercy`.
    stopping: Option<Instant>,
    killed: bool,
    /// A reload stopped it: start it again once it has exited.
    restart_on_exit: bool,
    smart: Smart,
}

impl Attached {
    pub(super) fn new(spec: Daemon, now: Instant) -> Attached {
        Attached {
            spec,
            pid: None,
            launcher: None,
            starting: false,
            started: now,
            backoff: Backoff::default(),
            restart_at: None,
            stopping: None,
            killed: false,
            restart_on_exit: false,
            smart: Smart::Unknown,
        }
    }

    /// A death at `now`: the delay before it starts again, by
    /// `master::backoff`, capped by `max_throttle`.
    fn record_death(&mut self, now: Instant) -> Duration {
        let delay = self
            .backoff
            .record_death(now.saturating_duration_since(self.started));
        self.spec.max_throttle.map_or(delay, |cap| delay.min(cap))
    }

    /// Whether rsgi must wait for it before exiting.
    fn holds_exit(&self) -> bool {
        !self.spec.is_smart() && (self.pid.is_some() || self.starting)
    }
}

impl State {
    /// Start the daemons once every worker accepts, the first time.
    pub(super) fn start_daemons_when_ready(&mut self) {
        if self.daemons_started || !self.announced || self.stopping.is_some() {
            return;
        }
        self.daemons_started = true;
        for index in 0..self.daemons.len() {
            if self.daemons[index].spec.is_smart() {
                self.emit(Effect::ReadPidfile { index });
            } else {
                self.launch_daemon(index);
            }
        }
        if self.daemons.iter().any(|d| d.spec.is_smart()) {
            self.next_pidfile_read = Some(self.now + PIDFILE_POLL);
        }
    }

    fn launch_daemon(&mut self, index: usize) {
        let now = self.now;
        let d = &mut self.daemons[index];
        d.starting = true;
        d.started = now;
        d.restart_at = None;
        d.stopping = None;
        d.killed = false;
        self.emit(Effect::StartDaemon { index });
    }

    pub(super) fn daemon_started(&mut self, index: usize, pid: i32) {
        let Some(d) = self.daemons.get_mut(index) else {
            return;
        };
        d.starting = false;
        if d.spec.is_smart() {
            d.launcher = Some(pid);
            d.smart = Smart::Launched { checks: 0 };
        } else {
            d.pid = Some(pid);
        }
        let command = d.spec.command.clone();
        self.log(Note::DaemonStarted { command, pid });
        if self.stopping.is_some() && !self.daemons[index].spec.is_smart() {
            self.stop_daemon(index, None);
        }
    }

    pub(super) fn daemon_not_started(&mut self, index: usize, error: String) {
        let Some(d) = self.daemons.get_mut(index) else {
            return;
        };
        d.starting = false;
        let delay = d.backoff.record_death(Duration::ZERO).max(SPAWN_RETRY);
        d.restart_at = Some(self.now + delay);
        let command = d.spec.command.clone();
        self.log(Note::DaemonNotStarted { command, error });
    }

    /// A reaped pid that is a daemon's (or a smart daemon's launcher).
    pub(super) fn daemon_exited(&mut self, pid: i32, how: Ended) -> bool {
        if let Some(d) = self.daemons.iter_mut().find(|d| d.launcher == Some(pid)) {
            // A smart daemon's command exits once it has daemonized; its
            // pidfile says what runs now.
            d.launcher = None;
            if how != Ended::Code(0) {
                let command = d.spec.command.clone();
                self.log(Note::DaemonLauncherFailed { command, how });
            }
            return true;
        }
        let Some(index) = self.daemons.iter().position(|d| d.pid == Some(pid)) else {
            return false;
        };
        let now = self.now;
        let stopping = self.stopping.is_some();
        let d = &mut self.daemons[index];
        d.pid = None;
        let command = d.spec.command.clone();
        if stopping {
            self.log(Note::DaemonStopped { command, pid, how });
            return true;
        }
        if d.restart_on_exit {
            d.restart_on_exit = false;
            self.log(Note::DaemonStopped { command, pid, how });
            self.launch_daemon(index);
            return true;
        }
        if d.spec.control {
            self.log(Note::ControlDaemonDied { command, pid, how });
            self.stop(true);
            return true;
        }
        let delay = d.record_death(now);
        d.restart_at = Some(now + delay);
        if d.spec.is_smart() {
            d.smart = Smart::Down;
        }
        self.log(Note::DaemonDied {
            command,
            pid,
            how,
            delay,
        });
        self.restart_daemons_due();
        true
    }

    /// The answer to [`Effect::ReadPidfile`]: the live pid it names, if any.
    pub(super) fn daemon_pidfile(&mut self, index: usize, pid: Option<i32>) {
        if self.stopping.is_some() {
            return;
        }
        let Some(d) = self.daemons.get_mut(index) else {
            return;
        };
        if d.starting || d.restart_at.is_some() {
            return;
        }
        let command = d.spec.command.clone();
        match (pid, d.smart) {
            (Some(pid), smart) => {
                if smart == Smart::Unknown {
                    self.log(Note::DaemonAdopted { command, pid });
                }
                let d = &mut self.daemons[index];
                d.pid = Some(pid);
                d.smart = Smart::Watching;
            }
            (None, Smart::Unknown) => self.launch_daemon(index),
            (None, Smart::Watching) => {
                // Gone without our reaping it: not our descendant (adopted
                // from an earlier run), so its death shows only here.
                let old = d.pid.take();
                let delay = d.record_death(self.now);
                d.restart_at = Some(self.now + delay);
                d.smart = Smart::Down;
                self.log(Note::DaemonGone {
                    command,
                    pid: old,
                    delay,
                });
                self.restart_daemons_due();
            }
            (None, Smart::Launched { checks }) => {
                let checks = checks + 1;
                if checks < d.spec.freq {
                    d.smart = Smart::Launched { checks };
                } else if d.launcher.is_some() {
                    // Still in the foreground: it never daemonized. As
                    // uWSGI, say so and keep waiting.
                    d.smart = Smart::Launched { checks: 0 };
                    self.log(Note::DaemonDidNotDaemonize { command });
                } else {
                    self.log(Note::DaemonPidfileMissing { command });
                    self.launch_daemon(index);
                }
            }
            (None, Smart::Down) => {}
        }
    }

    /// Deadlines: restarts, pidfile reads, SIGKILL after mercy.
    pub(super) fn daemon_timers(&mut self) {
        let now = self.now;
        let mercy = self.settings.reload_mercy;
        for index in 0..self.daemons.len() {
            let d = &mut self.daemons[index];
            if let (Some(since), Some(pid), false) = (d.stopping, d.pid, d.killed)
                && now >= since + mercy
            {
                d.killed = true;
                let command = d.spec.command.clone();
                self.log(Note::DaemonKilled { command, pid });
                self.emit(Effect::SignalGroup {
                    pid,
                    signal: libc::SIGKILL,
                });
            }
        }
        if self.stopping.is_some() {
            return;
        }
        self.restart_daemons_due();
        if self.next_pidfile_read.is_some_and(|at| at <= now) {
            self.next_pidfile_read = Some(now + PIDFILE_POLL);
            for index in 0..self.daemons.len() {
                let d = &self.daemons[index];
                if d.spec.is_smart() && !d.starting && d.restart_at.is_none() {
                    self.emit(Effect::ReadPidfile { index });
                }
            }
        }
    }

    fn restart_daemons_due(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let now = self.now;
        for index in 0..self.daemons.len() {
            if self.daemons[index].restart_at.is_some_and(|at| at <= now) {
                self.launch_daemon(index);
            }
        }
    }

    pub(super) fn daemon_deadlines(&self, at: &mut Vec<Instant>) {
        let mercy = self.settings.reload_mercy;
        for d in &self.daemons {
            if let (Some(since), Some(_), false) = (d.stopping, d.pid, d.killed) {
                at.push(since + mercy);
            }
            if self.stopping.is_none() {
                at.extend(d.restart_at);
            }
        }
        if self.stopping.is_none() {
            at.extend(self.next_pidfile_read);
        }
    }

    /// Signal a daemon's process group to stop: `signal`, else its
    /// `stopsignal`; SIGKILL follows after `reload-mercy`.
    fn stop_daemon(&mut self, index: usize, signal: Option<i32>) {
        let now = self.now;
        let d = &mut self.daemons[index];
        let Some(pid) = d.pid else {
            return;
        };
        d.stopping.get_or_insert(now);
        let signal = signal.unwrap_or(d.spec.stop_signal);
        self.emit(Effect::SignalGroup { pid, signal });
    }

    /// Shutdown: plain daemons are stopped and waited for; smart ones left
    /// running, told with `notifypid`.
    pub(super) fn stop_daemons(&mut self) {
        for index in 0..self.daemons.len() {
            let d = &mut self.daemons[index];
            d.restart_at = None;
            d.restart_on_exit = false;
            if !d.spec.is_smart() {
                self.stop_daemon(index, None);
            } else if let (true, Some(pid)) = (d.spec.notify_pid, d.pid) {
                let signal = d.spec.stop_signal;
                self.emit(Effect::SignalGroup { pid, signal });
            }
        }
    }

    /// A reload restarts the plain daemons that are not control daemons.
    pub(super) fn restart_daemons_for_reload(&mut self) {
        for index in 0..self.daemons.len() {
            let d = &mut self.daemons[index];
            if d.spec.is_smart() {
                if let (true, Some(pid)) = (d.spec.notify_pid, d.pid) {
                    let signal = d.spec.reload_signal.unwrap_or(libc::SIGHUP);
                    self.emit(Effect::SignalGroup { pid, signal });
                }
                continue;
            }
            if d.spec.control || d.pid.is_none() || d.restart_on_exit {
                continue;
            }
            d.restart_on_exit = true;
            let signal = d.spec.reload_signal;
            self.stop_daemon(index, signal);
        }
    }

    /// A daemon's `touch` file was touched: as uWSGI, its stop signal; a
    /// plain daemon is started again at once, a smart one by its pidfile.
    pub(super) fn restart_daemon(&mut self, index: usize, reason: String) {
        let Some(d) = self.daemons.get_mut(index) else {
            return;
        };
        let Some(pid) = d.pid else {
            return;
        };
        let command = d.spec.command.clone();
        self.log(Note::DaemonTouched {
            command,
            pid,
            reason,
        });
        let d = &mut self.daemons[index];
        if d.spec.is_smart() {
            let signal = d.spec.stop_signal;
            self.emit(Effect::SignalGroup { pid, signal });
        } else if !d.restart_on_exit {
            d.restart_on_exit = true;
            self.stop_daemon(index, None);
        }
    }

    /// No plain daemon is left running.
    pub(super) fn daemons_gone(&self) -> bool {
        !self.daemons.iter().any(Attached::holds_exit)
    }
}
