//! The master's event loop: the thin, untested-by-units side of the state
//! machine. It turns signals, reaped children, zygote lines, worker
//! datagrams, commands (FIFO, touch files) and deadlines into
//! [`Event`]s, feeds them to [`State::handle`], and performs the
//! [`Effect`]s it returns. It decides nothing itself; it owns the
//! resources the effects act on: the config and its listening sockets,
//! the stats region, the zygotes' control sockets, the systemd notifier.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::sync::Arc;
use std::time::Instant;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::Command;
use super::listeners::{BoundSocket, Listeners};
use super::machine::{Effect, Ended, Event, Notify, Rejection, Settings, Sig, State};
use super::views;
use super::zygotes::{ZygoteHandle, ZygoteLine};
use crate::stats::server::{self as stats_server, Listener as StatsListener};
use crate::systemd::Notifier;
use rsgi_core::config::Config;
use rsgi_core::ipc::control::{Command as ZygoteCommand, Reply};
use rsgi_core::ipc::event::{self, WorkerEvent};
use rsgi_core::ipc::handoff::{self, Handoff};
use rsgi_core::stats::region::{Region, now_us};

pub struct Shell {
    state: State,
    /// The running config, and the re-read one while its reload runs.
    config: Config,
    candidate: Option<Config>,
    /// The command line, re-read with the files on SIGHUP.
    args: Vec<String>,
    /// rsgi's extension, held open for every zygote to load.
    natives: super::python::Natives,
    listeners: Listeners,
    region: Arc<Region>,
    events_child: StdDatagram,
    lifeline_read: OwnedFd,
    /// Held, never written: its closing (our death) is the workers' signal.
    _lifeline_write: OwnedFd,
    zygotes: Vec<ZygoteHandle>,
    lines_tx: mpsc::UnboundedSender<ZygoteLine>,
    notifier: Notifier,
}

