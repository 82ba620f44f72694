//! The Emperor: one `rsgi` instance (a vassal) per config file in a
//! directory or matching a glob. A new file starts a vassal, a changed one
//! (mtime) reloads it gracefully (SIGHUP: it re-reads its config), a removed
//! one stops it gracefully (SIGTERM); a vassal that dies is restarted with
//! the master's backoff (`master::backoff`), as a worker is. The emperor is
//! a small tokio process; it never embeds Python, and vassals inherit
//! nothing of it but stdout/stderr.

mod scan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use rsgi_core::config::Config;
use rsgi_core::ipc::EXIT_APP;

use crate::master::backoff::Backoff;
use crate::master::python::{NATIVE_ENV, Natives};
use crate::stats::server as stats_server;

const SCAN_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Told to stop because its file went away.
    Stopping,
    /// Dead; restarts at this instant.
    Waiting(Instant),
}

struct Vassal {
    config: PathBuf,
    mtime: Option<SystemTime>,
    child: Option<Child>,
    state: State,
    started: Instant,
    respawns: u64,
    backoff: Backoff,
}

impl Vassal {
    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
}

/// Run as an emperor until SIGTERM (graceful) or SIGINT/SIGQUIT.
pub fn run(config: &Config) -> ExitCode {
    if let Some(name) = config.process_names().emperor() {
        rsgi_core::proctitle::set(&name);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the emperor: {e}");
            return ExitCode::from(1);
        }
    };
    let natives = match std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| {
            Natives::open(&exe, std::env::var_os(NATIVE_ENV)).map_err(|e| e.to_string())
        }) {
        Ok(natives) => natives,
        Err(e) => {
            tracing::error!("cannot start the emperor: {e}");
            return ExitCode::from(EXIT_APP);
        }
    };
    match runtime.block_on(Emperor::new(config, natives).run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the emperor failed: {e}");
            ExitCode::from(1)
        }
    }
}

struct Emperor {
    patterns: Vec<String>,
    vassals: BTreeMap<PathBuf, Vassal>,
    stats: Option<rsgi_core::config::Address>,
    mercy: Duration,
    /// rsgi's extension builds, held open and inherited by every vassal, so
    /// a vassal started after a package upgrade still matches this build.
    natives: Natives,
}

impl Emperor {
    fn new(config: &Config, natives: Natives) -> Emperor {
        Emperor {
            natives,
            patterns: config.emperor.clone(),
            vassals: BTreeMap::new(),
            stats: config.emperor_stats.clone(),
            mercy: config.reload_mercy,
        }
    }

