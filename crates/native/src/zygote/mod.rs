//! The zygote: started by the master with fork+exec, it initialises
//! CPython, imports the app (unless `lazy-apps`), then forks workers on
//! the master's command. Its only thread is Python's main thread, which is
//! what makes `fork` safe here (it would not be from the tokio master).
//!
//! The control socket's messages are `ipc::control`'s: `ready` once the
//! app is loaded, then a `spawned` (or `failed`) answer to every `spawn`.
//! Workers are double-forked so they are reparented to the master (a child
//! subreaper), which reaps them directly.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Arc;

use nix::unistd::{ForkResult, fork};
use pyo3::prelude::*;

use rsgi_core::config::Config;
use rsgi_core::config::hooks::Hook;
use rsgi_core::ipc::control::{Command, Reply};
use rsgi_core::ipc::handoff::{self, Handoff};
use rsgi_core::ipc::{EXIT_APP, EXIT_FAILED, EXIT_HOOK, EXIT_OK};
use rsgi_core::net::bind::inherit_fd;
use rsgi_core::stats::region::Region;

use crate::interpreter;
use crate::worker::exec::Apps;
use crate::worker::{self, Identity, Settings, Socket};

/// Run as a zygote; returns its exit status (workers never return: they
/// exit on their own).
pub fn main(handoff_json: &str) -> u8 {
    let handoff: Handoff<Config> = match Handoff::from_env(handoff_json) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("the zygote's handoff from the master is unreadable: {e}");
            return EXIT_FAILED;
        }
    };
    if handoff.version != handoff::VERSION {
        tracing::error!(
            "the master is rsgi {} but its Python extension is rsgi {}: they come from \
             different builds (reinstall rsgi, or point RSGI_NATIVE at the matching extension)",
            handoff.version,
            handoff::VERSION
        );
        return EXIT_FAILED;
    }
    let config = handoff.config.clone();
    // Before the app runs, so what it prints at import is routed too.
    if let Err(e) = rsgi_core::logger::install(&config.loggers()) {
        tracing::error!("{e}");
        return EXIT_FAILED;
    }
    rsgi_core::proctitle::set(&config.process_names().zygote());
    // The master forwards SIGUSR2 (log-reopen) to workers, not to us; a
    // stray one must not kill the zygote. Workers install their own handler.
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    if let Err(e) = interpreter::start(&config) {
        tracing::error!("{e}{}", e.set_at(&config));
        return EXIT_APP;
    }
    if let Err(e) = Python::attach(|py| {
        let mountpoints = rsgi_core::config::apps::app_specs(&config)
            .into_iter()
            .map(|(prefix, _)| prefix)
            .collect();
        crate::uwsgi_api::install(py, &config, mountpoints)
    }) {
        tracing::error!("the uwsgi module for apps could not be set up: {e}");
        return EXIT_APP;
    }
    let apps = if config.lazy_apps {
        None
    } else {
        match interpreter::load_apps(&config) {
            Ok(apps) => Some(apps),
            // A failed hook is not the app's fault: uWSGI exits 1 for it.
            Err(e @ interpreter::StartError::Hook(_)) => {
                tracing::error!("{e}");
                return EXIT_FAILED;
            }
            Err(e) => {
                tracing::error!("{e}{}", e.set_at(&config));
                return EXIT_APP;
            }
        }
    };
    // daemonize2: the master takes its log file once every worker
    // accepts; the zygote's load errors have reached the terminal by now.
    if config.daemonize2.is_some()
        && let Some(path) = config.log_file()
        && let Err(e) = rsgi_core::logfile::redirect(path)
    {
        tracing::error!("cannot open the log file {}: {e}", path.display());
    }
    freeze_heap();
    // SAFETY: the master passed these fds for us alone.
    let control = unsafe { UnixStream::from_raw_fd(handoff.control_fd) };
    let sockets = inherit_sockets(&handoff);
    let mut zygote = Zygote {
        handoff,
        apps,
        sockets: Some(sockets),
        forked_ids: std::collections::HashSet::new(),
    };
    match zygote.serve(&control) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("the zygote lost its master: {e}");
            EXIT_FAILED
        }
    }
}

fn inherit_sockets(handoff: &Handoff<Config>) -> Vec<Socket> {
    handoff
        .sockets
        .iter()
        .filter_map(|&(fd, proto)| {
            let listener = inherit_fd(fd).ok()?;
            Some(Socket { listener, proto })
        })
        .collect()
}

