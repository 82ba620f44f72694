//! Logvars: values the app sets for the request it is serving
//! (`uwsgi.set_logvar`) and the request log shows as `%(name)`. Each
//! Python thread serves one request at a time, so they live with the
//! thread, cleared when a request starts and taken when it ends.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

thread_local! {
    static LOGVARS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// A request starts on this thread: nothing set yet.
pub fn begin() {
    LOGVARS.with(|v| v.borrow_mut().clear());
}

/// The request on this thread ended: what it set, for its log line.
pub fn take() -> Vec<(String, String)> {
    LOGVARS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// Set (or replace) a logvar of the current request.
#[pyfunction]
pub fn set_logvar(key: &str, value: &str) {
    LOGVARS.with(|v| {
        let mut vars = v.borrow_mut();
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = value.to_string(),
            None => vars.push((key.to_string(), value.to_string())),
        }
    });
}

/// A logvar of the current request, as bytes (uWSGI on Python 3), or None.
#[pyfunction]
pub fn get_logvar<'py>(py: Python<'py>, key: &str) -> Option<Bound<'py, PyBytes>> {
    LOGVARS.with(|v| {
        v.borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| PyBytes::new(py, value.as_bytes()))
    })
}