    async fn run(mut self) -> std::io::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let stats = self
            .stats
            .as_ref()
            .map(|a| stats_server::listen(a, 100, None))
            .transpose()
            .map_err(std::io::Error::other)?;
        tracing::info!(patterns = ?self.patterns, "emperor started");
        let mut tick = tokio::time::interval(SCAN_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => self.step(),
                _ = term.recv() => return self.stop(true).await,
                _ = int.recv() => return self.stop(false).await,
                _ = quit.recv() => return self.stop(false).await,
                Ok(client) = stats_server::accept(&stats) => {
                    let doc = self.stats_json();
                    tokio::spawn(client.send(doc));
                }
            }
        }
    }

    /// One pass: compare the files with the vassals, reap, restart.
    fn step(&mut self) {
        let files = scan::config_files(&self.patterns);
        for (path, mtime) in &files {
            match self.vassals.get_mut(path) {
                None => {
                    let mut v = Vassal {
                        config: path.clone(),
                        mtime: *mtime,
                        child: None,
                        state: State::Running,
                        started: Instant::now(),
                        respawns: 0,
                        backoff: Backoff::default(),
                    };
                    start(&mut v, &self.natives);
                    self.vassals.insert(path.clone(), v);
                }
                Some(v) if v.mtime != *mtime && v.state == State::Running => {
                    v.mtime = *mtime;
                    if let Some(pid) = v.pid() {
                        tracing::info!(vassal = %v.config.display(), pid, "config changed: reloading the vassal");
                        let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
                    }
                }
                Some(_) => {}
            }
        }
        for v in self.vassals.values_mut() {
            if !files.contains_key(&v.config) && v.state != State::Stopping {
                tracing::info!(vassal = %v.config.display(), "config removed: stopping the vassal");
                v.state = State::Stopping;
                if let Some(pid) = v.pid() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
            }
        }
        let now = Instant::now();
        let natives = &self.natives;
        self.vassals.retain(|_, v| {
            let exited = v.child.as_mut().map(|c| c.try_wait()).transpose().ok().flatten().flatten();
            if let Some(status) = exited {
                v.child = None;
                if v.state == State::Stopping {
                    tracing::info!(vassal = %v.config.display(), %status, "vassal stopped");
                    return false;
                }
                let delay = v.backoff.record_death(v.started.elapsed());
                tracing::warn!(vassal = %v.config.display(), %status, delay_ms = delay.as_millis() as u64, "vassal died; restarting it");
                v.state = State::Waiting(now + delay);
            }
            if let State::Waiting(at) = v.state
                && at <= now
            {
                v.respawns += 1;
                v.state = State::Running;
                start(v, natives);
            }
            v.child.is_some() || matches!(v.state, State::Waiting(_))
        });
    }

    async fn stop(mut self, graceful: bool) -> std::io::Result<()> {
        let sig = if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGKILL
        };
        tracing::info!(graceful, vassals = self.vassals.len(), "emperor stopping");
        for v in self.vassals.values() {
            if let Some(pid) = v.pid() {
                let _ = kill(Pid::from_raw(pid), sig);
            }
        }
        let deadline = Instant::now() + self.mercy;
        loop {
            let running = self
                .vassals
                .values_mut()
                .filter_map(|v| v.child.as_mut())
                .map(|c| matches!(c.try_wait(), Ok(None)))
                .filter(|running| *running)
                .count();
            if running == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                for child in self.vassals.values_mut().filter_map(|v| v.child.as_mut()) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stats_json(&self) -> Vec<u8> {
        let vassals: Vec<serde_json::Value> = self
            .vassals
            .values()
            .map(|v| {
                serde_json::json!({
                    "id": v.config.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    "config": v.config.display().to_string(),
                    "pid": v.pid().unwrap_or(0),
                    "status": match v.state { State::Running => "running", State::Stopping => "stopping", State::Waiting(_) => "restarting" },
                    "respawns": v.respawns,
                    "last_mod": v.mtime.and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "version": concat!("rsgi ", env!("CARGO_PKG_VERSION")),
            "pid": std::process::id(),
            "emperor": self.patterns,
            "emperor_tyrant": 0,
            "vassals": vassals,
        });
        serde_json::to_vec(&doc).unwrap_or_default()
    }
}

/// Start `v`'s vassal: `rsgi --config FILE` (the format from its extension).
fn start(v: &mut Vassal, natives: &Natives) {
    // This very binary, even after a package upgrade replaced the file at
    // its path (current_exe() then names "… (deleted)"); `ps` still shows
    // the name the emperor was started with.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(std::env::args_os().next().unwrap_or_else(|| "rsgi".into()));
    cmd.arg("--config").arg(&v.config);
    let (native_fds, native_paths) = natives.inherited_var();
    cmd.env(NATIVE_ENV, native_paths);
    cmd.env(rsgi_core::ipc::VASSAL_ENV, "1");
    // Vassals get their own sockets and systemd state, never ours.
    for var in [
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ] {
        cmd.env_remove(var);
    }
    // SAFETY: prctl and fcntl between fork and exec, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // A vassal stops (gracefully) if its emperor dies.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            for &fd in &native_fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(child) => {
            tracing::info!(vassal = %v.config.display(), pid = child.id(), "vassal started");
            v.child = Some(child);
            v.started = Instant::now();
        }
        Err(e) => {
            let delay = v.backoff.record_death(Duration::ZERO);
            tracing::error!(vassal = %v.config.display(), error = %e, delay_ms = delay.as_millis() as u64, "cannot start the vassal");
            v.state = State::Waiting(Instant::now() + delay);
        }
    }
}
