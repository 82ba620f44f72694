//! The master's logic as a pure state machine: [`State::handle`] takes an
//! [`Event`] and the time it happened, and returns the [`Effect`]s to
//! perform. No I/O, no clock, no signals here: the shell
//! (`master::shell`) turns the OS into events and performs the effects,
//! so every rule below is unit-tested in milliseconds (`machine/tests.rs`).
//!
//! Renewing a worker has one path: spawn its replacement from the current
//! zygote, wait until it accepts, then stop the old one, which finishes
//! its requests in flight. Recycling does it for one worker; a reload
//! first starts a zygote with the new code (and, after SIGHUP, the re-read
//! config) and, once that zygote has loaded, does it for every worker in
//! turn. Triggers that arrive during a reload fold into one more reload
//! after it. The re-read config becomes the running one only when its
//! zygote has loaded; a reload that fails leaves the running config and
//! sockets as they were.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Command;
use super::backoff::{self, Backoff};
use super::notes::{Blocked, Note, ReloadFailure};
use super::pool::{Pool, Worker, WorkerState};
use crate::config::Config;
use crate::ipc::control::Reply;
use crate::ipc::event::WorkerEvent;
use crate::ipc::{EXIT_APP, EXIT_CONFIG, EXIT_OK};

/// How long harakiri waits between the traceback signal and the kill.
const TRACEBACK_GRACE: Duration = Duration::from_millis(300);
/// How often running requests are checked against `harakiri`.
pub const HARAKIRI_POLL: Duration = Duration::from_millis(100);
/// Wait before asking again for a worker the zygote could not fork.
const SPAWN_RETRY: Duration = Duration::from_secs(1);
/// How many reaped worker pids are remembered (see `State::reaped`).
const REAPED_KEPT: usize = 64;

/// What the machine decides with, taken from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub processes: usize,
    pub harakiri: Option<Duration>,
    pub reload_mercy: Duration,
    pub worker_reload_mercy: Duration,
    /// How long a zygote may take to load the app, or a worker to accept.
    pub load_timeout: Option<Duration>,
    pub lazy_apps: bool,
    /// SIGUSR2 reopens the log file (`logto` with `log-reopen`).
    pub log_reopen: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            processes: c.processes.max(1),
            harakiri: (c.harakiri > 0).then(|| Duration::from_secs(c.harakiri)),
            reload_mercy: c.reload_mercy,
            worker_reload_mercy: c.worker_reload_mercy,
            load_timeout: (!c.load_timeout.is_zero()).then_some(c.load_timeout),
            lazy_apps: c.lazy_apps,
            log_reopen: c.log_reopen && c.logto.is_some(),
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Code(c) => write!(f, "exited with status {c}"),
            Ended::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "was killed by {sig}"),
                Err(_) => write!(f, "was killed by signal {s}"),
            },
        }
    }
}

/// Why a re-read config was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// It does not load (the sentence names the file and line).
    Invalid(String),
    /// A socket it adds cannot be bound.
    Unbindable(String),
}

/// A request running in a worker, read from its stats slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub slot: usize,
    /// Unix microseconds when the oldest running request started.
    pub since_us: u64,
    pub uri: String,
}

/// Everything the master reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The master is up: start the first zygote.
    Start,
    /// A signal, the master FIFO, a touch file, or a worker asked for this.
    Command(Command),
    /// SIGUSR2.
    ReopenLogs,
    /// The answer to [`Effect::LoadConfig`].
    ConfigLoaded(Result<Settings, Rejection>),
    /// The answers to [`Effect::StartZygote`].
    ZygoteStarted {
        generation: u64,
        pid: i32,
    },
    ZygoteNotStarted {
        generation: u64,
        error: String,
    },
    /// A message on a zygote's control socket.
    Zygote {
        generation: u64,
        reply: Reply,
    },
    /// [`Effect::SpawnWorker`] could not reach that zygote.
    ZygoteUnreachable {
        generation: u64,
        slot: usize,
        error: String,
    },
    /// A worker's datagram.
    Worker(WorkerEvent),
    /// A child was reaped.
    Exited {
        pid: i32,
        how: Ended,
    },
    /// [`State::next_deadline`] passed. `busy` holds the running requests
    /// of every worker (read only when harakiri is on), `wall_us` the
    /// wall clock they are measured against.
    Tick {
        wall_us: u64,
        busy: Vec<Busy>,
    },
}

