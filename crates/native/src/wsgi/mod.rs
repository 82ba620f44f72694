//! PEP 3333 over pyo3: loading apps, building the environ, calling the app
//! and driving its response into the worker's writer.
//!
//! - [`app`]: virtualenv, sys.path, `wsgi-file` / `module` → the callable.
//! - [`environ`]: the environ dict, with keys and constants made once.
//! - [`input`]: `wsgi.input` over a fully buffered body.
//! - [`call`]: `start_response`, the response iterable, `close()`, faults.
//! - [`spare`]: `start_response` and `wsgi.input` reused when the app
//!   kept no reference to them.
//! - [`file_wrapper`], [`errors`]: `wsgi.file_wrapper`, `wsgi.errors`.

pub mod app;
pub mod call;
pub mod environ;
pub mod errors;
pub mod file_wrapper;
pub mod input;
pub mod spare;

use pyo3::prelude::*;

/// The traceback of a Python exception as the interpreter would print it.
pub fn traceback_text(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?
        .extract::<Vec<String>>()
    });
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => err.to_string(),
    }
}
