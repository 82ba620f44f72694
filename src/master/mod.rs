//! The master: pure Rust, never embeds Python, so no app fault can take it
//! down. It binds the sockets, starts zygotes and workers, reaps children,
//! and turns every trigger (signals, touch files, the FIFO, worker
//! messages) into an event for one state machine.
//!
//! - binding the configured sockets (`rsgi_core::net::bind`; exit 30 on failure) happens in [`run`].
//! - [`listeners`]: the running sockets, and a re-read config's candidates.
//! - [`machine`]: the state machine, pure: events in, effects out.
//! - [`notes`]: what the state machine logs, and its wording.
//! - [`pool`]: the worker table: ids, slots, states.
//! - [`python`]: the app's interpreter, rsgi's extension, the zygote's command.
//! - [`backoff`]: restart delays after deaths at start-up (also the Emperor's).
//! - [`shell`]: the event loop that feeds the machine and performs its effects.
//! - [`sidecars`]: starting attached daemons and cron commands, pidfiles, cron's clock.
//! - [`startup`]: the lines logged once at start (version, config, options).
//! - [`views`]: stats, metrics and status built from the state, read-only.
//! - [`zygotes`]: fork+exec of a zygote and its control socket.

pub mod backoff;
pub mod fixed;
pub mod listeners;
pub mod machine;
pub mod notes;
pub mod pool;
pub mod python;
pub mod shell;
pub mod sidecars;
pub mod startup;
pub mod views;
pub mod zygotes;

use rsgi_core::ipc::{EXIT_APP, EXIT_BIND, EXIT_CONFIG};

/// What the master is asked to do. Signal handlers, the touch-file watcher
/// and worker events only produce these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Replace every worker, one at a time; `reread` re-reads the config files first.
    Reload {
        reread: bool,
        reason: String,
    },
    /// Replace the worker in this stats slot (max-requests, reload-on-rss).
    Recycle {
        slot: usize,
        reason: String,
    },
    AddWorker,
    RemoveWorker,
    /// Graceful (SIGTERM) or immediate (SIGINT, SIGQUIT) shutdown.
    Stop {
        graceful: bool,
    },
    LogStats,
    /// A daemon's `touch` file was touched: restart it.
    RestartDaemon {
        index: usize,
        reason: String,
    },
}

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use listeners::BoundSocket;
use rsgi_core::config::hooks::Hook;
use rsgi_core::config::{Config, Entry, Loaded};
use rsgi_core::net::Proto;
use rsgi_core::net::bind;
use shell::Shell;

/// Run the master until shutdown. `args` is the command line (without
/// argv[0]) so SIGHUP can re-read the config files.
pub fn run(loaded: &Loaded, args: Vec<String>) -> ExitCode {
    match run_inner(loaded, args) {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            tracing::error!("{msg}");
            ExitCode::from(code)
        }
    }
}

