//! A worker process: a small tokio runtime that accepts, parses, buffers
//! and writes, and Python threads that run the app (see [`exec`]).
//!
//! - [`listener`]: inherited listening sockets and accepted streams.
//! - [`lifeline`]: noticing the master's death, even mid-request.
//! - [`conn`]: one connection's request loop, timeouts, error answers.
//! - [`autoreload`]: py-autoreload's module watcher.
//! - [`body`]: request bodies read in full (memory, then a temp file).
//! - [`files`]: static files, answered on the async front.
//! - [`exec`]: inline or pooled Python execution of complete requests.
//! - [`sink`]: response framing and writing from the Python thread.
//! - [`log`]: the request log line.
//! - [`report`]: the stats slot and events to the master.

pub mod autoreload;
pub mod body;
pub mod conn;
pub mod exec;
pub mod files;
pub mod lifeline;
pub mod listener;
pub mod log;
pub mod report;
pub mod sink;

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::{Notify, mpsc, watch};

use crate::wsgi::environ::EnvironCache;
use crate::wsgi::errors::ErrorStream;
use crate::wsgi::file_wrapper::FileWrapper;
use rsgi_core::protocol::http::Limits;
use rsgi_core::static_files::StaticFiles;

use exec::{Apps, Executor, PyCtx};
use listener::Listener;
pub use report::Identity;
use report::Reporter;
use rsgi_core::net::Proto;
use rsgi_core::net::StdListener;

/// Bodies up to this size are kept in memory when `post-buffering` is unset.
pub const DEFAULT_BODY_MEM_LIMIT: usize = 1024 * 1024;

/// What a worker needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    pub body_mem_limit: usize,
    pub socket_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection.
    pub keepalive: Duration,
    pub log: log::LogSettings,
    /// Pick the mountpoint by the SCRIPT_NAME nginx sends.
    pub manage_script_name: bool,
    pub threads: usize,
    pub multiprocess: bool,
    /// How long a stopping worker lets requests in flight finish.
    pub mercy: Duration,
    /// `logto` (or `daemonize`'s file), reopened at start (the zygote's
    /// copy may be a rotated file) and on SIGUSR2 with `log_reopen`.
    pub logto: Option<std::path::PathBuf>,
    pub log_reopen: bool,
    /// `add-header` and `del-header`, applied to every response.
    pub header_rules: rsgi_core::protocol::header_rules::HeaderRules,
    /// What `static-map` and its kin serve (None: no static files).
    pub static_files: Option<Arc<StaticFiles>>,
}

impl Settings {
    pub fn from_config(c: &rsgi_core::config::Config) -> Settings {
        Settings {
            limits: Limits {
                max_head: c.buffer_size,
                max_body: c.limit_post,
            },
            body_mem_limit: if c.post_buffering > 0 {
                usize::try_from(c.post_buffering).unwrap_or(usize::MAX)
            } else {
                DEFAULT_BODY_MEM_LIMIT
            },
            socket_timeout: c.socket_timeout,
            keepalive: c.http_keepalive,
            log: log::LogSettings::from_config(c),
            manage_script_name: c.manage_script_name,
            threads: c.threads.max(1),
            multiprocess: c.processes > 1,
            mercy: c.worker_reload_mercy,
            logto: c.log_file().map(std::path::Path::to_path_buf),
            log_reopen: c.log_reopen,
            header_rules: rsgi_core::protocol::header_rules::HeaderRules::new(
                &c.add_header,
                &c.rem_header,
            ),
            static_files: static_files(c),
        }
    }
}

/// The static-file setup, once per worker (the mime table read here);
/// what the config names but cannot be used is logged.
fn static_files(c: &rsgi_core::config::Config) -> Option<Arc<StaticFiles>> {
    let (files, notes) = StaticFiles::from_config(c);
    for note in notes {
        tracing::warn!("{note}");
    }
    files.map(Arc::new)
}

