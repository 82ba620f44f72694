//! `uwsgi.lock()` / `uwsgi.unlock()` (and `@lock`): one lock shared by
//! every thread of every worker of a generation, as uWSGI's lock 0 is (a
//! process-shared mutex in shared memory, core/lock.c). It is robust: a
//! worker that dies holding it (harakiri, kill -9) leaves it to the next
//! taker instead of blocking everyone. uWSGI's `locks` option (more
//! locks) is not supported, so only lock 0 exists.

use std::sync::OnceLock;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// The mutex, in a page shared by the zygote and every worker it forks.
struct Shared(*mut libc::pthread_mutex_t);

// SAFETY: the pointer is to a process-shared pthread mutex, made for
// concurrent use; it is never freed (the mapping lives as long as the
// process).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

static LOCK: OnceLock<Shared> = OnceLock::new();

/// Map the shared page and initialise the mutex; in the zygote, before
/// any fork.
pub fn create() -> std::io::Result<()> {
    if LOCK.get().is_some() {
        return Ok(());
    }
    let size = std::mem::size_of::<libc::pthread_mutex_t>();
    // SAFETY: an anonymous shared mapping; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let mutex = ptr.cast::<libc::pthread_mutex_t>();
    // SAFETY: `attr` is initialised before use and destroyed after;
    // `mutex` points to fresh writable memory of the right size and
    // alignment (a page).
    let status = unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        let mut status = libc::pthread_mutexattr_init(&mut attr);
        if status == 0 {
            status = libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        }
        if status == 0 {
            status = libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        }
        if status == 0 {
            status = libc::pthread_mutex_init(mutex, &attr);
        }
        libc::pthread_mutexattr_destroy(&mut attr);
        status
    };
    if status != 0 {
        return Err(std::io::Error::from_raw_os_error(status));
    }
    let _ = LOCK.set(Shared(mutex));
    Ok(())
}

fn the_lock(num: u32) -> PyResult<&'static Shared> {
    if num != 0 {
        return Err(PyValueError::new_err(format!(
            "uwsgi lock {num}: rsgi has one lock, 0 (uWSGI's `locks` option is not supported)"
        )));
    }
    LOCK.get()
        .ok_or_else(|| PyRuntimeError::new_err("uwsgi.lock() is not set up in this process"))
}

/// Take the lock, waiting with the GIL released.
#[pyfunction]
#[pyo3(signature = (num = 0))]
pub fn lock(py: Python<'_>, num: u32) -> PyResult<()> {
    let shared = the_lock(num)?;
    let mutex = shared.0 as usize;
    // SAFETY: a valid, initialised process-shared mutex.
    let status =
        py.detach(move || unsafe { libc::pthread_mutex_lock(mutex as *mut libc::pthread_mutex_t) });
    match status {
        0 => Ok(()),
        // Its holder died: the state it guarded may be half-updated, as
        // with uWSGI's robust lock; the lock itself is good again.
        libc::EOWNERDEAD => {
            tracing::warn!("uwsgi.lock(): its last holder died holding it");
            // SAFETY: we hold the mutex (EOWNERDEAD means we got it).
            unsafe { libc::pthread_mutex_consistent(shared.0) };
            Ok(())
        }
        e => Err(PyRuntimeError::new_err(format!(
            "uwsgi.lock(): {}",
            std::io::Error::from_raw_os_error(e)
        ))),
    }
}

/// Release the lock; only the thread that took it may.
#[pyfunction]
#[pyo3(signature = (num = 0))]
pub fn unlock(num: u32) -> PyResult<()> {
    let shared = the_lock(num)?;
    // SAFETY: a valid, initialised mutex; unlocking one we do not hold
    // is reported (EPERM: robust mutexes check the owner), not undefined.
    match unsafe { libc::pthread_mutex_unlock(shared.0) } {
        0 => Ok(()),
        e => Err(PyRuntimeError::new_err(format!(
            "uwsgi.unlock(): {} (unlock from the thread that called uwsgi.lock())",
            std::io::Error::from_raw_os_error(e)
        ))),
    }
}
