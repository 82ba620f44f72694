//! `uwsgi.set_user_harakiri(secs)` (and `@harakiri(secs)`): if the calling
//! thread has not cleared it (`set_user_harakiri(0)`) within `secs`, the
//! worker is killed, as uWSGI's master kills a worker past its user
//! harakiri. A thread of the worker watches, so it works while Python is
//! stuck holding the GIL: it logs, has every Python thread's traceback
//! written (the signal `faulthandler` listens to, as harakiri does), and
//! kills the process; the master replaces it. Only in workers: the
//! zygote is never killed by it.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// How long the traceback gets to be written before the kill.
const TRACEBACK_GRACE: Duration = Duration::from_millis(500);

struct Watch {
    /// Per thread: when it is killed, and the seconds it was given.
    deadlines: Mutex<HashMap<ThreadId, (Instant, u64)>>,
    changed: Condvar,
}

static WATCH: OnceLock<Watch> = OnceLock::new();

/// Arm (secs > 0) or clear (0) the calling thread's user harakiri.
#[pyo3::pyfunction]
pub fn set_user_harakiri(secs: u64) {
    if super::current_worker() == 0 {
        return;
    }
    let watch = WATCH.get_or_init(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("user-harakiri".into())
            .spawn(watchdog)
        {
            tracing::error!(error = %e, "cannot start the @harakiri watchdog");
        }
        Watch {
            deadlines: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }
    });
    let Ok(mut deadlines) = watch.deadlines.lock() else {
        return;
    };
    let me = std::thread::current().id();
    // A limit too far to reach (past what Instant holds) is none.
    match Instant::now().checked_add(Duration::from_secs(secs)) {
        Some(at) if secs > 0 => deadlines.insert(me, (at, secs)),
        _ => deadlines.remove(&me),
    };
    watch.changed.notify_one();
}

fn watchdog() {
    // The OnceLock is set by the thread that started us, right after.
    let watch = loop {
        if let Some(w) = WATCH.get() {
            break w;
        }
        std::thread::yield_now();
    };
    let Ok(mut deadlines) = watch.deadlines.lock() else {
        return;
    };
    loop {
        let now = Instant::now();
        if let Some((_, secs)) = deadlines.values().find(|(at, _)| *at <= now) {
            kill_worker(*secs);
        }
        let wait = deadlines
            .values()
            .map(|(at, _)| at.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(3600));
        deadlines = match watch.changed.wait_timeout(deadlines, wait) {
            Ok((d, _)) => d,
            Err(_) => return,
        };
    }
}

fn kill_worker(secs: u64) -> ! {
    let pid = std::process::id();
    tracing::error!(
        worker = super::current_worker(),
        pid,
        "HARAKIRI: a call under @harakiri({secs}) / uwsgi.set_user_harakiri({secs}) ran longer than {secs} s; killing the worker"
    );
    // SAFETY: raising a signal this worker's faulthandler handles, then
    // SIGKILL to ourselves; no memory is involved.
    unsafe {
        libc::raise(rsgi_core::ipc::traceback_signal());
        std::thread::sleep(TRACEBACK_GRACE);
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL cannot be caught; this is not reached.
    std::process::abort()
}