/// glibc's malloc gives heap back to the OS once more than twice the last
/// freed large block is free at the top. A request with a 1 MiB body frees
/// several such blocks (the body, its Python bytes, the response), so the
/// worker shrank and regrew its heap on every such request, faulting in
/// fresh zeroed pages each time: a 1 MiB POST echo ran at a third of the
/// req/s, with a p99 of 130 ms instead of 10 ms (bench/). Fixed thresholds
/// keep up to 4 MiB of free heap for the next request, and blocks of
/// 2 MiB and more are mapped on their own, so one huge body does not stay
/// in the heap. Malloc tuning the user set in the environment wins.
fn keep_freed_memory_for_reuse() {
    const TRIM_THRESHOLD: libc::c_int = 4 << 20;
    const MMAP_THRESHOLD: libc::c_int = 2 << 20;
    let tuned = |name: &str| std::env::var_os(name).is_some();
    if tuned("GLIBC_TUNABLES") || tuned("MALLOC_TRIM_THRESHOLD_") || tuned("MALLOC_MMAP_THRESHOLD_")
    {
        return;
    }
    // SAFETY: mallopt only sets malloc parameters; it has no memory
    // arguments.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// A listening socket with the protocol it speaks.
#[derive(Debug)]
pub struct Socket {
    pub listener: StdListener,
    pub proto: Proto,
}

/// How long the app's atexit handlers and the final flush of its
/// stdout/stderr may take when a worker stops gracefully; the master's
/// `worker-reload-mercy` still bounds the whole stop.
const EXIT_HOOKS_BOUND: Duration = Duration::from_secs(5);

/// How a worker's serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// SIGTERM (reload, recycle, shutdown) or the master gone: requests in
    /// flight were let finish, and the app's exit hooks run.
    Graceful,
    /// SIGINT or SIGQUIT: out at once.
    Immediate,
}

