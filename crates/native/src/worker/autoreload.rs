//! `py-autoreload N` (development): a Python daemon thread in worker 1
//! checks every N seconds whether the file of any loaded module changed,
//! and asks the master for a rolling reload when one did.

use std::sync::Arc;

use pyo3::prelude::*;

use super::report::Reporter;

/// The callable the watcher thread calls with the changed file's path.
#[pyclass(module = "rsgi", name = "ReloadTrigger")]
struct ReloadTrigger {
    reporter: Arc<Reporter>,
}

#[pymethods]
impl ReloadTrigger {
    /// The first scan is done: edits from now on are seen.
    fn watching(&self, files: usize) {
        tracing::info!(files, "py-autoreload: watching the loaded modules");
    }

    fn __call__(&self, changed: &str) {
        tracing::info!(file = changed, "py-autoreload: a module changed");
        self.reporter
            .request_reload(&format!("py-autoreload: {changed} changed"));
    }
}

const WATCHER: &std::ffi::CStr = c"
import os, sys, threading, time

def _rsgi_autoreload(interval, trigger):
    def mtimes():
        seen = {}
        for module in list(sys.modules.values()):
            path = getattr(module, '__file__', None)
            if path and os.path.exists(path):
                seen[path] = os.stat(path).st_mtime
        return seen
    def watch():
        known = mtimes()
        trigger.watching(len(known))
        while True:
            time.sleep(interval)
            for path, mtime in mtimes().items():
                if known.get(path, mtime) != mtime:
                    trigger(path)
                    return
    threading.Thread(target=watch, name='rsgi-autoreload', daemon=True).start()
";

/// Start the watcher thread (call with the GIL held, in one worker only).
pub fn start(py: Python<'_>, interval_secs: u64, reporter: Arc<Reporter>) -> PyResult<()> {
    let globals = pyo3::types::PyDict::new(py);
    py.run(WATCHER, Some(&globals), None)?;
    let trigger = Py::new(py, ReloadTrigger { reporter })?;
    let start = globals
        .get_item("_rsgi_autoreload")?
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("autoreload watcher missing"))?;
    start.call1((interval_secs.max(1), trigger))?;
    Ok(())
}
