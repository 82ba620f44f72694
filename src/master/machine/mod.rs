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
//!
//! Here: the types, the state, and `handle` dispatching each event. The
//! transitions live by subject in `reload`, `zygotes`, `workers`, `stop`
//! and `timers`, the attached daemons in `daemons`, cron commands in
//! `crons`; `tests` drives them all.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::Command;
use super::backoff::{self, Backoff};
use super::notes::{Blocked, Note, ReloadFailure};
use super::pool::{Pool, Worker, WorkerState};
pub use cheaper::CheaperSettings;
use cheaper::{Cheaper, Decision};
use rsgi_core::config::Config;
use rsgi_core::config::cron::{CivilTime, Cron};
use rsgi_core::config::daemons::Daemon;
use rsgi_core::ipc::control::Reply;
use rsgi_core::ipc::event::WorkerEvent;
use rsgi_core::ipc::{EXIT_APP, EXIT_CONFIG, EXIT_HOOK, EXIT_OK};

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
    /// Adaptive worker count; None: always `processes` workers.
    pub cheaper: Option<CheaperSettings>,
    /// Recycle a worker after this long; worker k waits (k - 1) × delta more.
    pub max_worker_lifetime: Option<Duration>,
    pub max_worker_lifetime_delta: Duration,
    /// SIGKILL a worker whose RSS / address space reaches these bytes (0: off).
    pub evil_reload_on_rss: u64,
    pub evil_reload_on_as: u64,
    /// Log a harakiri victim's system call and wait channel too.
    pub harakiri_verbose: bool,
    /// A reload request stops rsgi (status 0) instead.
    pub exit_on_reload: bool,
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
            log_reopen: c.log_reopen
                && (c.log_file().is_some()
                    || rsgi_core::logger::has_files(&c.logger)
                    || rsgi_core::logger::has_files(&c.req_logger)),
            cheaper: CheaperSettings::from_config(c),
            max_worker_lifetime: (!c.max_worker_lifetime.is_zero())
                .then_some(c.max_worker_lifetime),
            max_worker_lifetime_delta: c.max_worker_lifetime_delta,
            evil_reload_on_rss: c.evil_reload_on_rss.saturating_mul(1 << 20),
            evil_reload_on_as: c.evil_reload_on_as.saturating_mul(1 << 20),
            harakiri_verbose: c.harakiri_verbose,
            exit_on_reload: c.exit_on_reload,
        }
    }

    /// Whether the master reads its workers' memory each cycle.
    pub fn reads_memory(&self) -> bool {
        self.evil_reload_on_rss > 0
            || self.evil_reload_on_as > 0
            || self
                .cheaper
                .as_ref()
                .is_some_and(CheaperSettings::needs_memory)
    }

    /// Whether the master runs a cycle each second (cheaper, evil reloads).
    fn cycles(&self) -> bool {
        self.cheaper.is_some() || self.evil_reload_on_rss > 0 || self.evil_reload_on_as > 0
    }
}

/// What the master read of each worker and of its sockets for a cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    pub workers: Vec<SlotLoad>,
    /// Connections waiting in the listen queues.
    pub backlog: u64,
}

/// One worker process's figures, from its stats slot and /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotLoad {
    pub slot: usize,
    /// In a request now.
    pub busy: bool,
    /// Microseconds spent in requests since it was spawned.
    pub running_us: u64,
    /// Bytes; 0 when memory is not read.
    pub rss: u64,
    pub vsz: u64,
}

/// What the master runs beside the workers, fixed for its life: a
/// reload does not change them (the shell warns when a re-read config
/// would).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sidecars {
    /// `attach-daemon`, `attach-control-daemon`, `smart-attach-daemon`,
    /// `smart-attach-daemon2`, `attach-daemon2`, in that order.
    pub daemons: Vec<Daemon>,
    /// `cron`, `unique-cron`, `cron2`.
    pub crons: Vec<Cron>,
    pub cron_harakiri: Option<Duration>,
}