impl Shell {
    pub fn new(
        config: Config,
        args: Vec<String>,
        natives: super::python::Natives,
        sockets: Vec<BoundSocket>,
        lines_tx: mpsc::UnboundedSender<ZygoteLine>,
        events_child: StdDatagram,
        notifier: Notifier,
    ) -> std::io::Result<Shell> {
        let region = Arc::new(Region::create(config.threads)?);
        let (lifeline_read, lifeline_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let state = State::new(
            Settings::from_config(&config),
            notifier.watchdog_every,
            Instant::now(),
        );
        Ok(Shell {
            state,
            config,
            candidate: None,
            args,
            natives,
            listeners: Listeners::new(sockets),
            region,
            events_child,
            lifeline_read,
            _lifeline_write: lifeline_write,
            zygotes: Vec::new(),
            lines_tx,
            notifier,
        })
    }

    /// Run until the state machine says to exit; returns the exit status.
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
        let mut buf = vec![0u8; event::MAX_LEN];
        let mut queue = VecDeque::from([Event::Start]);
        loop {
            while let Some(event) = queue.pop_front() {
                for effect in self.state.handle(Instant::now(), event) {
                    if let Some(status) = self.perform(effect, &mut queue).await {
                        return Ok(status);
                    }
                }
            }
            let deadline = self.state.next_deadline(Instant::now());
            let wake = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let stop = |graceful| Event::Command(Command::Stop { graceful });
            let event = tokio::select! {
                _ = chld.recv() => { self.reap(&mut queue); continue; }
                _ = term.recv() => stop(true),
                _ = int.recv() => stop(false),
                _ = quit.recv() => stop(false),
                _ = hup.recv() => Event::Command(Command::Reload { reread: true, reason: "SIGHUP".into() }),
                _ = usr1.recv() => Event::Command(Command::LogStats),
                _ = usr2.recv() => Event::ReopenLogs,
                _ = ttin.recv() => Event::Command(Command::AddWorker),
                _ = ttou.recv() => Event::Command(Command::RemoveWorker),
                Some(line) = lines.recv() => match Reply::decode(&line.line) {
                    Ok(reply) => Event::Zygote { generation: line.generation, reply },
                    Err(e) => {
                        tracing::warn!(generation = line.generation, error = %e, "unexpected line from the zygote");
                        continue;
                    }
                },
                Ok(n) = events.recv(&mut buf) => match WorkerEvent::decode(&buf[..n]) {
                    Ok(event) => Event::Worker(event),
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable message from a worker");
                        continue;
                    }
                },
                Some(cmd) = commands.recv() => Event::Command(cmd),
                Ok(client) = stats_server::accept(&stats) => {
                    let running = self.listeners.running();
                    let doc = views::stats_document(&self.state, &self.region, &self.config, running);
                    if self.config.stats_http {
                        let text = views::metrics_text(&self.state, &self.region, running);
                        tokio::spawn(client.answer_http(Some(doc), text));
                    } else {
                        tokio::spawn(client.send(doc));
                    }
                    continue;
                }
                Ok(client) = stats_server::accept(&metrics) => {
                    let text = views::metrics_text(&self.state, &self.region, self.listeners.running());
                    tokio::spawn(client.answer_http(None, text));
                    continue;
                }
                _ = wake => Event::Tick {
                    wall_us: now_us(),
                    busy: views::busy(&self.state, &self.region),
                },
            };
            queue.push_back(event);
        }
    }

    /// Perform one effect; answers go to `queue`. Some(status) to exit.
    async fn perform(&mut self, effect: Effect, queue: &mut VecDeque<Event>) -> Option<u8> {
        match effect {
            Effect::StartZygote {
                generation,
                candidate,
            } => queue.push_back(match self.start_zygote(generation, candidate) {
                Ok(pid) => Event::ZygoteStarted { generation, pid },
                Err(e) => Event::ZygoteNotStarted {
                    generation,
                    error: e.to_string(),
                },
            }),
            Effect::SpawnWorker {
                generation,
                slot,
                id,
            } => {
                self.region.slot(slot).reset(0);
                let sent = match self.zygotes.iter_mut().find(|z| z.generation == generation) {
                    Some(z) => z.send(ZygoteCommand::Spawn { slot, id }).await,
                    None => Err(std::io::Error::other("the zygote is gone")),
                };
                if let Err(e) = sent {
                    queue.push_back(Event::ZygoteUnreachable {
                        generation,
                        slot,
                        error: e.to_string(),
                    });
                }
            }
            Effect::Signal { pid, signal } => {
                let signum = match signal {
                    Sig::Term => libc::SIGTERM,
                    Sig::Kill => libc::SIGKILL,
                    Sig::Usr2 => libc::SIGUSR2,
                    Sig::Traceback => rsgi_core::ipc::traceback_signal(),
                };
                // SAFETY: kill(2) has no memory effects; the pid is one of
                // our children (a worker or a zygote) that is not reaped yet.
                unsafe { libc::kill(pid, signum) };
            }
            Effect::Notify(Notify::Ready) => {
                crate::daemon::loaded();
                self.notifier
                    .ready(&views::status_line(&self.state, &self.region))
            }
            Effect::Notify(Notify::Reloading) => self.notifier.reloading(),
            Effect::Notify(Notify::Stopping) => self.notifier.stopping(),
            Effect::Notify(Notify::Watchdog) => {
                self.notifier.watchdog();
                self.notifier
                    .status(&views::status_line(&self.state, &self.region));
            }
            Effect::LoadConfig => queue.push_back(Event::ConfigLoaded(self.load_candidate())),
            Effect::CommitConfig => {
                if let Some(config) = self.candidate.take() {
                    self.config = config;
                }
                self.listeners.commit();
            }
            Effect::DiscardConfig => {
                self.candidate = None;
                self.listeners.discard();
            }
            Effect::ReopenLogFile => self.reopen_log_file(),
            Effect::LogStats => views::log_stats(&self.state, &self.region),
            Effect::Log(note) => note.emit(),
            Effect::Exit(status) => return Some(status),
        }
        None
    }

    /// Fork+exec a zygote with the running config and sockets, or the
    /// candidate ones; returns its pid.
    fn start_zygote(&mut self, generation: u64, candidate: bool) -> std::io::Result<i32> {
        let (config, sockets) = if candidate {
            match (&self.candidate, self.listeners.candidate()) {
                (Some(config), Some(sockets)) => (config, sockets),
                _ => return Err(std::io::Error::other("no re-read config to start it with")),
            }
        } else {
            (&self.config, self.listeners.running())
        };
        let handoff = Handoff {
            version: handoff::VERSION.into(),
            config: config.clone(),
            sockets: sockets
                .iter()
                .map(|s| (s.listener.as_raw_fd(), s.proto))
                .collect(),
            stats_fd: self.region.fd(),
            events_fd: self.events_child.as_raw_fd(),
            control_fd: -1,
            lifeline_fd: self.lifeline_read.as_raw_fd(),
            generation,
        };
        let zygote = ZygoteHandle::start(handoff, &self.natives, self.lines_tx.clone())?;
        let pid = zygote.pid;
        self.zygotes.push(zygote);
        Ok(pid)
    }

    /// SIGHUP: re-read the config files and bind the sockets they add, as
    /// the candidate for the reload.
    fn load_candidate(&mut self) -> Result<Settings, Rejection> {
        let loaded = rsgi_core::config::load(&self.args, &|k| std::env::var(k).ok())
            .map_err(|e| Rejection::Invalid(e.to_string()))?;
        let exe = std::env::current_exe().map_err(|e| Rejection::Invalid(e.to_string()))?;
        super::python::choose(&loaded.config, &exe, std::env::var_os("PATH"))
            .map_err(|e| Rejection::Invalid(e.to_string()))?;
        self.listeners
            .prepare(&loaded.config)
            .map_err(|e| Rejection::Unbindable(e.to_string()))?;
        note_unchangeable(&self.config, &loaded.config);
        let settings = Settings::from_config(&loaded.config);
        self.candidate = Some(loaded.config);
        Ok(settings)
    }

    /// SIGUSR2 with `log-reopen`: logrotate moved the file.
    fn reopen_log_file(&self) {
        if let Some(path) = self.config.log_file() {
            match rsgi_core::logfile::redirect(path) {
                Ok(()) => tracing::info!(file = %path.display(), "log file reopened"),
                Err(e) => {
                    tracing::error!(error = %e, file = %path.display(), "cannot reopen the log file")
                }
            }
        }
        match rsgi_core::logger::reopen() {
            Ok(true) => tracing::info!("loggers' files reopened"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot reopen a logger's file"),
        }
    }

    /// Every child that has ended, as [`Event::Exited`].
    fn reap(&mut self, queue: &mut VecDeque<Event>) {
        loop {
            let (pid, how) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), Ended::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), Ended::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            self.zygotes.retain(|z| z.pid != pid);
            queue.push_back(Event::Exited { pid, how });
        }
    }
}

/// Options that a reload cannot change in a running master.
fn note_unchangeable(old: &Config, new: &Config) {
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
