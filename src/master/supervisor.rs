//! The master's event loop and its one reload state machine.
//!
//! Replacing a worker is the only way a worker is ever renewed: spawn the
//! new one (from the current zygote), wait until it accepts, then SIGTERM
//! the old one, which finishes its requests in flight. Recycling replaces
//! one worker; a reload starts a new zygote with the (new) code and, once
//! it has loaded, replaces every worker one at a time. Triggers that arrive
//! during a reload are coalesced into one more reload afterwards.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::pool::{Pool, State, Worker};
use super::zygotes::{ZygoteHandle, ZygoteLine};
use super::{Command, EXIT_APP};
use crate::config::{Address, Config};
use crate::stats::region::{Region, now_us};
use crate::stats::server::{self as stats_server, Listener as StatsListener};
use crate::systemd::Notifier;
use crate::worker::listener::StdListener;
use crate::zygote::handoff::{Handoff, SocketProto};

/// A bound socket, as the master keeps it for every zygote to inherit.
pub struct BoundSocket {
    pub address: Address,
    pub proto: SocketProto,
    pub listener: StdListener,
}

struct Reload {
    /// Worker ids still to replace.
    queue: VecDeque<usize>,
    /// The slot of the replacement we wait for.
    waiting_for: Option<usize>,
    started: Instant,
}

pub struct Supervisor {
    config: Config,
    /// The command line, re-read with the files on SIGHUP.
    args: Vec<String>,
    sockets: Vec<BoundSocket>,
    region: Arc<Region>,
    events_child: StdDatagram,
    lifeline_read: OwnedFd,
    /// Held, never written: its closing (our death) is the workers' signal.
    _lifeline_write: OwnedFd,
    zygote: Option<ZygoteHandle>,
    next_zygote: Option<ZygoteHandle>,
    generation: u64,
    pool: Pool,
    desired: usize,
    reload: Option<Reload>,
    reload_pending: Option<Command>,
    stopping: Option<Instant>,
    ever_ready: bool,
    announced: bool,
    lines_tx: mpsc::UnboundedSender<ZygoteLine>,
    /// (when, worker id, slot it replaces)
    respawns: Vec<(Instant, usize, Option<usize>)>,
    /// Harakiri: SIGKILL these pids at these instants (after the traceback dump).
    kills: Vec<(Instant, i32)>,
    exit_code: Option<u8>,
    notifier: Notifier,
    last_watchdog: Instant,
    /// Requests per slot at the previous stats read (delta_requests).
    stats_seen: std::collections::HashMap<usize, u64>,
    /// Rolling reloads completed (metrics).
    reloads: u64,
}

/// Signal that makes a worker print every thread's Python traceback
/// (registered with faulthandler in the worker).
pub fn traceback_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