/// Serve until SIGTERM (graceful) or SIGINT/SIGQUIT (immediate), or until
/// the master is gone. Call with the interpreter initialised and the GIL
/// released.
pub fn run(
    mut settings: Settings,
    sockets: Vec<Socket>,
    apps: Apps,
    mut identity: Identity,
) -> std::io::Result<()> {
    if let Some(path) = &settings.logto {
        rsgi_core::logfile::redirect(path)?;
    }
    keep_freed_memory_for_reuse();
    if let Some(region) = &identity.region
        && settings.threads > region.cores()
    {
        // Only a SIGHUP that raised `threads` gets here: the region was
        // sized when the master started. A thread harakiri cannot see
        // would be a thread it cannot save.
        tracing::warn!(
            threads = settings.threads,
            tracked = region.cores(),
            "threads was raised past what this master tracks per worker; running {} (restart rsgi to run more)",
            region.cores()
        );
        settings.threads = region.cores();
    }
    let settings = Arc::new(settings);
    let reporter = Arc::new(Reporter::new(&mut identity, settings.threads));
    let master_gone = Arc::new(Notify::new());
    if let Some(lifeline) = identity.lifeline.take() {
        let listeners = sockets.iter().map(|s| s.listener.as_raw_fd()).collect();
        lifeline::watch(lifeline, listeners, master_gone.clone(), settings.mercy)?;
    }
    if identity.py_autoreload > 0 {
        Python::attach(|py| autoreload::start(py, identity.py_autoreload, reporter.clone()))
            .map_err(|e| std::io::Error::other(format!("py-autoreload could not start: {e}")))?;
    }
    let ctx = Python::attach(|py| -> PyResult<PyCtx> {
        // Harakiri: the master sends this signal before killing a stuck
        // worker, so the log shows where every Python thread was.
        let signum = rsgi_core::ipc::traceback_signal();
        py.import("faulthandler")?.call_method1(
            "register",
            (signum, py.import("sys")?.getattr("stderr")?, true),
        )?;
        let errors = Py::new(py, ErrorStream)?.into_any();
        let file_wrapper = py.get_type::<FileWrapper>().into_any().unbind();
        let multithread = settings.threads > 1;
        Ok(PyCtx {
            cache: EnvironCache::new(py, multithread, settings.multiprocess, errors, file_wrapper)?,
            apps,
            settings: settings.clone(),
            reporter: reporter.clone(),
        })
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let executor = Arc::new(Executor::start(
        Arc::new(ctx),
        settings.threads,
        settings.static_files.is_some(),
    )?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ending = runtime.block_on(serve(settings, sockets, executor, reporter, master_gone))?;
    if ending == Ending::Graceful {
        run_exit_hooks(EXIT_HOOKS_BOUND);
    }
    Ok(())
}

/// The app's `uwsgi.atexit`, its `atexit` handlers and a flush of
/// `sys.stdout`/`sys.stderr`,
/// as Python's own exit would do them. Not `Py_FinalizeEx`: after a fork
/// with threads it can hang on locks held by threads that do not exist in
/// this process, and it waits for every non-daemon thread. A handler that
/// hangs is cut off after `bound`.
fn run_exit_hooks(bound: Duration) {
    let watchdog = std::thread::Builder::new()
        .name("exit-hooks".into())
        .spawn(move || {
            std::thread::sleep(bound);
            tracing::warn!(
                pid = std::process::id(),
                seconds = bound.as_secs(),
                "the app's atexit handlers did not finish in time; exiting without them"
            );
            // SAFETY: ends the process; nothing after this runs.
            unsafe { libc::_exit(0) }
        });
    if watchdog.is_err() {
        return;
    }
    Python::attach(|py| {
        crate::uwsgi_api::run_atexit(py);
        if let Err(e) = py
            .import("atexit")
            .and_then(|m| m.call_method0("_run_exitfuncs"))
        {
            tracing::error!("the app's atexit handlers failed: {e}");
        }
        crate::wsgi::errors::flush_stdio(py);
    });
}

async fn serve(
    settings: Arc<Settings>,
    sockets: Vec<Socket>,
    executor: Arc<Executor>,
    reporter: Arc<Reporter>,
    master_gone: Arc<Notify>,
) -> std::io::Result<Ending> {
    use tokio::signal::unix::{SignalKind, signal};
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a clone; when all are dropped, the
    // receiver sees the end: that is "no request in flight".
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    for socket in sockets {
        // Never closed before the process exits, so the lifeline thread may
        // replace its descriptor at any time without hitting a reused number.
        let listener: &'static Listener = Box::leak(Box::new(Listener::from_std(socket.listener)?));
        let (settings, executor, alive, mut stopping) = (
            settings.clone(),
            executor.clone(),
            alive_tx.clone(),
            stop_rx.clone(),
        );
        tokio::spawn(async move {
            loop {
                // Accept only while a Python thread is free: a connection
                // taken now would wait here while another worker idles.
                let accepted = tokio::select! {
                    a = async { executor.wait_for_thread().await; listener.accept().await } => a,
                    _ = stopping.wait_for(|s| *s) => return,
                };
                match accepted {
                    Ok((stream, info)) => {
                        let (settings, executor, alive, stopping) = (
                            settings.clone(),
                            executor.clone(),
                            alive.clone(),
                            stopping.clone(),
                        );
                        tokio::spawn(async move {
                            conn::serve(stream, info, socket.proto, settings, executor, stopping)
                                .await;
                            drop(alive);
                        });
                        // Let the new connection read its request (already
                        // here, thanks to TCP_DEFER_ACCEPT) and count as busy
                        // before the next accept.
                        tokio::task::yield_now().await;
                    }
                    Err(_) if *stopping.borrow() => return,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    drop(alive_tx);
    // Handlers first: once the master counts this worker in, it may
    // forward a SIGUSR2 (log-reopen) at once, and until the handler is
    // installed the zygote's SIG_IGN would drop it.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    // Handled even without log-reopen: SIGUSR2's default would kill us.
    let usr2 = signal(SignalKind::user_defined2());
    let log_reopen = settings.log_reopen;
    let logto = settings.logto.clone().filter(|_| log_reopen);
    // The master signals a worker as soon as it knows its pid: one sent
    // before the handler above existed met the zygote's SIG_IGN. Reopen
    // once now, so a rotation during our start is not missed.
    if log_reopen {
        reopen_logs(logto.as_deref());
    }
    reporter.ready();
    tokio::spawn(async move {
        let Ok(mut usr2) = usr2 else {
            return;
        };
        while usr2.recv().await.is_some() {
            if log_reopen && reopen_logs(logto.as_deref()) {
                tracing::info!(pid = std::process::id(), "worker reopened the log file")
            }
        }
    });
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => return Ok(Ending::Immediate),
        _ = quit.recv() => return Ok(Ending::Immediate),
        // The lifeline thread already let go of the listening sockets.
        _ = master_gone.notified() => {}
    }
    reporter.stopping();
    let _ = stop_tx.send(true);
    let mercy = tokio::time::sleep(settings.mercy);
    tokio::select! {
        _ = alive_rx.recv() => {},
        _ = mercy => tracing::warn!("requests still running after worker-reload-mercy; stopping anyway"),
        _ = int.recv() => return Ok(Ending::Immediate),
        _ = term.recv() => {},
    }
    Ok(Ending::Graceful)
}

/// Reopen `logto` and the loggers' files (log-reopen); whether there was
/// any file to reopen.
fn reopen_logs(logto: Option<&std::path::Path>) -> bool {
    let mut reopened = false;
    if let Some(path) = logto {
        match rsgi_core::logfile::redirect(path) {
            Ok(()) => reopened = true,
            Err(e) => tracing::error!(error = %e, "cannot reopen the log file"),
        }
    }
    match rsgi_core::logger::reopen() {
        Ok(any) => reopened |= any,
        Err(e) => tracing::error!(error = %e, "cannot reopen a logger's file"),
    }
    reopened
}