fn run_inner(loaded: &Loaded, args: Vec<String>) -> Result<u8, (u8, String)> {
    let config = &loaded.config;
    if let Some(name) = config.process_names().master() {
        rsgi_core::proctitle::set(&name);
    }
    let io = |e: std::io::Error| (EXIT_CONFIG, e.to_string());
    // daemonize2's daemon keeps the terminal until the app has loaded.
    if let Some(path) = config
        .log_file()
        .filter(|_| !crate::daemon::waiting_for_load())
    {
        rsgi_core::logfile::redirect(path).map_err(|e| {
            (
                EXIT_CONFIG,
                format!(
                    "cannot open the log file {}{}: {e}",
                    path.display(),
                    config.set_at(&["logto"])
                ),
            )
        })?;
    }
    startup::log(loaded);
    run_hooks(&[
        ("hook-asap", &config.hook_asap),
        ("exec-asap", &config.exec_asap),
    ])?;
    let exe = std::env::current_exe().map_err(io)?;
    let python = python::choose(config, &exe, std::env::var_os("PATH")).map_err(|e| {
        let option = match e {
            python::PythonError::NoVenvPython(_) => Some("home"),
            python::PythonError::NoSuchPython(_) => Some("python"),
            _ => None,
        };
        let origin = option.map(|o| config.set_at(&[o])).unwrap_or_default();
        (EXIT_APP, format!("{e}{origin}"))
    })?;
    let natives = python::Natives::open(&exe, std::env::var_os(python::NATIVE_ENV))
        .map_err(|e| (EXIT_APP, e.to_string()))?;
    tracing::info!(
        "the app runs in {python}, with rsgi's extension ({})",
        natives.describe()
    );
    let notifier = crate::systemd::Notifier::from_env();
    let sockets = bind_all(loaded, crate::systemd::listen_fds())?;
    // Workers are double-forked by the zygote; as a child subreaper the
    // master becomes their parent and can wait for them directly.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    if let Some(pidfile) = &config.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id())).map_err(|e| {
            (
                EXIT_CONFIG,
                format!(
                    "cannot write the pidfile {}{}: {e}",
                    pidfile.display(),
                    config.set_at(&["pidfile"])
                ),
            )
        })?;
    }
    run_hooks(&[
        ("hook-as-root", &config.hook_as_root),
        ("exec-as-root", &config.exec_as_root),
    ])?;
    drop_privileges(config)?;
    run_hooks(&[
        ("hook-as-user", &config.hook_as_user),
        ("exec-as-user", &config.exec_as_user),
    ])?;
    let (events_master, events_child) = std::os::unix::net::UnixDatagram::pair().map_err(io)?;
    events_master.set_nonblocking(true).map_err(io)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let vacuum = vacuum_paths(config);
    run_hooks(&[("hook-master-start", &config.hook_master_start)])?;
    let result = runtime.block_on(async {
        let (lines_tx, lines_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let events = tokio::net::UnixDatagram::from_std(events_master)?;
        for file in &config.touch_reload {
            let reload = |reason| Command::Reload {
                reread: false,
                reason,
            };
            tokio::spawn(watch_touch(file.clone(), cmd_tx.clone(), reload));
        }
        let daemons = machine::Sidecars::from_config(config).daemons;
        for (index, daemon) in daemons.iter().enumerate() {
            for file in &daemon.touch {
                let restart = move |reason| Command::RestartDaemon { index, reason };
                tokio::spawn(watch_touch(file.clone(), cmd_tx.clone(), restart));
            }
        }
        for fifo in &config.master_fifo {
            let rx = open_fifo(fifo)?;
            tokio::spawn(read_fifo(fifo.clone(), rx, cmd_tx.clone()));
        }
        let listen = |address: &Option<rsgi_core::config::Address>| {
            let mode = config.chmod_socket.map(|m| m.0);
            address
                .as_ref()
                .map(|a| {
                    crate::stats::server::listen(a, config.listen, mode)
                        .map_err(|e| format!("{e}{}", set_at(loaded.origin_of_address(a))))
                })
                .transpose()
                .map_err(std::io::Error::other)
        };
        let (stats, metrics) = (listen(&config.stats)?, listen(&config.metrics)?);
        let shell = Shell::new(
            config.clone(),
            args,
            natives,
            sockets,
            lines_tx,
            events_child,
            notifier,
        )?;
        shell.run(lines_rx, events, cmd_rx, stats, metrics).await
    });
    // As uWSGI's as-user-atexit: at the master's end, a failure only logged.
    if let Err((_, e)) = run_hooks(&[
        ("hook-as-user-atexit", &config.hook_as_user_atexit),
        ("exec-as-user-atexit", &config.exec_as_user_atexit),
    ]) {
        tracing::error!("{e}");
    }
    if config.vacuum {
        for path in vacuum {
            let _ = std::fs::remove_file(path);
        }
    }
    result.map_err(io)
}

/// Run a master phase's hooks, `hook-*` before `exec-*` as in uWSGI. The
/// master has no Python, so the config refused `call:` here already.
fn run_hooks(phases: &[(&str, &[Hook])]) -> Result<(), (u8, String)> {
    for (option, hooks) in phases {
        rsgi_core::hooks::run(option, hooks, &mut rsgi_core::hooks::no_python)
            .map_err(|e| (EXIT_CONFIG, format!("{e}; aborting start-up")))?;
    }
    Ok(())
}