impl Supervisor {
    pub fn new(
        config: Config,
        args: Vec<String>,
        sockets: Vec<BoundSocket>,
        lines_tx: mpsc::UnboundedSender<ZygoteLine>,
        events_child: StdDatagram,
        notifier: Notifier,
    ) -> std::io::Result<Supervisor> {
        let region = Arc::new(Region::create(config.threads)?);
        let (lifeline_read, lifeline_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let desired = config.processes.max(1);
        Ok(Supervisor {
            config,
            args,
            sockets,
            region,
            events_child,
            lifeline_read,
            _lifeline_write: lifeline_write,
            zygote: None,
            next_zygote: None,
            generation: 0,
            pool: Pool::default(),
            desired,
            reload: None,
            reload_pending: None,
            stopping: None,
            ever_ready: false,
            announced: false,
            lines_tx,
            respawns: Vec::new(),
            kills: Vec::new(),
            exit_code: None,
            notifier,
            last_watchdog: Instant::now(),
            stats_seen: std::collections::HashMap::new(),
            reloads: 0,
        })
    }

    pub fn region(&self) -> Arc<Region> {
        self.region.clone()
    }

    fn start_zygote(&mut self, generation: u64) -> std::io::Result<ZygoteHandle> {
        let handoff = Handoff {
            config: self.config.clone(),
            sockets: self
                .sockets
                .iter()
                .map(|s| (s.listener.as_raw_fd(), s.proto))
                .collect(),
            stats_fd: self.region.fd(),
            events_fd: self.events_child.as_raw_fd(),
            control_fd: -1,
            lifeline_fd: self.lifeline_read.as_raw_fd(),
            generation,
        };
        let z = ZygoteHandle::start(handoff, self.lines_tx.clone())?;
        tracing::info!(pid = z.pid, generation, "zygote started");
        Ok(z)
    }

    /// Run until shutdown; returns the exit status.
    pub async fn run(
        mut self,
        mut lines: mpsc::UnboundedReceiver<ZygoteLine>,
        events: UnixDatagram,
        mut commands: mpsc::UnboundedReceiver<Command>,
        stats: Option<StatsListener>,
        metrics: Option<StatsListener>,
    ) -> std::io::Result<u8> {
        let mut chld = signal(SignalKind::child())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut usr2 = signal(SignalKind::user_defined2())?;
        let mut ttin = signal(SignalKind::from_raw(libc::SIGTTIN))?;
        let mut ttou = signal(SignalKind::from_raw(libc::SIGTTOU))?;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        self.generation = 1;
        let z = self.start_zygote(1)?;
        self.zygote = Some(z);
        let mut buf = [0u8; 512];
        while self.exit_code.is_none() {
            let cmd = tokio::select! {
                _ = chld.recv() => { self.reap().await; None }
                _ = term.recv() => Some(Command::Stop { graceful: true }),
                _ = int.recv() => Some(Command::Stop { graceful: false }),
                _ = quit.recv() => Some(Command::Stop { graceful: false }),
                _ = hup.recv() => Some(Command::Reload { reread: true, reason: "SIGHUP".into() }),
                _ = usr1.recv() => Some(Command::LogStats),
                _ = usr2.recv() => { self.reopen_logs(); None }
                _ = ttin.recv() => Some(Command::AddWorker),
                _ = ttou.recv() => Some(Command::RemoveWorker),
                Some(line) = lines.recv() => { self.on_zygote_line(line).await; None }
                Ok(n) = events.recv(&mut buf) => self.on_event(&buf[..n]).await,
                Some(cmd) = commands.recv() => Some(cmd),
                Ok(client) = stats_server::accept(&stats) => {
                    let doc = self.stats_document();
                    if self.config.stats_http {
                        let metrics = self.metrics_text();
                        tokio::spawn(client.answer_http(Some(doc), metrics));
                    } else {
                        tokio::spawn(client.send(doc));
                    }
                    None
                }
                Ok(client) = stats_server::accept(&metrics) => {
                    let text = self.metrics_text();
                    tokio::spawn(client.answer_http(None, text));
                    None
                }
                _ = tick.tick() => { self.tick().await; None }
            };
            if let Some(cmd) = cmd {
                self.command(cmd).await;
            }
        }
        Ok(self.exit_code.unwrap_or(0))
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Stop { graceful } => self.stop(graceful),
            _ if self.stopping.is_some() => {}
            Command::Reload { reread, reason } => {
                if self.reload.is_some() || self.next_zygote.is_some() {
                    // Coalesce: one more reload after this one, re-reading the
                    // config if any of the coalesced triggers asked for it.
                    let reread = reread
                        || matches!(
                            self.reload_pending,
                            Some(Command::Reload { reread: true, .. })
                        );
                    tracing::info!(%reason, "a reload is running; another one will follow it");
                    self.reload_pending = Some(Command::Reload { reread, reason });
                    return;
                }
                self.start_reload(reread, &reason);
            }
            Command::Recycle { slot, reason } => {
                if self.reload.is_some() {
                    return;
                }
                let Some(w) = self.pool.by_slot(slot) else {
                    return;
                };
                if w.state != State::Ready
                    || self.pool.workers.iter().any(|o| o.replaces == Some(slot))
                {
                    return;
                }
                let Some(w) = self.pool.by_slot(slot) else {
                    return;
                };
                let id = w.id;
                tracing::info!(worker = id, pid = w.pid, %reason, "recycling worker");
                self.spawn_worker(id, Some(slot)).await;
            }
            Command::AddWorker => {
                self.desired += 1;
                tracing::info!(processes = self.desired, "adding a worker (SIGTTIN)");
                self.ensure_pool().await;
            }
            Command::RemoveWorker => {
                if self.desired > 1 {
                    self.desired -= 1;
                    tracing::info!(processes = self.desired, "removing a worker (SIGTTOU)");
                    self.ensure_pool().await;
                }
            }
            Command::LogStats => self.log_stats(),
        }
    }