impl Sidecars {
    pub fn from_config(c: &Config) -> Sidecars {
        let daemons = [
            &c.attach_daemon,
            &c.attach_control_daemon,
            &c.smart_attach_daemon,
            &c.smart_attach_daemon2,
            &c.attach_daemon2,
        ];
        Sidecars {
            daemons: daemons.into_iter().flatten().cloned().collect(),
            crons: [&c.cron, &c.unique_cron, &c.cron2]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            cron_harakiri: (c.cron_harakiri > 0).then(|| Duration::from_secs(c.cron_harakiri)),
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
    /// wall clock they are measured against; `load` what a cycle reads
    /// (only when cheaper or an evil reload is on).
    Tick {
        wall_us: u64,
        busy: Vec<Busy>,
        load: Load,
    },
    /// The answers to [`Effect::StartDaemon`].
    DaemonStarted {
        index: usize,
        pid: i32,
    },
    DaemonNotStarted {
        index: usize,
        error: String,
    },
    /// The answer to [`Effect::ReadPidfile`]: the pid the pidfile names
    /// if that process is alive.
    DaemonPidfile {
        index: usize,
        pid: Option<i32>,
    },
    /// A new wall-clock minute began (local time): cron's clock.
    Minute(CivilTime),
    /// The answers to [`Effect::RunCron`].
    CronStarted {
        index: usize,
        pid: i32,
    },
    CronNotStarted {
        index: usize,
        error: String,
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
    /// harakiri-verbose: log what the kernel says this worker is doing
    /// (its system call and wait channel).
    LogKernelState {
        pid: i32,
    },
    Log(Note),
    /// Leave with this status; nothing is left running.
    Exit(u8),
    /// Start attached daemon `index` (in its own session, so its pid is
    /// its process group); answer with [`Event::DaemonStarted`] or
    /// [`Event::DaemonNotStarted`].
    StartDaemon {
        index: usize,
    },
    /// Read daemon `index`'s pidfile; answer with [`Event::DaemonPidfile`].
    ReadPidfile {
        index: usize,
    },
    /// Send `signal` to the process group `pid` leads (a daemon or a
    /// cron command, each in its own session).
    SignalGroup {
        pid: i32,
        signal: i32,
    },
    /// Run cron entry `index`'s command; answer with
    /// [`Event::CronStarted`] or [`Event::CronNotStarted`].
    RunCron {
        index: usize,
    },
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
    /// Worker ids run are 1..=desired, less the cheaped ones.
    desired: usize,
    /// Ids cheaper keeps stopped (each ≤ desired).
    cheaped: BTreeSet<usize>,
    cheaper: Cheaper,
    /// When the next cycle (cheaper, evil reloads) runs.
    cycle_at: Instant,
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
    daemons: Vec<daemons::Attached>,
    /// The daemons were started (once every worker first accepted).
    daemons_started: bool,
    next_pidfile_read: Option<Instant>,
    crons: Vec<crons::Scheduled>,
    cron_harakiri: Option<Duration>,
    now: Instant,
    out: Vec<Effect>,
}

impl State {
    /// `load-timeout` as it applies now: only once the first start is over.
    fn load_limit(&self) -> Option<Duration> {
        self.settings.load_timeout.filter(|_| self.ever_ready)
    }

    /// `watchdog`: how often systemd wants WATCHDOG=1, if it does.
    pub fn new(settings: Settings, watchdog: Option<Duration>, now: Instant) -> State {
        let cheaped = match &settings.cheaper {
            Some(c) => (c.initial + 1..=settings.processes).collect(),
            None => BTreeSet::new(),
        };
        State {
            desired: settings.processes,
            cheaped,
            cheaper: Cheaper::default(),
            cycle_at: now + cheaper::CYCLE,
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
            daemons: Vec::new(),
            daemons_started: false,
            next_pidfile_read: None,
            crons: Vec::new(),
            cron_harakiri: None,
            now,
            out: Vec::new(),
        }
    }

    /// Add the daemons and cron commands to a new state.
    pub fn with_sidecars(mut self, sidecars: Sidecars) -> State {
        let now = self.now;
        self.daemons = sidecars
            .daemons
            .into_iter()
            .map(|d| daemons::Attached::new(d, now))
            .collect();
        self.crons = sidecars
            .crons
            .into_iter()
            .map(crons::Scheduled::new)
            .collect();
        self.cron_harakiri = sidecars.cron_harakiri;
        self
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

    /// Worker ids cheaper keeps stopped now (stats show them as cheap).
    pub fn cheaped(&self) -> impl Iterator<Item = usize> + '_ {
        self.cheaped
            .iter()
            .copied()
            .filter(|id| *id <= self.desired)
    }

    /// How many workers the master keeps running now.
    pub fn target(&self) -> usize {
        self.desired - self.cheaped().count()
    }

    /// Whether worker `id` should be running.
    fn wanted(&self, id: usize) -> bool {
        id <= self.desired && !self.cheaped.contains(&id)
    }

    /// Rolling reloads completed.
    /// What a load balancer's readiness probe asks: every worker accepted
    /// once (the moment systemd is told READY=1) and no stop has begun. A
    /// rolling reload keeps it true, since the old workers serve until the
    /// new ones accept.
    pub fn accepting_traffic(&self) -> bool {
        self.announced && self.stopping.is_none()
    }

    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// When the machine next wants a [`Event::Tick`], if ever.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut at: Vec<Instant> = Vec::new();
        at.extend(self.kills.iter().map(|(t, _)| *t));
        self.daemon_deadlines(&mut at);
        self.cron_deadlines(&mut at);
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
        if let Some(limit) = self.load_limit() {
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
        if self.settings.cycles() {
            at.push(self.cycle_at);
        }
        at.extend(self.lifetime_ends().into_iter().map(|(_, end)| end));
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
            Event::Tick {
                wall_us,
                busy,
                load,
            } => self.tick(wall_us, &busy, &load),
            Event::DaemonStarted { index, pid } => self.daemon_started(index, pid),
            Event::DaemonNotStarted { index, error } => self.daemon_not_started(index, error),
            Event::DaemonPidfile { index, pid } => self.daemon_pidfile(index, pid),
            Event::Minute(t) => self.minute(t),
            Event::CronStarted { index, pid } => self.cron_started(index, pid),
            Event::CronNotStarted { index, error } => self.cron_not_started(index, error),
        }
        self.progress();
        self.start_daemons_when_ready();
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
            Command::Reload { reason, .. } if self.settings.exit_on_reload => {
                // uWSGI's exit-on-reload: "GAME OVER (insert coin)", exit 0.
                self.log(Note::ExitOnReload { reason });
                self.stop(true);
            }
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
            // With cheaper, SIGTTIN runs one more of the cheaped workers
            // first (uWSGI's FIFO `+` adds to cheaper's count likewise).
            Command::AddWorker if self.cheaped().next().is_some() => {
                let first = self.cheaped().next();
                if let Some(id) = first {
                    self.cheaped.remove(&id);
                }
                self.log(Note::Scaled {
                    processes: self.target(),
                    more: true,
                });
                self.ensure_pool();
            }
            Command::AddWorker => {
                self.desired += 1;
                self.log(Note::Scaled {
                    processes: self.target(),
                    more: true,
                });
                self.ensure_pool();
            }
            Command::RemoveWorker => {
                if self.desired > 1 {
                    self.desired -= 1;
                    self.log(Note::Scaled {
                        processes: self.target(),
                        more: false,
                    });
                    self.ensure_pool();
                }
            }
            Command::LogStats => self.emit(Effect::LogStats),
            Command::RestartDaemon { index, reason } => self.restart_daemon(index, reason),
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
}

pub mod cheaper;
mod crons;
mod cycle;
mod daemons;
mod reload;
mod stop;
mod timers;
mod workers;
mod zygotes;

#[cfg(test)]
mod tests;
