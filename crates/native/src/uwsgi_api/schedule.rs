//! `@timer` and `@cron` of uwsgidecorators. uWSGI's master raises a signal
//! that one worker handles; here each function gets a thread in the
//! workers its target names, which calls it (with the number uWSGI would
//! pass as the signal) every `secs` seconds, or in each local minute its
//! cron entry matches. Functions registered while the zygote imports the
//! app start in each worker after the fork; functions registered in a
//! worker start at once.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use rsgi_core::config::cron::{CivilTime, Schedule};
use rsgi_core::cron::Target;

/// When a function runs.
#[derive(Clone, Copy)]
enum When {
    Every(Duration),
    Cron(Schedule),
}

struct Job {
    num: i64,
    func: Py<PyAny>,
    when: When,
    target: Target,
}

/// Registered in the zygote, started in each worker after the fork.
static REGISTERED: Mutex<Vec<Job>> = Mutex::new(Vec::new());

/// `uwsgidecorators.timer`: every `secs` seconds.
#[pyfunction]
#[pyo3(name = "_rsgi_add_timer")]
pub fn add_timer(num: i64, func: Py<PyAny>, secs: f64, target: &str) -> PyResult<()> {
    let period = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|p| !p.is_zero())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "a timer needs a positive number of seconds, not {secs:?}"
            ))
        })?;
    add(num, func, When::Every(period), target)
}

/// `uwsgidecorators.cron`: minute, hour, day, month, day of week.
#[pyfunction]
#[pyo3(name = "_rsgi_add_cron")]
pub fn add_cron(
    num: i64,
    func: Py<PyAny>,
    spec: (i32, i32, i32, i32, i32),
    target: &str,
) -> PyResult<()> {
    let (minute, hour, day, month, week) = spec;
    let cron = Schedule {
        minute,
        hour,
        day,
        month,
        week,
    };
    add(num, func, When::Cron(cron), target)
}

fn add(num: i64, func: Py<PyAny>, when: When, target: &str) -> PyResult<()> {
    let target = Target::parse(target).map_err(PyValueError::new_err)?;
    let job = Job {
        num,
        func,
        when,
        target,
    };
    match super::current_worker() {
        // In the zygote: for the workers it will fork.
        0 => {
            if let Ok(mut jobs) = REGISTERED.lock() {
                jobs.push(job);
            }
        }
        id if target.includes(id) => start(job),
        _ => {}
    }
    Ok(())
}

/// In a new worker: start what the zygote registered for it.
pub fn start_for_worker(id: usize) {
    let jobs = match REGISTERED.lock() {
        Ok(mut jobs) => std::mem::take(&mut *jobs),
        Err(_) => return,
    };
    for job in jobs.into_iter().filter(|j| j.target.includes(id)) {
        start(job);
    }
}

fn start(job: Job) {
    let spawned = std::thread::Builder::new()
        .name(format!("uwsgi-timer-{}", job.num))
        .spawn(move || run(job));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start a thread for a @timer or @cron function");
    }
}

/// Forever: wait for the next due time, call the function. The process's
/// exit ends the thread.
fn run(job: Job) {
    let mut next = Instant::now();
    loop {
        match job.when {
            When::Every(period) => {
                // A period past what the clock can count is never due.
                let Some(at) = next.checked_add(period) else {
                    return;
                };
                next = at;
                sleep_until(next);
            }
            When::Cron(cron) => loop {
                sleep_to_next_minute();
                if CivilTime::local(SystemTime::now()).is_some_and(|t| cron.matches(&t)) {
                    break;
                }
            },
        }
        Python::attach(|py| {
            if let Err(e) = job.func.call1(py, (job.num,)) {
                tracing::error!(
                    "a @timer or @cron function failed: {}",
                    crate::wsgi::traceback_text(py, &e)
                );
            }
        });
        // A function slower than its period runs again at once, not in a
        // burst of every period it missed.
        next = next.max(Instant::now());
    }
}

fn sleep_until(at: Instant) {
    if let Some(wait) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// Sleep into the first second of the next wall-clock minute.
fn sleep_to_next_minute() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let into_minute = now.as_millis() % 60_000;
    let wait = 60_000 - into_minute as u64;
    std::thread::sleep(Duration::from_millis(wait + 1));
}