struct Zygote {
    handoff: Handoff<Config>,
    apps: Option<Apps>,
    sockets: Option<Vec<Socket>>,
    /// Worker ids forked so far: `hook-accepting-once` runs at an id's
    /// first start. As uWSGI's `respawn_count == 1`, which a reload (a
    /// re-exec there, a new zygote here) starts over.
    forked_ids: std::collections::HashSet<usize>,
}

impl Zygote {
    fn serve(&mut self, control: &UnixStream) -> std::io::Result<()> {
        let mut writer = control;
        writer.write_all(Reply::Ready.encode().as_bytes())?;
        let mut reader = BufReader::new(control);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let Command::Spawn { slot, id } = match Command::decode(&line) {
                Ok(command) => command,
                Err(e) => {
                    tracing::warn!(error = %e, "the zygote got a command it does not know");
                    continue;
                }
            };
            let reply = match self.spawn(slot, id) {
                Ok(pid) => Reply::Spawned { slot, pid },
                Err(e) => {
                    tracing::error!(worker = id, error = %e, "fork failed");
                    Reply::Failed { slot }
                }
            };
            writer.write_all(reply.encode().as_bytes())?;
        }
    }

    /// Double-fork a worker; returns its pid.
    fn spawn(&mut self, slot: usize, id: usize) -> std::io::Result<i32> {
        let first = self.forked_ids.insert(id);
        let (mut pid_r, pid_w) = std::io::pipe()?;
        let fork_result = Python::attach(|py| {
            crate::wsgi::errors::flush_stdio(py);
            // CPython must hear of every fork, as os.fork() tells it: locks
            // taken before, child state reset after (DESIGN.md).
            // SAFETY: called with the GIL held, paired below in both processes.
            unsafe { pyo3::ffi::PyOS_BeforeFork() };
            // SAFETY: this process is single-threaded (Python's main thread only).
            let r = unsafe { fork() };
            if let Ok(ForkResult::Parent { .. }) | Err(_) = r {
                // SAFETY: pairs with PyOS_BeforeFork in the parent.
                unsafe { pyo3::ffi::PyOS_AfterFork_Parent() };
            }
            r
        });
        match fork_result.map_err(std::io::Error::from)? {
            ForkResult::Child => {
                drop(pid_r);
                // SAFETY: still single-threaded in the intermediate child.
                match unsafe { fork() } {
                    Ok(ForkResult::Child) => {
                        drop(pid_w);
                        self.become_worker(slot, id, first)
                    }
                    Ok(ForkResult::Parent { child }) => {
                        let mut w = pid_w;
                        let _ = w.write_all(&child.as_raw().to_le_bytes());
                        // SAFETY: leave at once, running no destructor or atexit
                        // handler of the zygote's state.
                        unsafe { libc::_exit(i32::from(EXIT_OK)) }
                    }
                    // SAFETY: as above.
                    Err(_) => unsafe { libc::_exit(i32::from(EXIT_FAILED)) },
                }
            }
            ForkResult::Parent { child } => {
                drop(pid_w);
                let mut buf = [0u8; 4];
                let read = pid_r.read_exact(&mut buf);
                let _ = nix::sys::wait::waitpid(child, None);
                read?;
                Ok(i32::from_le_bytes(buf))
            }
        }
    }

    /// The worker's life, in the grandchild. Never returns.
    /// `first`: this id's first start from this zygote.
    fn become_worker(&mut self, slot: usize, id: usize, first: bool) -> ! {
        Python::attach(|py| {
            // SAFETY: first thing after fork in the child, GIL held.
            unsafe { pyo3::ffi::PyOS_AfterFork_Child() };
            let name = self.handoff.config.process_names().worker(id);
            rsgi_core::proctitle::set(&name);
            let code = self.worker_main(py, slot, id, first);
            std::process::exit(code)
        })
    }

    fn worker_main(&mut self, py: Python<'_>, slot: usize, id: usize, first: bool) -> i32 {
        let identity = match self.identity(slot, id) {
            Ok(identity) => identity,
            Err(e) => {
                tracing::error!(worker = id, error = %e, "the worker could not set up its links to the master");
                return i32::from(EXIT_FAILED);
            }
        };
        // Who this worker is, before a lazy app is imported here (it may
        // ask uwsgi.worker_id()), and the timers meant for it.
        crate::uwsgi_api::enter_worker(id, identity.region.clone());
        let config = &self.handoff.config;
        let hook_failed = |e: &dyn std::fmt::Display| {
            tracing::error!(worker = id, "{e}; aborting start-up");
            i32::from(EXIT_HOOK)
        };
        if let Err(e) = interpreter::run_hooks(&[("hook-post-fork", &config.hook_post_fork)]) {
            return hook_failed(&e);
        }
        let apps = match self.apps.take() {
            Some(apps) => apps,
            None => match interpreter::load_apps(config) {
                Ok(apps) => apps,
                Err(interpreter::StartError::Hook(e)) => return hook_failed(&e),
                Err(e) => {
                    tracing::error!(worker = id, "{e}");
                    return i32::from(EXIT_APP);
                }
            },
        };
        // Once the apps are loaded, so a lazy app's @postfork runs too.
        crate::uwsgi_api::run_post_fork_hooks(py);
        // uWSGI runs these as the worker enters its accept loop; here they
        // run just before it does, so a worker counts as ready (and rsgi
        // as ready) only once they have run.
        // uWSGI's order: accepting, accepting-once, accepting1, accepting1-once.
        fn pick(hooks: &[Hook], when: bool) -> &[Hook] {
            if when { hooks } else { &[] }
        }
        if let Err(e) = interpreter::run_hooks(&[
            ("hook-accepting", &config.hook_accepting),
            (
                "hook-accepting-once",
                pick(&config.hook_accepting_once, first),
            ),
            ("hook-accepting1", pick(&config.hook_accepting1, id == 1)),
            (
                "hook-accepting1-once",
                pick(&config.hook_accepting1_once, id == 1 && first),
            ),
        ]) {
            return hook_failed(&e);
        }
        let sockets = self.sockets.take().unwrap_or_default();
        if config.limit_as > 0 {
            limit_address_space(config.limit_as);
        }
        let settings = Settings::from_config(config);
        match py.detach(move || worker::run(settings, sockets, apps, identity)) {
            Ok(()) => i32::from(EXIT_OK),
            Err(e) => {
                tracing::error!(worker = id, error = %e, "the worker failed");
                i32::from(EXIT_FAILED)
            }
        }
    }

    fn identity(&self, slot: usize, id: usize) -> std::io::Result<Identity> {
        let h = &self.handoff;
        // The control socket is the zygote's; a worker holding it would keep
        // the master's end open after the zygote died.
        // SAFETY: closing our copy of the control fd; nothing in the worker
        // uses it, and the process never returns to the zygote's code.
        unsafe { libc::close(h.control_fd) };
        // SAFETY: inherited fds, each taken once in this process.
        let region = unsafe { Region::from_raw_fd(h.stats_fd)? };
        let events = unsafe { UnixDatagram::from_raw_fd(h.events_fd) };
        let lifeline = unsafe { OwnedFd::from_raw_fd(h.lifeline_fd) };
        Ok(Identity {
            id,
            slot,
            region: Some(Arc::new(region)),
            events: Some(events),
            lifeline: Some(lifeline),
            max_requests: worker_max_requests(&h.config, id),
            reload_on_rss_mb: h.config.reload_on_rss,
            reload_on_as_mb: h.config.reload_on_as,
            // One watcher is enough; worker 1 always exists.
            py_autoreload: if id == 1 { h.config.py_autoreload } else { 0 },
        })
    }
}

