//! What the master logs, as data: the state machine returns these in
//! `Effect::Log`, its tests assert on them, and [`Note::emit`] is the one
//! place that words them for the log (with `tracing` fields).

use std::time::Duration;

use super::machine::cheaper::{Remark, Why};
use super::machine::{Ended, Rejection};

/// Why a worker could not be spawned just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// Every stats slot is taken (each worker process holds one).
    NoSlot,
    /// No zygote has loaded the app (it is starting or restarting).
    NoZygote,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Blocked::NoSlot => "every stats slot is taken",
            Blocked::NoZygote => "no zygote has loaded the app",
        })
    }
}

/// Why a reload ended without new code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadFailure {
    /// The new zygote ended before it had loaded the code.
    Ended(Ended),
    /// The new zygote could not be started.
    NotStarted(String),
    /// The new zygote was still loading after `load-timeout`.
    TimedOut(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    ZygoteStarted {
        pid: i32,
        generation: u64,
    },
    /// Starting a replacement for a dead zygote failed; tried again later.
    ZygoteNotStarted {
        error: String,
    },
    /// The first zygote failed: rsgi stops.
    CannotStart(String),
    ZygoteDied {
        pid: i32,
        how: Ended,
    },
    ZygoteLoadTimedOut {
        pid: Option<i32>,
        limit: Duration,
    },
    Reloading {
        reason: String,
    },
    ReloadFolded {
        reason: String,
    },
    ConfigRejected(Rejection),
    ConfigRolledBack,
    ReloadFailed(ReloadFailure),
    ReloadDone {
        took: Duration,
    },
    Ready {
        workers: usize,
    },
    Recycling {
        id: usize,
        pid: Option<i32>,
        reason: String,
    },
    Scaled {
        processes: usize,
        more: bool,
    },
    WorkerSpawned {
        id: usize,
        pid: i32,
    },
    CannotSpawn {
        id: usize,
        why: Blocked,
    },
    /// The zygote could not fork (`error` None) or be reached.
    SpawnFailed {
        id: usize,
        error: Option<String>,
    },
    WorkerDied {
        id: usize,
        pid: i32,
        how: Ended,
    },
    /// A worker told to stop has exited.
    WorkerStopped {
        id: usize,
        pid: i32,
        how: Ended,
    },
    BackingOff {
        id: usize,
        failures: u32,
        delay: Duration,
    },
    AppCannotLoad {
        id: usize,
        pid: i32,
    },
    WorkerLoadTimedOut {
        id: usize,
        pid: i32,
        limit: Duration,
    },
    WorkerMercyExpired {
        id: usize,
        pid: i32,
    },
    Harakiri {
        id: usize,
        pid: i32,
        uri: String,
        seconds: u64,
    },
    /// The master killed a worker past evil-reload-on-rss / -as.
    EvilReload {
        id: usize,
        pid: i32,
        /// The address space (else the RSS) passed its limit.
        address_space: bool,
        bytes: u64,
    },
    /// Cheaper brings these worker ids back; `running` after it.
    CheaperSpawning {
        ids: Vec<usize>,
        why: Why,
        running: usize,
    },
    /// Cheaper stops this idle worker; `running` after it.
    Cheaping {
        id: usize,
        pid: Option<i32>,
        why: Why,
        running: usize,
    },
    CheaperRemark(Remark),
    /// exit-on-reload: the reload request stops rsgi.
    ExitOnReload {
        reason: String,
    },
    GracefulShutdown,
    ImmediateShutdown,
    MercyExpired,
    /// A process the master did not start (the app's) was reaped.
    Reaped {
        pid: i32,
        how: Ended,
    },
    /// A worker's start-up hook failed: rsgi stops.
    WorkerHookFailed {
        id: usize,
        pid: i32,
    },
    DaemonStarted {
        command: String,
        pid: i32,
    },
    DaemonNotStarted {
        command: String,
        error: String,
    },
    DaemonDied {
        command: String,
        pid: i32,
        how: Ended,
        delay: Duration,
    },
    /// It exited after being told to (shutdown or reload).
    DaemonStopped {
        command: String,
        pid: i32,
        how: Ended,
    },
    DaemonKilled {
        command: String,
        pid: i32,
    },
    /// Its `touch` file was touched.
    DaemonTouched {
        command: String,
        pid: i32,
        reason: String,
    },
    ControlDaemonDied {
        command: String,
        pid: i32,
        how: Ended,
    },
    /// A smart daemon's pidfile already named a live process.
    DaemonAdopted {
        command: String,
        pid: i32,
    },
    /// A smart daemon's pidfile stopped naming a live process.
    DaemonGone {
        command: String,
        pid: Option<i32>,
        delay: Duration,
    },
    DaemonLauncherFailed {
        command: String,
        how: Ended,
    },
    DaemonDidNotDaemonize {
        command: String,
    },
    DaemonPidfileMissing {
        command: String,
    },
    CronRunning {
        command: String,
        pid: i32,
    },
    CronNotStarted {
        command: String,
        error: String,
    },
    CronFinished {
        command: String,
        pid: i32,
        how: Ended,
    },
    /// A unique cron entry whose last run still runs.
    CronSkipped {
        command: String,
    },
    CronHarakiri {
        command: String,
        pid: i32,
        limit: Duration,
    },
    /// The last line: nothing is left running.
    Stopped {
        status: u8,
    },
}

