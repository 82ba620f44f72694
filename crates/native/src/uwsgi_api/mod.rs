//! `import uwsgi` and `import uwsgidecorators` in apps, as uWSGI's Python
//! plugin provides them (plugins/python/uwsgi_pymodule.c and
//! python_plugin.c, uwsgidecorators.py), for what rsgi has: the config,
//! worker identity, reload, counters, the log and logvars, exit and
//! post-fork hooks, timers and crons, user harakiri, a lock. Both modules
//! are put in `sys.modules` by the zygote before the app is imported, and
//! exist nowhere else, so `try: import uwsgi` still tells an app it runs
//! under another server. uWSGI's spooler, cache, mules and signals are not
//! here: asking for one says what to use instead.
//!
//! - [`logvars`]: `set_logvar` / `get_logvar`, per request.
//! - [`schedule`]: `@timer` and `@cron` threads.
//! - [`lock`]: `uwsgi.lock()` across the workers.
//! - [`harakiri`]: `@harakiri(secs)`, the watchdog.

pub mod harakiri;
pub mod lock;
pub mod logvars;
pub mod schedule;

use std::ffi::CString;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use rsgi_core::config::Config;
use rsgi_core::config::exported::{OptValue, opt_view};
use rsgi_core::stats::region::{Region, SLOTS, Status};

/// The uWSGI release whose Python API rsgi follows; `uwsgi.version` says
/// it, with rsgi's own version as uWSGI's custom version part.
const UWSGI_VERSION: (u32, u32, u32) = (2, 0, 31);

/// What every process of a generation knows, set in the zygote.
struct Server {
    masterpid: i32,
    /// The apps' mountpoints and `chdir`, for `uwsgi.workers()`.
    mountpoints: Vec<String>,
    chdir: String,
}