/// Signals the master sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sig {
    Term,
    Kill,
    /// Reopen the log file.
    Usr2,
    /// Print every Python thread's stack (`ipc::traceback_signal`).
    Traceback,
}

/// What systemd hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Ready,
    Reloading,
    Stopping,
    Watchdog,
}

/// Everything the master does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Fork+exec a zygote with the running config, or with the candidate
    /// (the re-read config and its sockets); answer with
    /// [`Event::ZygoteStarted`] or [`Event::ZygoteNotStarted`].
    StartZygote {
        generation: u64,
        candidate: bool,
    },
    /// Reset stats slot `slot` and ask zygote `generation` for worker `id`
    /// in it (`ipc::control::Command::Spawn`).
    SpawnWorker {
        generation: u64,
        slot: usize,
        id: usize,
    },
    Signal {
        pid: i32,
        signal: Sig,
    },
    Notify(Notify),
    /// Re-read the config files and bind the sockets they add, keeping
    /// both as the candidate; answer with [`Event::ConfigLoaded`].
    LoadConfig,
    /// The candidate config and sockets become the running ones.
    CommitConfig,
    /// Drop the candidate; the running config and sockets stay.
    DiscardConfig,
    /// Reopen the `logto` file.
    ReopenLogFile,
    /// Log every worker's counters.
    LogStats,
    Log(Note),
    /// Leave with this status; nothing is left running.
    Exit(u8),
}

#[derive(Debug, Clone)]
struct Zygote {
    generation: u64,
    pid: Option<i32>,
    ready: bool,
    started: Instant,
    /// The last signal sent to it.
    signaled: Option<Sig>,
}

