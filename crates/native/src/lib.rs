//! rsgi's Python extension: the zygote, the workers and PEP 3333.
//!
//! The master (a binary without Python) starts the app's own interpreter
//! with a bootstrap that loads this module by path and calls `zygote()`;
//! from there on the process is the zygote, and the workers it forks run
//! here too. The interpreter is whatever the app uses (a venv's python, a
//! static build): this module links no libpython, its Python symbols come
//! from the interpreter that loads it.
//!
//! - [`zygote`]: load the app once, fork workers on the master's command.
//! - [`worker`]: one worker: I/O runtime, connections, Python threads.
//! - [`wsgi`]: PEP 3333 over pyo3: app loading, environ, calling the app.
//! - [`uwsgi_api`]: the `uwsgi` and `uwsgidecorators` modules apps import.
//! - [`interpreter`]: preparing the interpreter and loading the apps.

mod interpreter;
mod uwsgi_api;
mod worker;
mod wsgi;
mod zygote;

use pyo3::prelude::*;

/// The Python ABI this file is built for (`abi3`, `cp311`, …), where the
/// master can read it without loading the file: it looks for these bytes.
/// Loading a build for another Python version would break that
/// interpreter, so the bootstrap only loads a file whose tag fits.
#[used]
static ABI_MARKER: &[u8] = concat!("\0rsgi-native-abi=", env!("RSGI_NATIVE_ABI"), "\0").as_bytes();

/// Become the zygote the master's handoff describes. Never returns: the
/// zygote and its workers end with the process, never back in the
/// bootstrap (where the app's interpreter would go on to finalise).
#[pyfunction]
#[pyo3(name = "zygote")]
fn become_zygote(py: Python<'_>, handoff: String) -> PyResult<()> {
    rsgi_core::logger::init_tracing();
    // The zygote's loop blocks on its control socket; Python threads the
    // app started at import must be able to run meanwhile.
    let status = py.detach(|| zygote::main(&handoff));
    std::process::exit(i32::from(status))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(become_zygote, m)?)?;
    m.add("__version__", rsgi_core::ipc::handoff::VERSION)?;
    m.add("ABI", env!("RSGI_NATIVE_ABI"))?;
    Ok(())
}