    fn start_reload(&mut self, reread: bool, reason: &str) {
        if reread {
            match crate::config::load(&self.args, &|k| std::env::var(k).ok()) {
                Ok(loaded) => {
                    let sockets = match self.rebind(&loaded.config) {
                        Ok(sockets) => sockets,
                        Err(e) => {
                            tracing::error!(
                                "the new config's sockets cannot be bound, keeping the running config: {e}"
                            );
                            return;
                        }
                    };
                    self.note_unchangeable(&loaded.config);
                    // Sockets the new config drops close here; old workers
                    // keep their copies until they are replaced.
                    self.sockets = sockets;
                    self.config = loaded.config;
                    self.desired = self.config.processes.max(1);
                }
                Err(e) => {
                    tracing::error!("the new config is invalid, keeping the running one: {e}");
                    return;
                }
            }
        }
        tracing::info!(%reason, "reloading: starting a zygote with the new code");
        self.notifier.reloading();
        self.generation += 1;
        match self.start_zygote(self.generation) {
            Ok(z) => {
                self.next_zygote = Some(z);
                self.reload = Some(Reload {
                    queue: VecDeque::new(),
                    waiting_for: None,
                    started: Instant::now(),
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a zygote; the running workers keep serving");
                self.notifier.ready(&self.status_line());
            }
        }
    }

    /// The sockets `new` asks for: the ones already bound are kept (so no
    /// connection waiting in their queues is lost), the others are bound
    /// now, before any worker is replaced.
    fn rebind(&mut self, new: &Config) -> Result<Vec<BoundSocket>, crate::master::bind::BindError> {
        let wanted: Vec<(Address, SocketProto)> = new
            .http_socket
            .iter()
            .chain(&new.http)
            .map(|a| (a.clone(), SocketProto::Http))
            .chain(new.socket.iter().map(|a| (a.clone(), SocketProto::Uwsgi)))
            .collect();
        let mut old: Vec<BoundSocket> = std::mem::take(&mut self.sockets);
        let mut result = Vec::with_capacity(wanted.len());
        for (address, proto) in wanted {
            if let Some(i) = old
                .iter()
                .position(|s| s.address == address && s.proto == proto)
            {
                result.push(old.remove(i));
                continue;
            }
            let mode = new.chmod_socket.map(|m| m.0);
            match crate::master::bind::bind_address(&address, new.listen, mode) {
                Ok(listener) => {
                    tracing::info!(%address, ?proto, "listening (new in the reloaded config)");
                    result.push(BoundSocket {
                        address,
                        proto,
                        listener,
                    });
                }
                Err(e) => {
                    // Put everything back as it was.
                    old.extend(result);
                    self.sockets = old;
                    return Err(e);
                }
            }
        }
        for gone in &old {
            tracing::info!(address = %gone.address, "no longer listening (not in the reloaded config)");
        }
        Ok(result)
    }

    /// Options that a reload cannot change in a running master.
    fn note_unchangeable(&self, new: &Config) {
        let old = &self.config;
        let mut fixed = Vec::new();
        if old.uid != new.uid || old.gid != new.gid {
            fixed.push("uid/gid");
        }
        if old.stats != new.stats {
            fixed.push("stats");
        }
        if !fixed.is_empty() {
            tracing::warn!(
                "changes to {} take effect at the next restart, not on reload",
                fixed.join(", ")
            );
        }
    }

    async fn on_zygote_line(&mut self, msg: ZygoteLine) {
        let mut words = msg.line.split_whitespace();
        match words.next() {
            Some("ready") => {
                if self
                    .zygote
                    .as_ref()
                    .is_some_and(|z| z.generation == msg.generation)
                {
                    if let Some(z) = &mut self.zygote {
                        z.ready = true;
                    }
                    self.ensure_pool().await;
                } else if self
                    .next_zygote
                    .as_ref()
                    .is_some_and(|z| z.generation == msg.generation)
                {
                    self.promote_next_zygote().await;
                }
            }
            Some("spawned") => {
                let slot = words.next().and_then(|s| s.parse::<usize>().ok());
                let pid = words.next().and_then(|s| s.parse::<i32>().ok());
                if let (Some(slot), Some(pid)) = (slot, pid)
                    && let Some(w) = self.pool.by_slot(slot)
                {
                    w.pid = Some(pid);
                    if w.state == State::Spawning {
                        w.state = State::Starting;
                    }
                    tracing::info!(worker = w.id, pid, "worker spawned");
                }
            }
            Some("failed") => {
                if let Some(slot) = words.next().and_then(|s| s.parse::<usize>().ok())
                    && let Some(i) = self.pool.workers.iter().position(|w| w.slot == slot)
                {
                    let w = self.pool.workers.remove(i);
                    self.respawns
                        .push((Instant::now() + Duration::from_secs(1), w.id, w.replaces));
                }
            }
            _ => tracing::warn!(line = %msg.line, "unexpected line from the zygote"),
        }
    }

    /// The new code loaded: make its zygote current and replace the workers.
    async fn promote_next_zygote(&mut self) {
        let Some(mut next) = self.next_zygote.take() else {
            return;
        };
        next.ready = true;
        if let Some(old) = self.zygote.replace(next) {
            let _ = kill(Pid::from_raw(old.pid), Signal::SIGTERM);
        }
        let mut ids: Vec<usize> = self
            .pool
            .workers
            .iter()
            .filter(|w| !matches!(w.state, State::Stopping(_)) && w.id <= self.desired)
            .map(|w| w.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if let Some(r) = &mut self.reload {
            r.queue = ids.into();
        }
        self.replace_next().await;
    }

    async fn replace_next(&mut self) {
        loop {
            let Some(reload) = &mut self.reload else {
                return;
            };
            let Some(id) = reload.queue.pop_front() else {
                let took = reload.started.elapsed();
                self.reload = None;
                self.reloads += 1;
                tracing::info!(ms = took.as_millis() as u64, "reload done");
                self.notifier.ready(&self.status_line());
                self.ensure_pool().await;
                if let Some(cmd) = self.reload_pending.take() {
                    Box::pin(self.command(cmd)).await;
                }
                return;
            };
            let old = self
                .pool
                .workers
                .iter()
                .find(|w| w.id == id && !matches!(w.state, State::Stopping(_)))
                .map(|w| w.slot);
            let slot = self.spawn_worker(id, old).await;
            if let Some(r) = &mut self.reload {
                r.waiting_for = slot;
            }
            if slot.is_some() {
                return;
            }
        }
    }

    /// Bring the pool to `desired` serving workers; stop any above it.
    async fn ensure_pool(&mut self) {
        if self.stopping.is_some() || !self.zygote.as_ref().is_some_and(|z| z.ready) {
            return;
        }
        for id in 1..=self.desired {
            let scheduled = self.respawns.iter().any(|(_, rid, _)| *rid == id);
            if !self.pool.serving(id) && !scheduled {
                self.spawn_worker(id, None).await;
            }
        }
        let surplus: Vec<usize> = self
            .pool
            .workers
            .iter()
            .filter(|w| w.id > self.desired && !matches!(w.state, State::Stopping(_)))
            .map(|w| w.slot)
            .collect();
        for slot in surplus {
            self.stop_worker(slot);
        }
    }

    /// Ask the current zygote for worker `id`; returns its slot.
    async fn spawn_worker(&mut self, id: usize, replaces: Option<usize>) -> Option<usize> {
        let generation = self.generation;
        let slot = self.pool.free_slot()?;
        self.region.slot(slot).reset(0);
        let zygote = self.zygote.as_mut().filter(|z| z.ready)?;
        if let Err(e) = zygote.spawn(slot, id).await {
            tracing::error!(worker = id, error = %e, "cannot reach the zygote");
            return None;
        }
        self.pool.workers.push(Worker {
            id,
            slot,
            pid: None,
            generation,
            state: State::Spawning,
            spawned_at: Instant::now(),
            spawned_unix: now_us() / 1_000_000,
            replaces,
        });
        Some(slot)
    }

    fn stop_worker(&mut self, slot: usize) {
        if let Some(w) = self.pool.by_slot(slot) {
            if let Some(pid) = w.pid {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            w.state = State::Stopping(Instant::now());
        }
    }

    async fn on_event(&mut self, msg: &[u8]) -> Option<Command> {
        let msg = String::from_utf8_lossy(msg);
        let mut words = msg.split_whitespace();
        match words.next() {
            Some("ready") => {
                let slot = words.next()?.parse::<usize>().ok()?;
                let pid = words.next().and_then(|p| p.parse::<i32>().ok());
                let w = self.pool.by_slot(slot)?;
                w.state = State::Ready;
                if w.pid.is_none() {
                    w.pid = pid;
                }
                let (id, replaces) = (w.id, w.replaces.take());
                self.pool.clear_failures(id);
                self.ever_ready = true;
                if let Some(old) = replaces {
                    self.stop_worker(old);
                }
                if self
                    .reload
                    .as_ref()
                    .is_some_and(|r| r.waiting_for == Some(slot))
                {
                    self.replace_next().await;
                }
                if !self.announced && self.pool.ready_count() >= self.desired {
                    self.announced = true;
                    tracing::info!(
                        workers = self.desired,
                        "rsgi is ready: every worker accepts"
                    );
                    self.notifier.ready(&self.status_line());
                }
                None
            }
            Some("reload") => {
                let reason = words.collect::<Vec<_>>().join(" ");
                Some(Command::Reload {
                    reread: false,
                    reason,
                })
            }
            Some("recycle") => {
                let slot = words.next()?.parse::<usize>().ok()?;
                let reason = words.collect::<Vec<_>>().join(" ");
                Some(Command::Recycle { slot, reason })
            }
            _ => None,
        }
    }

    async fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(s) => s,
            };
            let (pid, code, signal) = match status {
                WaitStatus::Exited(pid, code) => (pid.as_raw(), Some(code), None),
                WaitStatus::Signaled(pid, sig, _) => (pid.as_raw(), None, Some(sig)),
                _ => continue,
            };
            self.on_exit(pid, code, signal).await;
        }
        if self.stopping.is_some()
            && self.pool.workers.is_empty()
            && self.zygote.is_none()
            && self.next_zygote.is_none()
        {
            self.exit_code.get_or_insert(0);
        }
    }

    async fn on_exit(&mut self, pid: i32, code: Option<i32>, signal: Option<Signal>) {
        let how = match (code, signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(s)) => format!("was killed by {s}"),
            _ => "ended".to_string(),
        };
        if let Some(i) = self.pool.by_pid(pid) {
            let w = self.pool.workers.remove(i);
            if self.stopping.is_some() || matches!(w.state, State::Stopping(_)) {
                tracing::debug!(worker = w.id, pid, "worker {how}");
                return;
            }
            tracing::warn!(worker = w.id, pid, "worker {how}; respawning");
            if code == Some(i32::from(EXIT_APP)) && !self.ever_ready && self.config.lazy_apps {
                tracing::error!("the app cannot be loaded (see the traceback above); stopping");
                self.exit_code = Some(EXIT_APP);
                self.stop(false);
                return;
            }
            let delay = self.pool.record_death(w.id, w.spawned_at.elapsed());
            let failures = self.pool.startup_failures(w.id);
            if failures >= 3 {
                tracing::warn!(
                    worker = w.id,
                    failures,
                    delay_ms = delay.as_millis() as u64,
                    "worker keeps dying at startup; backing off before the next respawn"
                );
            }
            // A replacement that died leaves the old worker serving; the
            // retry replaces it again. A reload waiting on it goes on when
            // the retry is ready.
            self.respawns
                .push((Instant::now() + delay, w.id, w.replaces));
            if let Some(r) = &mut self.reload
                && r.waiting_for == Some(w.slot)
            {
                r.waiting_for = None;
                r.queue.push_front(w.id);
            }
            return;
        }
        if self.zygote.as_ref().is_some_and(|z| z.pid == pid) {
            let z = self.zygote.take();
            if self.stopping.is_some() {
                return;
            }
            if !self.ever_ready && !z.is_some_and(|z| z.ready) {
                let status = code
                    .and_then(|c| u8::try_from(c).ok())
                    .filter(|c| *c != 0)
                    .unwrap_or(EXIT_APP);
                tracing::error!("rsgi cannot start: the zygote {how}");
                self.exit_code = Some(status);
                self.stop(false);
                return;
            }
            tracing::error!(pid, "the zygote {how}; starting a new one");
            match self.start_zygote(self.generation) {
                Ok(z) => self.zygote = Some(z),
                Err(e) => tracing::error!(error = %e, "cannot start a zygote"),
            }
            return;
        }
        if self.next_zygote.as_ref().is_some_and(|z| z.pid == pid) {
            self.next_zygote = None;
            self.reload = None;
            tracing::error!(
                "reload failed: the new code did not load (the zygote {how}); the running workers keep serving"
            );
            self.notifier.ready(&self.status_line());
            if let Some(cmd) = self.reload_pending.take() {
                Box::pin(self.command(cmd)).await;
            }
            return;
        }
        // Processes the app started and left behind are reparented to us
        // (we are a child subreaper); reaping them is all they need.
        tracing::debug!(pid, "reaped {how}");
    }

