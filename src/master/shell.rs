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
use std::time::{Instant, SystemTime};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::Command;
use super::listeners::{BoundSocket, Listeners};
use super::machine::{Effect, Ended, Event, Notify, Rejection, Settings, Sidecars, Sig, State};
use super::sidecars;
use super::views;
use super::zygotes::{ZygoteHandle, ZygoteLine};
use crate::stats::server::{self as stats_server, Listener as StatsListener};
use crate::systemd::Notifier;
use rsgi_core::config::cron::CivilTime;
use rsgi_core::config::hooks::{SignalAction, signal_actions};
use rsgi_core::config::{Config, Loaded};
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
    /// The daemons and cron commands, fixed at start.
    sidecars: Sidecars,
    /// Signals `unix_signal:` hooks gave another meaning.
    signal_actions: Vec<(i32, SignalAction)>,
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
        let sidecars = Sidecars::from_config(&config);
        let master_hooks = [
            &config.hook_asap,
            &config.hook_as_root,
            &config.hook_as_user,
            &config.hook_master_start,
        ];
        let signal_actions = signal_actions(master_hooks.into_iter().flatten());
        let state = State::new(
            Settings::from_config(&config),
            notifier.watchdog_every,
            Instant::now(),
        )
        .with_sidecars(sidecars.clone());
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
            sidecars,
            signal_actions,
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
        // Cron's clock: the minute rsgi starts in counts (as in uWSGI, a
        // matching entry runs at once), then each new one.
        let crons = !self.sidecars.crons.is_empty();
        if crons && let Some(t) = CivilTime::local(SystemTime::now()) {
            queue.push_back(Event::Minute(t));
        }
        let mut next_minute =
            tokio::time::Instant::now() + sidecars::until_next_minute(SystemTime::now());
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
            let minute = async {
                if crons {
                    tokio::time::sleep_until(next_minute).await
                } else {
                    std::future::pending().await
                }
            };
            let stop = |graceful| Event::Command(Command::Stop { graceful });
            let event = tokio::select! {
                _ = chld.recv() => { self.reap(&mut queue); continue; }
                _ = term.recv() => self.on_signal(libc::SIGTERM, stop(true)),
                _ = int.recv() => self.on_signal(libc::SIGINT, stop(false)),
                _ = quit.recv() => self.on_signal(libc::SIGQUIT, stop(false)),
                _ = hup.recv() => self.on_signal(
                    libc::SIGHUP,
                    Event::Command(Command::Reload { reread: true, reason: "SIGHUP".into() }),
                ),
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
                        tokio::spawn(client.answer_http(Some(doc), text, self.state.accepting_traffic()));
                    } else {
                        tokio::spawn(client.send(doc));
                    }
                    continue;
                }
                Ok(client) = stats_server::accept(&metrics) => {
                    let text = views::metrics_text(&self.state, &self.region, self.listeners.running());
                    tokio::spawn(client.answer_http(None, text, self.state.accepting_traffic()));
                    continue;
                }
                _ = minute => {
                    let now = SystemTime::now();
                    next_minute = tokio::time::Instant::now() + sidecars::until_next_minute(now);
                    match CivilTime::local(now) {
                        Some(t) => Event::Minute(t),
                        None => continue,
                    }
                }
                _ = wake => Event::Tick {
                    wall_us: now_us(),
                    busy: views::busy(&self.state, &self.region),
                    load: views::load(&self.state, &self.region, self.listeners.running()),
                },
            };
            queue.push_back(event);
        }
    }

    /// What `signal` means: its own meaning, unless a `unix_signal:` hook
    /// gave it another.
    fn on_signal(&self, signal: i32, default: Event) -> Event {
        let Some((_, action)) = self.signal_actions.iter().find(|(s, _)| *s == signal) else {
            return default;
        };
        Event::Command(match action {
            SignalAction::GracefulStop => Command::Stop { graceful: true },
            SignalAction::ImmediateStop => Command::Stop { graceful: false },
            SignalAction::Reload => Command::Reload {
                reread: true,
                reason: format!("signal {signal} (grace_them_all)"),
            },
        })
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
            Effect::LogKernelState { pid } => views::log_kernel_state(pid),
            Effect::Log(note) => note.emit(),
            Effect::Exit(status) => return Some(status),
            Effect::StartDaemon { index } => {
                if let Some(daemon) = self.sidecars.daemons.get(index) {
                    let honour_stdin = self.config.daemons_honour_stdin;
                    queue.push_back(match sidecars::spawn_daemon(daemon, honour_stdin) {
                        Ok(pid) => Event::DaemonStarted { index, pid },
                        Err(e) => Event::DaemonNotStarted {
                            index,
                            error: e.to_string(),
                        },
                    });
                }
            }
            Effect::ReadPidfile { index } => {
                let pidfile = self
                    .sidecars
                    .daemons
                    .get(index)
                    .and_then(|d| d.pidfile.as_ref());
                let pid = pidfile.and_then(|p| sidecars::live_pid(p));
                queue.push_back(Event::DaemonPidfile { index, pid });
            }
            Effect::SignalGroup { pid, signal } => sidecars::signal_group(pid, signal),
            Effect::RunCron { index } => {
                if let Some(cron) = self.sidecars.crons.get(index) {
                    queue.push_back(match sidecars::run_cron(cron) {
                        Ok(pid) => Event::CronStarted { index, pid },
                        Err(e) => Event::CronNotStarted {
                            index,
                            error: e.to_string(),
                        },
                    });
                }
            }
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
        note_unchangeable(&self.config, &loaded);
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

/// Say which of a reload's changes wait for the next restart, and where
/// the new config sets them.
fn note_unchangeable(running: &Config, new: &Loaded) {
    for option in super::fixed::changed_needing_restart(running, &new.config) {
        let origin = new.config.set_at(&[option]);
        tracing::warn!(
            "{option}{origin} changed: it takes effect at the next restart, not on reload"
        );
    }
}