/// What a worker knows of itself, set after the fork.
struct Worker {
    id: usize,
    region: Option<Arc<Region>>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static WORKER: OnceLock<Worker> = OnceLock::new();

const DECORATORS: &str = include_str!("uwsgidecorators.py");

/// Make `uwsgi` and `uwsgidecorators` importable; in the zygote, before
/// the app is imported.
pub fn install(py: Python<'_>, config: &Config, mountpoints: Vec<String>) -> PyResult<()> {
    let _ = SERVER.set(Server {
        // The master started the zygote itself (fork and exec).
        masterpid: nix::unistd::getppid().as_raw(),
        mountpoints,
        chdir: config
            .chdir
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    });
    lock::create().map_err(|e| PyRuntimeError::new_err(format!("uwsgi.lock(): {e}")))?;
    let m = PyModule::new(py, "uwsgi")?;
    m.add_function(wrap_pyfunction!(worker_id, &m)?)?;
    m.add_function(wrap_pyfunction!(masterpid, &m)?)?;
    m.add_function(wrap_pyfunction!(total_requests, &m)?)?;
    m.add_function(wrap_pyfunction!(workers, &m)?)?;
    m.add_function(wrap_pyfunction!(reload, &m)?)?;
    m.add_function(wrap_pyfunction!(log, &m)?)?;
    m.add_function(wrap_pyfunction!(logvars::set_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(logvars::get_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(lock::lock, &m)?)?;
    m.add_function(wrap_pyfunction!(lock::unlock, &m)?)?;
    m.add_function(wrap_pyfunction!(harakiri::set_user_harakiri, &m)?)?;
    m.add_function(wrap_pyfunction!(schedule::add_timer, &m)?)?;
    m.add_function(wrap_pyfunction!(schedule::add_cron, &m)?)?;
    m.add_function(wrap_pyfunction!(mule_id, &m)?)?;
    m.add_function(wrap_pyfunction!(i_am_the_spooler, &m)?)?;
    m.add_function(wrap_pyfunction!(absent, &m)?)?;
    m.add("numproc", config.processes)?;
    m.add("cores", config.threads.max(1))?;
    m.add("has_threads", i32::from(config.enable_threads))?;
    m.add("buffer_size", config.buffer_size)?;
    m.add("opt", opt_dict(py, config)?)?;
    m.add("started_on", rsgi_core::stats::region::now_us() / 1_000_000)?;
    // Bytes, as uWSGI 2.0 gives them on Python 3 (PyString is PyBytes there).
    let (base, major, minor) = UWSGI_VERSION;
    let custom = format!("rsgi-{}", rsgi_core::ipc::handoff::VERSION);
    m.add(
        "version",
        PyBytes::new(py, format!("{base}.{major}.{minor}-{custom}").as_bytes()),
    )?;
    m.add(
        "version_info",
        PyTuple::new(
            py,
            [
                base.into_pyobject(py)?.into_any(),
                major.into_pyobject(py)?.into_any(),
                minor.into_pyobject(py)?.into_any(),
                0u32.into_pyobject(py)?.into_any(),
                PyBytes::new(py, custom.as_bytes()).into_any(),
            ],
        )?,
    )?;
    // gethostname(2) reads the same (this namespace's UTS name).
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    m.add("hostname", PyBytes::new(py, hostname.as_bytes()))?;
    let sys_modules = py.import("sys")?.getattr("modules")?;
    sys_modules.set_item("uwsgi", &m)?;
    let source = CString::new(DECORATORS).map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyModule::from_code(py, &source, c"uwsgidecorators.py", c"uwsgidecorators")?;
    Ok(())
}

/// In a new worker, first thing: who it is, and the scheduled functions
/// the zygote registered for it.
pub fn enter_worker(id: usize, region: Option<Arc<Region>>) {
    let _ = WORKER.set(Worker { id, region });
    schedule::start_for_worker(id);
}

/// In a new worker, once its apps are loaded: the app's post-fork hook
/// (`uwsgi.post_fork_hook`, which `@postfork` fills), as uWSGI calls it.
pub fn run_post_fork_hooks(py: Python<'_>) {
    let Ok(module) = py.import("uwsgi") else {
        return;
    };
    if let Ok(hook) = module.getattr("post_fork_hook")
        && let Err(e) = hook.call0()
    {
        tracing::error!(
            worker = current_worker(),
            "the app's post-fork hook failed: {}",
            crate::wsgi::traceback_text(py, &e)
        );
    }
}

/// `uwsgi.atexit`, if the app set it: called when a worker stops
/// gracefully, before Python's own atexit handlers (as uWSGI does).
pub fn run_atexit(py: Python<'_>) {
    let Ok(module) = py.import("uwsgi") else {
        return;
    };
    if let Ok(hook) = module.getattr("atexit")
        && let Err(e) = hook.call0()
    {
        tracing::error!(
            "uwsgi.atexit failed: {}",
            crate::wsgi::traceback_text(py, &e)
        );
    }
}

/// The worker id of this process (0 outside a worker, as in uWSGI's
/// master).
pub fn current_worker() -> usize {
    WORKER.get().map_or(0, |w| w.id)
}

/// `uwsgi.opt`: str keys; bytes values (uWSGI 2.0 on Python 3), `True`
/// for a switch given without a value, a list for a repeated key.
fn opt_dict<'py>(py: Python<'py>, config: &Config) -> PyResult<Bound<'py, PyDict>> {
    let value = |v: Option<&str>| match v {
        Some(v) => PyBytes::new(py, v.as_bytes()).into_any(),
        None => pyo3::types::PyBool::new(py, true).to_owned().into_any(),
    };
    let dict = PyDict::new(py);
    for (key, v) in opt_view(&config.exported) {
        match v {
            OptValue::One(v) => dict.set_item(key, value(v))?,
            OptValue::Many(all) => {
                dict.set_item(key, PyList::new(py, all.into_iter().map(value))?)?
            }
        }
    }
    Ok(dict)
}

#[pyfunction]
fn worker_id() -> usize {
    current_worker()
}

#[pyfunction]
fn masterpid() -> i32 {
    SERVER.get().map_or(0, |s| s.masterpid)
}

/// This worker's generation can see only what the stats region holds:
/// the requests of every live worker process.
#[pyfunction]
fn total_requests() -> u64 {
    WORKER
        .get()
        .and_then(|w| w.region.as_ref())
        .map_or(0, |r| r.total_requests())
}

/// `uwsgi.workers()`: a tuple with a dict per running worker process, in
/// uWSGI's shape. During a rolling reload the old and the new process
/// of a worker id are both listed. `signals`, `respawn_count` and
/// `last_spawn` are 0: rsgi has no signals, and only the master counts
/// respawns.
#[pyfunction]
fn workers(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let Some(region) = WORKER.get().and_then(|w| w.region.clone()) else {
        return PyTuple::new(py, Vec::<Bound<'_, PyDict>>::new());
    };
    let server = SERVER.get();
    let mut rows = Vec::new();
    for index in 0..SLOTS {
        let slot = region.slot(index);
        let status = slot.status();
        let pid = slot.pid.load(Relaxed);
        if status == Status::Free || pid == 0 {
            continue;
        }
        let load = |c: &AtomicU64| c.load(Relaxed);
        let requests = load(&slot.requests);
        let (rss, vsz) = memory(pid);
        let d = PyDict::new(py);
        d.set_item("id", slot.worker_id.load(Relaxed))?;
        d.set_item("pid", pid)?;
        d.set_item("requests", requests)?;
        d.set_item("delta_requests", requests)?;
        d.set_item("signals", 0)?;
        d.set_item("exceptions", load(&slot.exceptions))?;
        d.set_item("status", PyBytes::new(py, status.name().as_bytes()))?;
        d.set_item("rss", rss)?;
        d.set_item("vsz", vsz)?;
        d.set_item("running_time", load(&slot.rt_total_us))?;
        d.set_item("last_spawn", 0)?;
        d.set_item("respawn_count", 0)?;
        d.set_item("tx", load(&slot.tx))?;
        d.set_item(
            "avg_rt",
            load(&slot.rt_total_us).checked_div(requests).unwrap_or(0),
        )?;
        let mut apps = Vec::new();
        for (i, mountpoint) in server
            .map(|s| s.mountpoints.as_slice())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let a = PyDict::new(py);
            a.set_item("id", i)?;
            a.set_item("modifier1", 0)?;
            a.set_item("mountpoint", PyBytes::new(py, mountpoint.as_bytes()))?;
            a.set_item("startup_time", 0)?;
            a.set_item("interpreter", 0)?;
            a.set_item("callable", 0)?;
            a.set_item("requests", slot.app_requests.get(i).map_or(0, load))?;
            a.set_item("exceptions", slot.app_exceptions.get(i).map_or(0, load))?;
            let chdir = server.map_or("", |s| s.chdir.as_str());
            a.set_item("chdir", PyBytes::new(py, chdir.as_bytes()))?;
            apps.push(a);
        }
        d.set_item("apps", PyTuple::new(py, apps)?)?;
        rows.push((slot.worker_id.load(Relaxed), pid, d));
    }
    rows.sort_by_key(|(id, pid, _)| (*id, *pid));
    PyTuple::new(py, rows.into_iter().map(|(_, _, d)| d))
}

/// Resident and virtual size of a process in bytes, from /proc.
fn memory(pid: u32) -> (u64, u64) {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let mut pages = statm
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (vsz, rss) = (pages.next().unwrap_or(0), pages.next().unwrap_or(0));
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    (rss * page, vsz * page)
}

/// `uwsgi.reload()`: a graceful reload, asked of the master with SIGHUP as
/// uWSGI does (the config is re-read, workers replaced one by one).
/// True once asked, None if the signal could not be sent.
#[pyfunction]
fn reload() -> Option<bool> {
    let pid = SERVER.get().map(|s| s.masterpid).filter(|&p| p > 1)?;
    let sent = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    );
    match sent {
        Ok(()) => Some(true),
        Err(e) => {
            tracing::error!(error = %e, "uwsgi.reload(): cannot signal the master");
            None
        }
    }
}