impl Note {
    /// Write the note to the log.
    pub fn emit(&self) {
        use tracing::{debug, error, info, warn};
        match self {
            Note::ZygoteStarted { pid, generation } => {
                info!(pid, generation, "zygote started")
            }
            Note::ZygoteNotStarted { error } => {
                error!(%error, "cannot start a zygote; trying again")
            }
            Note::CannotStart(why) => error!("rsgi cannot start: {why}"),
            Note::ZygoteDied { pid, how } => {
                error!(pid, "the zygote {how}; starting a new one")
            }
            Note::ZygoteLoadTimedOut { pid, limit } => error!(
                pid,
                "the zygote is still loading the app after load-timeout ({} s); killing it",
                limit.as_secs()
            ),
            Note::Reloading { reason } => {
                info!(%reason, "reloading: starting a zygote with the new code")
            }
            Note::ReloadFolded { reason } => {
                info!(%reason, "a reload is running; another one will follow it")
            }
            Note::ConfigRejected(Rejection::Invalid(e)) => {
                error!("the new config is invalid, keeping the running one: {e}")
            }
            Note::ConfigRejected(Rejection::Unbindable(e)) => {
                error!("the new config's sockets cannot be bound, keeping the running config: {e}")
            }
            Note::ConfigRolledBack => warn!(
                "the re-read config is dropped with the failed reload: the running config and sockets stay"
            ),
            Note::ReloadFailed(failure) => {
                let why = match failure {
                    ReloadFailure::Ended(how) => {
                        format!("the new code did not load (the zygote {how})")
                    }
                    ReloadFailure::NotStarted(e) => format!("cannot start a zygote: {e}"),
                    ReloadFailure::TimedOut(limit) => format!(
                        "the new code did not load within load-timeout ({} s)",
                        limit.as_secs()
                    ),
                };
                error!("reload failed: {why}; the running workers keep serving")
            }
            Note::ReloadDone { took } => info!(ms = took.as_millis() as u64, "reload done"),
            Note::Ready { workers } => info!(workers, "rsgi is ready: every worker accepts"),
            Note::Recycling { id, pid, reason } => {
                info!(worker = id, pid, %reason, "recycling worker")
            }
            Note::Scaled { processes, more } => {
                if *more {
                    info!(processes, "adding a worker")
                } else {
                    info!(processes, "removing a worker")
                }
            }
            Note::WorkerSpawned { id, pid } => info!(worker = id, pid, "worker spawned"),
            Note::CannotSpawn { id, why } => {
                warn!(
                    worker = id,
                    "cannot spawn the worker now ({why}); trying again"
                )
            }
            Note::SpawnFailed { id, error: None } => {
                error!(
                    worker = id,
                    "the zygote could not fork the worker; trying again"
                )
            }
            Note::SpawnFailed { id, error: Some(e) } => {
                error!(worker = id, error = %e, "cannot reach the zygote; trying again")
            }
            Note::WorkerDied { id, pid, how } => {
                warn!(worker = id, pid, "worker {how}; respawning")
            }
            Note::WorkerStopped { id, pid, how } => debug!(worker = id, pid, "worker {how}"),
            Note::BackingOff {
                id,
                failures,
                delay,
            } => warn!(
                worker = id,
                failures,
                delay_ms = delay.as_millis() as u64,
                "worker keeps dying at startup; backing off before the next respawn"
            ),
            Note::AppCannotLoad { id, pid } => error!(
                worker = id,
                pid, "the app cannot be loaded (see the traceback above); stopping"
            ),
            Note::WorkerLoadTimedOut { id, pid, limit } => error!(
                worker = id,
                pid,
                "the worker is still not accepting after load-timeout ({} s); killing it",
                limit.as_secs()
            ),
            Note::WorkerMercyExpired { id, pid } => warn!(
                worker = id,
                pid, "worker still busy after worker-reload-mercy; killing it"
            ),
            Note::Harakiri {
                id,
                pid,
                uri,
                seconds,
            } => error!(
                worker = id,
                pid,
                uri = %uri,
                seconds,
                "harakiri: the request ran longer than harakiri allows; killing the worker (its Python traceback follows)"
            ),
            Note::EvilReload {
                id,
                pid,
                address_space,
                bytes,
            } => {
                let what = if *address_space {
                    "evil-reload-on-as: its address space"
                } else {
                    "evil-reload-on-rss: its RSS"
                };
                warn!(
                    worker = id,
                    pid,
                    bytes,
                    "{what} is {} MB, over the limit; killing the worker",
                    bytes >> 20
                )
            }
            Note::CheaperSpawning { ids, why, running } => info!(
                workers = ?ids,
                running,
                "cheaper: {why}; spawning {} worker(s)",
                ids.len()
            ),
            Note::Cheaping {
                id,
                pid,
                why,
                running,
            } => info!(
                worker = id,
                pid, running, "cheaper: {why}; stopping an idle worker"
            ),
            Note::CheaperRemark(Remark::Sample {
                seconds,
                percent,
                workers,
            }) => info!(
                workers,
                "cheaper: busyness of the last {seconds} s is {percent}%"
            ),
            Note::CheaperRemark(Remark::Multiplier { value, up: true }) => info!(
                "cheaper: workers were needed back soon after being stopped; multiplier raised to {value}"
            ),
            Note::CheaperRemark(Remark::Multiplier { value, up: false }) => {
                info!("cheaper: multiplier lowered to {value}")
            }
            Note::CheaperRemark(Remark::AtMaximum { workers }) => info!(
                workers,
                "cheaper: busy, but the most workers allowed already run (processes, or cheaper-rss-limit-soft)"
            ),
            Note::ExitOnReload { reason } => info!(
                %reason,
                "exit-on-reload: a reload was asked for; stopping instead"
            ),
            Note::GracefulShutdown => {
                info!("graceful shutdown: letting requests in flight finish")
            }
            Note::ImmediateShutdown => info!("immediate shutdown"),
            Note::MercyExpired => warn!("workers still running after reload-mercy; killing them"),
            Note::Reaped { pid, how } => debug!(pid, "reaped {how}"),
            Note::Stopped { status } => info!(status, "rsgi stopped (exit status {status})"),
            Note::WorkerHookFailed { id, pid } => error!(
                worker = id,
                pid, "a start-up hook failed in the worker (see above); stopping rsgi"
            ),
            Note::DaemonStarted { command, pid } => info!(pid, "daemon \"{command}\" started"),
            Note::DaemonNotStarted { command, error } => {
                error!(%error, "cannot start daemon \"{command}\"; trying again")
            }
            Note::DaemonDied {
                command,
                pid,
                how,
                delay,
            } => warn!(
                pid,
                delay_ms = delay.as_millis() as u64,
                "daemon \"{command}\" {how}; starting it again"
            ),
            Note::DaemonStopped { command, pid, how } => {
                info!(pid, "daemon \"{command}\" stopped ({how})")
            }
            Note::DaemonTouched {
                command,
                pid,
                reason,
            } => info!(pid, "{reason}: restarting daemon \"{command}\""),
            Note::DaemonKilled { command, pid } => warn!(
                pid,
                "daemon \"{command}\" still running after reload-mercy; killing it"
            ),
            Note::ControlDaemonDied { command, pid, how } => {
                error!(pid, "control daemon \"{command}\" {how}; stopping rsgi")
            }
            Note::DaemonAdopted { command, pid } => info!(
                pid,
                "daemon \"{command}\" already runs (its pidfile names a live process)"
            ),
            Note::DaemonGone {
                command,
                pid,
                delay,
            } => warn!(
                pid,
                delay_ms = delay.as_millis() as u64,
                "daemon \"{command}\" is gone (its pidfile names no live process); starting it again"
            ),
            Note::DaemonLauncherFailed { command, how } => {
                warn!("daemon \"{command}\" {how} before writing its pidfile")
            }
            Note::DaemonDidNotDaemonize { command } => warn!(
                "daemon \"{command}\" has not daemonized nor written its pidfile; still waiting"
            ),
            Note::DaemonPidfileMissing { command } => {
                warn!(
                    "daemon \"{command}\" wrote no pidfile naming a live process; starting it again"
                )
            }
            Note::CronRunning { command, pid } => info!(pid, "cron: running \"{command}\""),
            Note::CronNotStarted { command, error } => {
                error!(%error, "cron: cannot run \"{command}\"")
            }
            Note::CronFinished { command, pid, how } => {
                info!(pid, "cron: \"{command}\" {how}")
            }
            Note::CronSkipped { command } => {
                info!(
                    "cron: \"{command}\" still runs from its last time; skipping this run (unique)"
                )
            }
            Note::CronHarakiri {
                command,
                pid,
                limit,
            } => warn!(
                pid,
                "cron: \"{command}\" still running after its harakiri ({} s); killing it",
                limit.as_secs()
            ),
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::AllBusy { cycles } => {
                write!(f, "every worker was busy for {cycles} second(s)")
            }
            Why::Idle => f.write_str("more than one worker is idle"),
            Why::Backlog { queued } => write!(f, "{queued} connection(s) in the listen queue"),
            Why::Busyness { percent, seconds } => {
                write!(
                    f,
                    "the workers were busy {percent}% of the last {seconds} s"
                )
            }
            Why::Emergency { queued } => write!(
                f,
                "{queued} connection(s) in the listen queue, over cheaper-busyness-backlog-alert"
            ),
            Why::BacklogNonzero { seconds } => {
                write!(f, "connections waited in the listen queue for {seconds} s")
            }
            Why::RssHard { rss } => write!(
                f,
                "the workers' RSS ({} MB) reached cheaper-rss-limit-hard",
                rss >> 20
            ),
        }
    }
}
