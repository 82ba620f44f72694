//! Python's ways into the server's log: `wsgi.errors`, and the app's
//! `sys.stdout` / `sys.stderr`. All of them write through
//! [`rsgi_core::logfile`], so a full log disk or a stalled log reader costs
//! the app nothing: the lines are dropped and counted, never raised as an
//! `OSError` into a request, and a slow reader is waited for with the GIL
//! released.

use pyo3::prelude::*;

use rsgi_core::logger;

#[pyclass(module = "rsgi", name = "ErrorStream")]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    fn write(&self, py: Python<'_>, s: &str) -> usize {
        // One write per message keeps lines from several workers whole.
        py.detach(|| logger::app_output(logger::Stream::Stderr, s.as_bytes()));
        s.len()
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(py, &line?.extract::<String>()?);
        }
        Ok(())
    }

    fn flush(&self) {}
}

/// Write `data` to the standard descriptor `fd` (1 or 2) of this process.
#[pyfunction]
fn write_standard(py: Python<'_>, fd: i32, data: &[u8]) -> usize {
    match fd {
        libc::STDOUT_FILENO => py.detach(|| logger::app_output(logger::Stream::Stdout, data)),
        libc::STDERR_FILENO => py.detach(|| logger::app_output(logger::Stream::Stderr, data)),
        _ => {}
    }
    data.len()
}

/// Text streams like the ones Python made at start (same encoding,
/// errors and buffering), over a raw stream that writes through rsgi.
/// The old streams are flushed first, so nothing printed so far is lost
/// or, after a fork, written twice.
const STDIO: &std::ffi::CStr = cr#"
import io, os, sys

class LogStream(io.RawIOBase):
    """File descriptor 1 or 2, written by rsgi: what cannot be written is
    dropped and counted in the log instead of raised into the app."""

    def __init__(self, fd, write):
        super().__init__()
        self._fd = fd
        self._write = write

    def writable(self):
        return True

    def fileno(self):
        return self._fd

    def isatty(self):
        try:
            return os.isatty(self._fd)
        except OSError:
            return False

    def write(self, b):
        return self._write(self._fd, bytes(b))


def install(write):
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        if old is None:
            continue
        try:
            old.flush()
        except (OSError, ValueError):
            pass
        raw = LogStream(fd, write)
        unbuffered = isinstance(getattr(old, "buffer", None), io.RawIOBase)
        new = io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw),
            encoding=getattr(old, "encoding", None) or "utf-8",
            errors=getattr(old, "errors", None) or "backslashreplace",
            line_buffering=getattr(old, "line_buffering", name == "stderr"),
            write_through=getattr(old, "write_through", unbuffered),
        )
        setattr(sys, name, new)
        setattr(sys, "__%s__" % name, new)
"#;

/// Replace `sys.stdout` and `sys.stderr` (and their `__std*__` twins)
/// with streams that write through [`rsgi_core::logfile`]. Done once in the
/// zygote, before the app is imported; workers inherit them.
pub fn install_stdio(py: Python<'_>) -> PyResult<()> {
    let module = PyModule::from_code(py, STDIO, c"rsgi_stdio.py", c"rsgi_stdio")?;
    let write = wrap_pyfunction!(write_standard, &module)?;
    module.getattr("install")?.call1((write,))?;
    Ok(())
}

/// Flush `sys.stdout` and `sys.stderr`. Before a fork, so that what the
/// zygote printed is not written again by every worker; at a worker's exit,
/// so that a last `print` without a newline is not lost. A failed flush is
/// the log writer's loss, already counted (and a stream the app closed or
/// set to None has nothing to flush).
pub fn flush_stdio(py: Python<'_>) {
    let Ok(sys) = py.import("sys") else { return };
    for name in ["stdout", "stderr"] {
        let _ = sys
            .getattr(name)
            .and_then(|stream| stream.call_method0("flush"));
    }
    logger::flush_app_output();
}