/// Bind every configured socket, taking a systemd-passed one instead where
/// its address matches (socket activation).
fn bind_all(
    loaded: &Loaded,
    mut activated: Vec<(i32, Option<String>)>,
) -> Result<Vec<BoundSocket>, (u8, String)> {
    let config = &loaded.config;
    let wanted = listeners::wanted(config);
    let perms = listeners::unix_perms(config).map_err(|e| (EXIT_CONFIG, e))?;
    let mut sockets = Vec::new();
    let only_one = wanted.len() == 1 && activated.len() == 1;
    for (address, proto) in &wanted {
        let inherited = activated
            .iter()
            .position(|(fd, _)| only_one || bind::fd_matches(*fd, address))
            .map(|i| activated.remove(i));
        let listener = match inherited {
            Some((fd, _)) => {
                tracing::info!(%address, fd, "using the socket systemd passed");
                bind::inherit_fd(fd).map_err(|e| {
                    (
                        EXIT_BIND,
                        format!("cannot use the socket systemd passed as fd {fd}: {e}"),
                    )
                })?
            }
            None => bind::bind_address(address, config.listen, perms).map_err(|e| {
                let origin = set_at(loaded.origin_of_address(address));
                (EXIT_BIND, format!("{e}{origin}"))
            })?,
        };
        tracing::info!(%address, ?proto, "listening");
        sockets.push(BoundSocket {
            address: address.clone(),
            proto: *proto,
            listener,
        });
    }
    // Sockets systemd passed that no option names: serve them, as uwsgi
    // when their name says so, HTTP otherwise.
    for (fd, name) in activated {
        let proto = if name.as_deref() == Some("uwsgi") {
            Proto::Uwsgi
        } else {
            Proto::Http
        };
        let listener = bind::inherit_fd(fd).map_err(|e| {
            (
                EXIT_BIND,
                format!("cannot use the socket systemd passed as fd {fd}: {e}"),
            )
        })?;
        tracing::info!(fd, ?proto, "listening on a socket systemd passed");
        sockets.push(BoundSocket {
            address: rsgi_core::config::Address::Fd(fd),
            proto,
            listener,
        });
    }
    if sockets.is_empty() {
        return Err((
            EXIT_CONFIG,
            "no socket to serve on: give --http-socket, --http or --socket".into(),
        ));
    }
    Ok(sockets)
}

/// Where the setting behind an error was made, as " (socket at
/// app.ini:3)", so that the message names the line to fix.
fn set_at(entry: Option<&Entry>) -> String {
    entry
        .map(|e| format!(" ({} at {})", e.key, e.origin))
        .unwrap_or_default()
}

/// Files `vacuum` removes at exit: unix sockets and the pidfile.
fn vacuum_paths(config: &Config) -> Vec<PathBuf> {
    let unix = config
        .http_socket
        .iter()
        .chain(&config.http)
        .chain(&config.socket)
        .filter_map(|a| match a {
            rsgi_core::config::Address::Unix(p) => Some(p.clone()),
            _ => None,
        });
    unix.chain(config.pidfile.clone()).collect()
}

/// `uid` / `gid`: become that user and group, with that user's
/// supplementary groups and no others (`initgroups`), so nothing of root's
/// groups survives the switch. With only `uid`, the group is the user's
/// primary group, as `su`, `runuser` and systemd's `User=` do; uWSGI keeps
/// the starting gid (root's) there, a trap. With only `gid`, the
/// supplementary groups are cleared, as uWSGI does.
fn drop_privileges(config: &Config) -> Result<(), (u8, String)> {
    use nix::unistd::{Uid, getgid, getuid, initgroups, setgid, setgroups, setuid};
    let fail = |what: &str, e: String| {
        (
            EXIT_CONFIG,
            format!("cannot drop privileges to {what}: {e}"),
        )
    };
    let user = match &config.uid {
        Some(name) => Some((name, lookup_user(name).map_err(|e| fail(name, e))?)),
        None => None,
    };
    let gid = match (&config.gid, &user) {
        (Some(name), _) => Some(lookup_group(name).map_err(|e| fail(name, e))?),
        (None, Some((_, (_, Some(entry))))) => Some(entry.gid),
        (None, Some((name, (_, None)))) => {
            let why =
                "the user database has no entry for it, so its group is unknown; give gid too";
            return Err(fail(name, why.into()));
        }
        (None, None) => return Ok(()),
    };
    let target_uid = user.as_ref().map_or_else(getuid, |(_, (uid, _))| *uid);
    let target_gid = gid.unwrap_or_else(getgid);
    // Without root there is nothing to drop, only to check.
    if !Uid::effective().is_root() && target_uid == getuid() && target_gid == getgid() {
        return Ok(());
    }
    // Groups first: setgroups and initgroups need the root that setuid drops.
    if let Some(gid) = gid {
        let what = config.gid.as_deref().unwrap_or("the user's group");
        match &user {
            Some((name, (_, Some(entry)))) => {
                let cname = std::ffi::CString::new(entry.name.as_str())
                    .map_err(|e| fail(name, e.to_string()))?;
                initgroups(&cname, gid).map_err(|e| fail(name, format!("initgroups: {e}")))?;
            }
            _ => setgroups(&[]).map_err(|e| fail(what, format!("setgroups: {e}")))?,
        }
        setgid(gid).map_err(|e| fail(what, e.to_string()))?;
    }
    if let Some((name, (uid, _))) = &user {
        setuid(*uid).map_err(|e| fail(name, e.to_string()))?;
    }
    tracing::info!(
        uid = getuid().as_raw(),
        gid = getgid().as_raw(),
        "dropped privileges"
    );
    Ok(())
}