/// `max-requests` plus this worker's share of `max-requests-delta`, so the
/// workers do not all recycle at once (uWSGI adds delta × worker id).
fn worker_max_requests(config: &rsgi_core::config::Config, id: usize) -> u64 {
    if config.max_requests == 0 {
        return 0;
    }
    config.max_requests + config.max_requests_delta.saturating_mul(id as u64)
}

/// `limit-as`: cap the worker's address space, so a runaway allocation is
/// a MemoryError (a 500) in that worker instead of the machine swapping.
fn limit_address_space(mb: u64) {
    use nix::sys::resource::{Resource, setrlimit};
    let bytes = mb.saturating_mul(1024 * 1024);
    if let Err(e) = setrlimit(Resource::RLIMIT_AS, bytes, bytes) {
        tracing::warn!(error = %e, limit_mb = mb, "limit-as could not be applied");
    }
}

/// Move every object the app's import created out of the garbage
/// collector's reach (`gc.freeze()`): a collection in a worker would
/// otherwise write to them and copy their pages, undoing the sharing that
/// preloading is for.
fn freeze_heap() {
    Python::attach(|py| {
        if let Err(e) = py.import("gc").and_then(|gc| gc.call_method0("freeze")) {
            tracing::warn!(error = %e, "gc.freeze() failed; workers may copy more memory");
        }
    });
}