impl Zygote {
    fn new(generation: u64, now: Instant) -> Zygote {
        Zygote {
            generation,
            pid: None,
            ready: false,
            started: now,
            signaled: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Reload {
    reason: String,
    started: Instant,
    /// RELOADING=1 went out, so READY=1 must follow whatever happens.
    notified: bool,
    phase: Phase,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for [`Event::ConfigLoaded`].
    ReadingConfig,
    /// The next zygote is loading the new code.
    Loading,
    /// Replacing the workers older than `generation`, one at a time.
    Replacing {
        generation: u64,
        queue: VecDeque<usize>,
        /// The id whose replacement is on its way.
        current: Option<usize>,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    reread: bool,
    reason: String,
}

#[derive(Debug, Clone)]
struct Respawn {
    at: Instant,
    id: usize,
    replaces: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Stopping {
    since: Instant,
    immediate: bool,
}

#[derive(Debug, Clone, Copy)]
struct Watchdog {
    every: Duration,
    last: Instant,
}

/// The master's state. Read-only views (stats, metrics, systemd's status
/// line) borrow it; only [`State::handle`] changes it.
#[derive(Debug)]
pub struct State {
    settings: Settings,
    /// The re-read config of the running reload, until its zygote loads.
    candidate: Option<Settings>,
    watchdog: Option<Watchdog>,
    /// The last zygote generation handed out; every zygote gets a new one.
    generation: u64,
    current: Option<Zygote>,
    /// The zygote a reload is loading.
    next: Option<Zygote>,
    /// Zygotes on their way out: told to stop once no worker of theirs is
    /// still being forked, forgotten when reaped.
    retired: Vec<Zygote>,
    zygote_backoff: Backoff,
    zygote_restart: Option<Instant>,
    pool: Pool,
    desired: usize,
    reload: Option<Reload>,
    pending: Option<Pending>,
    respawns: Vec<Respawn>,
    /// Harakiri: SIGKILL these pids at these instants.
    kills: Vec<(Instant, i32)>,
    /// The last workers reaped: a ready message of theirs still queued
    /// must not be taken for the worker now being forked into their slot.
    reaped: VecDeque<i32>,
    stopping: Option<Stopping>,
    ever_ready: bool,
    announced: bool,
    status: u8,
    exited: bool,
    reloads: u64,
    now: Instant,
    out: Vec<Effect>,
}

impl State {
    /// `watchdog`: how often systemd wants WATCHDOG=1, if it does.
    pub fn new(settings: Settings, watchdog: Option<Duration>, now: Instant) -> State {
        State {
            desired: settings.processes,
            settings,
            candidate: None,
            watchdog: watchdog.map(|every| Watchdog { every, last: now }),
            generation: 0,
            current: None,
            next: None,
            retired: Vec::new(),
            zygote_backoff: Backoff::default(),
            zygote_restart: None,
            pool: Pool::default(),
            reload: None,
            pending: None,
            respawns: Vec::new(),
            kills: Vec::new(),
            reaped: VecDeque::new(),
            stopping: None,
            ever_ready: false,
            announced: false,
            status: EXIT_OK,
            exited: false,
            reloads: 0,
            now,
            out: Vec::new(),
        }
    }

    pub fn workers(&self) -> &[Worker] {
        &self.pool.workers
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Rolling reloads completed.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// When the machine next wants a [`Event::Tick`], if ever.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut at: Vec<Instant> = Vec::new();
        at.extend(self.kills.iter().map(|(t, _)| *t));
        at.extend(self.watchdog.map(|w| w.last + w.every));
        if let Some(s) = self.stopping {
            if !s.immediate {
                at.push(s.since + self.settings.reload_mercy);
            }
            return at.into_iter().min();
        }
        if self.current.as_ref().is_some_and(|z| z.ready) {
            at.extend(self.respawns.iter().map(|r| r.at));
        }
        at.extend(self.zygote_restart);
        if let Some(limit) = self.settings.load_timeout {
            let loading = self.current.iter().chain(&self.next);
            at.extend(
                loading
                    .filter(|z| !z.ready && z.signaled.is_none())
                    .map(|z| z.started + limit),
            );
            at.extend(
                self.pool
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Starting && !w.killed)
                    .map(|w| w.spawned_at + limit),
            );
        }
        for w in &self.pool.workers {
            if let (WorkerState::Stopping(since), Some(_), false) = (w.state, w.pid, w.killed) {
                at.push(since + self.settings.worker_reload_mercy);
            }
        }
        if self.settings.harakiri.is_some() && self.pool.workers.iter().any(|w| w.pid.is_some()) {
            at.push(now + HARAKIRI_POLL);
        }
        at.into_iter().min()
    }

    /// React to `event`, which happened at `now`.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Effect> {
        self.now = now;
        match event {
            Event::Start => self.start(),
            Event::Command(c) => self.command(c),
            Event::ReopenLogs => self.reopen_logs(),
            Event::ConfigLoaded(result) => self.config_loaded(result),
            Event::ZygoteStarted { generation, pid } => self.zygote_started(generation, pid),
            Event::ZygoteNotStarted { generation, error } => {
                self.zygote_not_started(generation, error)
            }
            Event::Zygote { generation, reply } => match reply {
                Reply::Ready => self.zygote_ready(generation),
                Reply::Spawned { slot, pid } => self.worker_spawned(generation, slot, pid),
                Reply::Failed { slot } => self.spawn_failed(generation, slot, None),
            },
            Event::ZygoteUnreachable {
                generation,
                slot,
                error,
            } => self.spawn_failed(generation, slot, Some(error)),
            Event::Worker(WorkerEvent::Ready { slot, pid }) => self.worker_ready(slot, pid),
            Event::Worker(WorkerEvent::Recycle { slot, reason }) => {
                self.command(Command::Recycle { slot, reason })
            }
            Event::Worker(WorkerEvent::Reload { reason }) => self.command(Command::Reload {
                reread: false,
                reason,
            }),
            Event::Exited { pid, how } => self.exited(pid, how),
            Event::Tick { wall_us, busy } => self.tick(wall_us, &busy),
        }
        self.progress();
        self.release_retired();
        self.exit_when_done();
        std::mem::take(&mut self.out)
    }

    fn emit(&mut self, effect: Effect) {
        self.out.push(effect);
    }

    fn log(&mut self, note: Note) {
        self.out.push(Effect::Log(note));
    }

    fn signal(&mut self, pid: i32, signal: Sig) {
        self.out.push(Effect::Signal { pid, signal });
    }

    fn new_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn start(&mut self) {
        if self.current.is_some() || self.stopping.is_some() {
            return;
        }
        self.start_current_zygote();
    }

    fn start_current_zygote(&mut self) {
        let generation = self.new_generation();
        self.current = Some(Zygote::new(generation, self.now));
        self.emit(Effect::StartZygote {
            generation,
            candidate: false,
        });
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Stop { graceful } => self.stop(graceful),
            _ if self.stopping.is_some() => {}
            Command::Reload { reread, reason } => {
                if self.reload.is_some() {
                    // Fold: one more reload after this one, re-reading the
                    // config if any of the folded triggers asked for it.
                    let reread = reread || self.pending.as_ref().is_some_and(|p| p.reread);
                    self.log(Note::ReloadFolded {
                        reason: reason.clone(),
                    });
                    self.pending = Some(Pending { reread, reason });
                } else {
                    self.start_reload(reread, reason);
                }
            }
            Command::Recycle { slot, reason } => self.recycle(slot, reason),
            Command::AddWorker => {
                self.desired += 1;
                self.log(Note::Scaled {
                    processes: self.desired,
                    more: true,
                });
                self.ensure_pool();
            }
            Command::RemoveWorker => {
                if self.desired > 1 {
                    self.desired -= 1;
                    self.log(Note::Scaled {
                        processes: self.desired,
                        more: false,
                    });
                    self.ensure_pool();
                }
            }
            Command::LogStats => self.emit(Effect::LogStats),
        }
    }

    fn reopen_logs(&mut self) {
        if !self.settings.log_reopen {
            return;
        }
        self.emit(Effect::ReopenLogFile);
        let pids: Vec<i32> = self.pool.workers.iter().filter_map(|w| w.pid).collect();
        for pid in pids {
            self.signal(pid, Sig::Usr2);
        }
    }

    // ---- reloads ----

    fn start_reload(&mut self, reread: bool, reason: String) {
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

    fn config_loaded(&mut self, result: Result<Settings, Rejection>) {
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

    fn load_new_code(&mut self) {
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
    fn promote(&mut self) {
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
            self.emit(Effect::CommitConfig);
        }
        let mut queue: Vec<usize> = self
            .pool
            .workers
            .iter()
            .filter(|w| !w.is_stopping() && w.id <= self.desired && w.generation < generation)
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
    fn abandon_reload(&mut self, failure: ReloadFailure) {
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

    fn run_pending(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        if let Some(p) = self.pending.take() {
            self.start_reload(p.reread, p.reason);
        }
    }

    /// Move the reload along: replace the next worker, or finish once
    /// every worker accepts.
    fn progress(&mut self) {
        // A worker id removed (SIGTTOU) while its replacement was on its
        // way is no longer waited for.
        if let Some(Reload {
            phase: Phase::Replacing { current, .. },
            ..
        }) = &mut self.reload
            && current.is_some_and(|id| id > self.desired)
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

    fn finish_reload(&mut self) {
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
                workers: self.desired,
            });
        }
        self.run_pending();
    }

    fn announce(&mut self) {
        self.announced = true;
        self.log(Note::Ready {
            workers: self.desired,
        });
        self.emit(Effect::Notify(Notify::Ready));
    }

    /// Every worker id has a worker that accepts.
    fn all_accepting(&self) -> bool {
        self.stopping.is_none()
            && (1..=self.desired).all(|id| {
                self.pool
                    .workers
                    .iter()
                    .any(|w| w.id == id && w.state == WorkerState::Ready)
            })
    }

    // ---- zygotes ----

    fn zygote_mut(&mut self, generation: u64) -> Option<&mut Zygote> {
        self.current
            .iter_mut()
            .chain(self.next.iter_mut())
            .chain(self.retired.iter_mut())
            .find(|z| z.generation == generation)
    }

    fn zygote_started(&mut self, generation: u64, pid: i32) {
        if let Some(z) = self.zygote_mut(generation) {
            z.pid = Some(pid);
            self.log(Note::ZygoteStarted { pid, generation });
        }
    }

    fn zygote_not_started(&mut self, generation: u64, error: String) {
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

    fn restart_zygote_if_due(&mut self) {
        if self.stopping.is_some() || self.current.is_some() {
            self.zygote_restart = None;
            return;
        }
        if self.zygote_restart.is_some_and(|at| at <= self.now) {
            self.zygote_restart = None;
            self.start_current_zygote();
        }
    }

    fn zygote_ready(&mut self, generation: u64) {
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

    fn zygote_exited(&mut self, pid: i32, how: Ended) -> bool {
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
    fn drop_unborn_workers(&mut self, generation: u64) {
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
    fn release_retired(&mut self) {
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

    // ---- workers ----

    /// Ask the current zygote for worker `id`.
    fn spawn_worker(&mut self, id: usize, replaces: Option<u64>) -> Result<usize, Blocked> {
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
    fn spawn_or_retry(&mut self, id: usize, replaces: Option<u64>) {
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
    fn ensure_pool(&mut self) {
        if self.stopping.is_some() || !self.current.as_ref().is_some_and(|z| z.ready) {
            return;
        }
        for id in 1..=self.desired {
            let scheduled = self.respawns.iter().any(|r| r.id == id);
            if !self.pool.serving(id) && !scheduled {
                self.spawn_or_retry(id, None);
            }
        }
        let surplus: Vec<u64> = self
            .pool
            .workers
            .iter()
            .filter(|w| w.id > self.desired && !w.is_stopping())
            .map(|w| w.serial)
            .collect();
        for serial in surplus {
            self.stop_worker(serial);
        }
    }

    fn stop_worker(&mut self, serial: u64) {
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

    fn recycle(&mut self, slot: usize, reason: String) {
        // A reload replaces every worker anyway.
        if self.reload.is_some() {
            return;
        }
        let Some(w) = self.pool.by_slot(slot) else {
            return;
        };
        let (id, serial, pid) = (w.id, w.serial, w.pid);
        let replacing = self.pool.workers.iter().any(|o| o.replaces == Some(serial))
            || self.respawns.iter().any(|r| r.replaces == Some(serial));
        if w.state != WorkerState::Ready || replacing {
            return;
        }
        self.log(Note::Recycling { id, pid, reason });
        self.spawn_or_retry(id, Some(serial));
    }

    /// A worker's pid became known (the zygote's answer or the worker's
    /// own ready message, whichever came first). A worker told to stop
    /// before that gets its signal now.
    fn learn_pid(&mut self, slot: usize, generation: Option<u64>, pid: i32) -> Option<usize> {
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
        }
        Some(id)
    }

    fn worker_spawned(&mut self, generation: u64, slot: usize, pid: i32) {
        let Some(id) = self.learn_pid(slot, Some(generation), pid) else {
            return;
        };
        if let Some(w) = self.pool.by_slot_mut(slot)
            && w.state == WorkerState::Spawning
        {
            w.state = WorkerState::Starting;
        }
        self.log(Note::WorkerSpawned { id, pid });
    }

    fn spawn_failed(&mut self, generation: u64, slot: usize, error: Option<String>) {
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

    fn worker_ready(&mut self, slot: usize, pid: i32) {
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

    fn exited(&mut self, pid: i32, how: Ended) {
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
        if self.zygote_exited(pid, how) {
            return;
        }
        // Processes the app started and left behind are reparented to the
        // master (a child subreaper); reaping them is all they need.
        self.log(Note::Reaped { pid, how });
    }

    fn worker_exited(&mut self, w: Worker, pid: i32, how: Ended) {
        if self.stopping.is_some() || w.is_stopping() {
            self.log(Note::WorkerStopped { id: w.id, pid, how });
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

    fn run_due_respawns(&mut self) {
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
            if replaced_lives || (r.id <= self.desired && !self.pool.serving(r.id)) {
                self.spawn_or_retry(r.id, r.replaces.filter(|_| replaced_lives));
            }
        }
    }

    // ---- stopping ----

    fn stop(&mut self, graceful: bool) {
        match self.stopping {
            None if graceful => {
                self.log(Note::GracefulShutdown);
                self.emit(Effect::Notify(Notify::Stopping));
                self.stopping = Some(Stopping {
                    since: self.now,
                    immediate: false,
                });
                self.wind_down();
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
    fn wind_down(&mut self) {
        self.reload = None;
        self.pending = None;
        self.respawns.clear();
        self.zygote_restart = None;
        if self.candidate.take().is_some() {
            self.emit(Effect::DiscardConfig);
        }
    }

    fn kill_everything(&mut self) {
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

    fn exit_when_done(&mut self) {
        let done = self.stopping.is_some()
            && self.pool.workers.is_empty()
            && self.current.is_none()
            && self.next.is_none()
            && self.retired.is_empty();
        if done && !self.exited {
            self.exited = true;
            self.log(Note::Stopped {
                status: self.status,
            });
            self.emit(Effect::Exit(self.status));
        }
    }

    // ---- time ----

    fn tick(&mut self, wall_us: u64, busy: &[Busy]) {
        let now = self.now;
        if let Some(w) = &mut self.watchdog
            && now.saturating_duration_since(w.last) >= w.every
        {
            w.last = now;
            self.emit(Effect::Notify(Notify::Watchdog));
        }
        self.run_due_kills();
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
        self.restart_zygote_if_due();
        self.run_due_respawns();
    }

    fn run_due_kills(&mut self) {
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
    fn check_load_timeouts(&mut self) {
        let Some(limit) = self.settings.load_timeout else {
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
    fn check_worker_mercy(&mut self) {
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
    fn check_harakiri(&mut self, wall_us: u64, busy: &[Busy]) {
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

#[cfg(test)]
mod tests;