    fn stop(&mut self, graceful: bool) {
        let pids: Vec<i32> = self
            .pool
            .workers
            .iter()
            .filter_map(|w| w.pid)
            .chain(self.zygote.iter().map(|z| z.pid))
            .chain(self.next_zygote.iter().map(|z| z.pid))
            .collect();
        if graceful && self.stopping.is_none() {
            tracing::info!("graceful shutdown: letting requests in flight finish");
            self.notifier.stopping();
            self.stopping = Some(Instant::now());
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        } else {
            tracing::info!("immediate shutdown");
            self.notifier.stopping();
            self.stopping.get_or_insert_with(Instant::now);
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if pids_empty(&self.pool, &self.zygote, &self.next_zygote) {
            self.exit_code.get_or_insert(0);
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        if let Some(every) = self.notifier.watchdog_every
            && now.duration_since(self.last_watchdog) >= every
        {
            self.last_watchdog = now;
            self.notifier.watchdog();
            self.notifier.status(&self.status_line());
        }
        if let Some(since) = self.stopping {
            if now.duration_since(since) > self.config.reload_mercy {
                tracing::warn!("workers still running after reload-mercy; killing them");
                self.stop(false);
            }
            return;
        }
        let due: Vec<_> = self
            .respawns
            .iter()
            .filter(|(t, _, _)| *t <= now)
            .cloned()
            .collect();
        self.respawns.retain(|(t, _, _)| *t > now);
        for (_, id, replaces) in due {
            let still_needed = replaces
                .is_some_and(|s| self.pool.workers.iter().any(|w| w.slot == s))
                || (id <= self.desired && !self.pool.serving(id));
            if still_needed {
                let slot = self.spawn_worker(id, replaces).await;
                if let Some(r) = &mut self.reload
                    && r.waiting_for.is_none()
                    && r.queue.front() == Some(&id)
                {
                    r.queue.pop_front();
                    r.waiting_for = slot;
                }
            }
        }
        let mercy = self.config.worker_reload_mercy;
        for w in &self.pool.workers {
            if let (State::Stopping(since), Some(pid)) = (w.state, w.pid)
                && now.duration_since(since) > mercy
            {
                tracing::warn!(
                    worker = w.id,
                    pid,
                    "worker still busy after worker-reload-mercy; killing it"
                );
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        self.kills.retain(|(t, pid)| {
            if *t <= now {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                false
            } else {
                true
            }
        });
        self.check_harakiri(now);
    }

    fn check_harakiri(&mut self, now: Instant) {
        if self.config.harakiri == 0 {
            return;
        }
        let limit_us = self.config.harakiri * 1_000_000;
        let now_us = now_us();
        for w in &mut self.pool.workers {
            let Some(pid) = w.pid else { continue };
            if self.kills.iter().any(|(_, p)| *p == pid) {
                continue;
            }
            let slot = self.region.slot(w.slot);
            let Some((core, started)) = slot.oldest_request() else {
                continue;
            };
            let ran = now_us.saturating_sub(started);
            if ran <= limit_us {
                continue;
            }
            let uri = slot.cores[core].uri();
            tracing::error!(
                worker = w.id,
                pid,
                uri = %uri,
                seconds = ran / 1_000_000,
                "harakiri: the request ran longer than harakiri allows; killing the worker (its Python traceback follows)"
            );
            *self.pool.harakiri.entry(w.id).or_default() += 1;
            // faulthandler in the worker prints every thread's stack on this
            // signal; the kill follows a moment later.
            // SAFETY: kill(2) with a raw signal number has no memory effects.
            unsafe { libc::kill(pid, traceback_signal()) };
            self.kills.push((now + Duration::from_millis(300), pid));
            w.state = State::Stopping(now);
            let id = w.id;
            self.respawns.push((now, id, None));
        }
    }

    /// The stats document, encoded for a client.
    /// SIGUSR2 with `log-reopen`: reopen the log file here and in every
    /// worker (logrotate moved it). Without it, SIGUSR2 is ignored.
    fn reopen_logs(&self) {
        let Some(path) = self
            .config
            .logto
            .as_ref()
            .filter(|_| self.config.log_reopen)
        else {
            return;
        };
        if let Err(e) = crate::logfile::redirect(path) {
            tracing::error!(error = %e, file = %path.display(), "cannot reopen the log file");
            return;
        }
        tracing::info!(file = %path.display(), "log file reopened");
        for pid in self.pool.workers.iter().filter_map(|w| w.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGUSR2);
        }
    }

    /// The workers as the stats document and the metrics show them.
    fn worker_views(&mut self) -> Vec<crate::stats::document::WorkerView> {
        use crate::stats::document::WorkerView;
        let workers: Vec<WorkerView> = self
            .pool
            .workers
            .iter()
            .filter_map(|w| {
                let pid = w.pid?;
                Some(WorkerView {
                    id: w.id,
                    slot: w.slot,
                    pid,
                    accepting: w.state == State::Ready,
                    respawn_count: self.pool.respawns.get(&w.id).copied().unwrap_or(0),
                    harakiri_count: self.pool.harakiri.get(&w.id).copied().unwrap_or(0),
                    previous_requests: self.stats_seen.get(&w.slot).copied().unwrap_or(0),
                    last_spawn: w.spawned_unix,
                })
            })
            .collect();
        for w in &workers {
            let requests = self
                .region
                .slot(w.slot)
                .requests
                .load(std::sync::atomic::Ordering::Relaxed);
            self.stats_seen.insert(w.slot, requests);
        }
        workers
    }

    /// The Prometheus text.
    fn metrics_text(&mut self) -> String {
        use crate::stats::metrics::{self, MasterFigures};
        let workers = self.worker_views();
        let listen_queue = self
            .sockets
            .iter()
            .map(|s| crate::stats::document::listen_queue(s.listener.as_raw_fd()).0)
            .sum();
        metrics::render(
            &self.region,
            &workers,
            &MasterFigures {
                reloads: self.reloads,
                listen_queue,
            },
        )
    }

    /// The stats document, encoded for a client.
    fn stats_document(&mut self) -> Vec<u8> {
        use crate::stats::document::{self, AppView, SocketView};
        let workers = self.worker_views();
        let sockets: Vec<SocketView> = self
            .sockets
            .iter()
            .map(|s| SocketView {
                name: s.address.to_string(),
                proto: match s.proto {
                    SocketProto::Http => "http",
                    SocketProto::Uwsgi => "uwsgi",
                },
                fd: s.listener.as_raw_fd(),
            })
            .collect();
        let chdir = self
            .config
            .chdir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let apps: Vec<AppView> = crate::interpreter::app_specs(&self.config)
            .into_iter()
            .map(|(prefix, _)| AppView {
                mountpoint: prefix,
                chdir: chdir.clone(),
            })
            .collect();
        let doc = document::build(&self.region, &workers, &sockets, &apps);
        document::encode(&doc, self.config.stats_http)
    }

    /// "4 workers, 1234 requests" for systemd's STATUS=.
    fn status_line(&self) -> String {
        let requests: u64 = self
            .pool
            .workers
            .iter()
            .map(|w| {
                self.region
                    .slot(w.slot)
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        format!("{} workers, {requests} requests", self.pool.ready_count())
    }

    fn log_stats(&self) {
        let mut total = 0;
        for w in &self.pool.workers {
            let s = self.region.slot(w.slot);
            let requests = s.requests.load(std::sync::atomic::Ordering::Relaxed);
            total += requests;
            tracing::info!(
                worker = w.id,
                pid = w.pid,
                status = s.status().name(),
                requests,
                exceptions = s.exceptions.load(std::sync::atomic::Ordering::Relaxed),
                tx = s.tx.load(std::sync::atomic::Ordering::Relaxed),
                "stats"
            );
        }
        tracing::info!(
            workers = self.pool.workers.len(),
            requests = total,
            "stats total"
        );
    }
}

fn pids_empty(pool: &Pool, z: &Option<ZygoteHandle>, nz: &Option<ZygoteHandle>) -> bool {
    pool.workers.iter().all(|w| w.pid.is_none()) && z.is_none() && nz.is_none()
}