/// A user by name or number, with its database entry (a number may have none).
fn lookup_user(name: &str) -> Result<(nix::unistd::Uid, Option<nix::unistd::User>), String> {
    use nix::unistd::{Uid, User};
    match name.parse::<u32>() {
        Ok(n) => {
            let entry = User::from_uid(Uid::from_raw(n)).map_err(|e| e.to_string())?;
            Ok((Uid::from_raw(n), entry))
        }
        Err(_) => match User::from_name(name).map_err(|e| e.to_string())? {
            Some(entry) => Ok((entry.uid, Some(entry))),
            None => Err("no such user".into()),
        },
    }
}

/// A group by name or number.
fn lookup_group(name: &str) -> Result<nix::unistd::Gid, String> {
    use nix::unistd::{Gid, Group};
    match name.parse::<u32>() {
        Ok(n) => Ok(Gid::from_raw(n)),
        Err(_) => Group::from_name(name)
            .map_err(|e| e.to_string())?
            .map(|g| g.gid)
            .ok_or_else(|| "no such group".into()),
    }
}

/// Send `command` when `file`'s mtime changes, or when it appears.
async fn watch_touch(
    file: PathBuf,
    commands: mpsc::UnboundedSender<Command>,
    command: impl Fn(String) -> Command,
) {
    let mtime = |f: &PathBuf| std::fs::metadata(f).and_then(|m| m.modified()).ok();
    let mut last: Option<SystemTime> = mtime(&file);
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        let now = mtime(&file);
        if now.is_some() && now != last {
            let reason = format!("{} was touched", file.display());
            if commands.send(command(reason)).is_err() {
                return;
            }
        }
        last = now;
    }
}

/// Create (if needed) and open a master FIFO. Opened read-write so it
/// never reports end-of-file when a writer (`echo r > fifo`) closes.
fn open_fifo(path: &std::path::Path) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    if !path.exists() {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    }
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
}

/// uWSGI's one-letter master FIFO commands.
pub fn fifo_command(letter: u8) -> Option<Command> {
    Some(match letter {
        b'r' | b'R' => Command::Reload {
            reread: true,
            reason: "master FIFO".into(),
        },
        b'q' => Command::Stop { graceful: true },
        b'Q' => Command::Stop { graceful: false },
        b'+' => Command::AddWorker,
        b'-' => Command::RemoveWorker,
        b's' => Command::LogStats,
        _ => return None,
    })
}

async fn read_fifo(
    path: PathBuf,
    rx: tokio::net::unix::pipe::Receiver,
    commands: mpsc::UnboundedSender<Command>,
) {
    let mut buf = [0u8; 64];
    loop {
        if rx.readable().await.is_err() {
            return;
        }
        let n = match rx.try_read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                tracing::error!(fifo = %path.display(), error = %e, "reading the master FIFO failed");
                return;
            }
        };
        for &letter in &buf[..n] {
            match fifo_command(letter) {
                Some(cmd) => {
                    if commands.send(cmd).is_err() {
                        return;
                    }
                }
                None if letter.is_ascii_whitespace() => {}
                None => {
                    tracing::warn!(fifo = %path.display(), command = %(letter as char), "unknown master FIFO command")
                }
            }
        }
    }
}