/// `uwsgi.log(msg)`: a line in the server's log.
#[pyfunction]
fn log(py: Python<'_>, message: &str) -> bool {
    let mut line = String::with_capacity(message.len() + 1);
    line.push_str(message);
    line.push('\n');
    py.detach(|| rsgi_core::logfile::STDERR.write(line.as_bytes()));
    true
}

/// Never a mule: rsgi has none.
#[pyfunction]
fn mule_id() -> usize {
    0
}

/// Never the spooler: rsgi has none.
#[pyfunction]
fn i_am_the_spooler() -> bool {
    false
}

/// uWSGI features rsgi does not have, by the names apps call, with what
/// to use instead.
const ABSENT: &[(&[&str], &str)] = &[
    (
        &[
            "spool",
            "spooler",
            "send_to_spooler",
            "spooler_jobs",
            "spooler_pid",
            "spooler_pids",
            "spooler_get_task",
            "set_spooler_frequency",
            "SPOOL_OK",
            "SPOOL_RETRY",
            "SPOOL_IGNORE",
        ],
        "uWSGI's spooler: run background jobs with a task queue (celery, rq)",
    ),
    (
        &[
            "cache_get",
            "cache_set",
            "cache_update",
            "cache_del",
            "cache_exists",
            "cache_clear",
            "cache_inc",
            "cache_dec",
            "cache_mul",
            "cache_div",
            "cache_keys",
            "cache_num",
        ],
        "uWSGI's caches: use redis or memcached (for Django, its cache framework)",
    ),
    (
        &[
            "mule_msg",
            "mule_get_msg",
            "mule_msg_hook",
            "farm_msg",
            "farm_get_msg",
            "in_farm",
            "install_mule_msg_hook",
        ],
        "uWSGI's mules: run the work in a separate process (attach-daemon, a systemd unit)",
    ),
    (
        &[
            "register_signal",
            "signal",
            "signal_registered",
            "signal_wait",
            "signal_received",
            "add_timer",
            "add_ms_timer",
            "add_rb_timer",
            "add_cron",
            "add_file_monitor",
        ],
        "uWSGI's signal framework: use uwsgidecorators' @timer and @cron, or a thread",
    ),
];

/// The module's `__getattr__` (PEP 562): a name uWSGI has and rsgi does
/// not is an AttributeError that says why (so `hasattr` still answers
/// False).
#[pyfunction]
#[pyo3(name = "__getattr__")]
fn absent(name: &str) -> PyResult<Py<PyAny>> {
    Err(
        match ABSENT.iter().find(|(names, _)| names.contains(&name)) {
            Some((_, instead)) => PyAttributeError::new_err(format!(
                "uwsgi.{name} is not available under rsgi, which does not have {instead} \
             (see 'Moving from uWSGI' in rsgi's README)"
            )),
            None => PyAttributeError::new_err(format!("module 'uwsgi' has no attribute '{name}'")),
        },
    )
}
