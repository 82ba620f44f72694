//! `wsgi.errors`: a text stream into the server's log.

use std::io::Write;

use pyo3::prelude::*;

#[pyclass(module = "rsgi", name = "ErrorStream")]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    fn write(&self, s: &str) -> usize {
        // stderr is the log destination (logto redirects fd 2); one write
        // call per message keeps lines from several workers whole.
        let _ = std::io::stderr().lock().write_all(s.as_bytes());
        s.len()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(line?.extract::<&str>()?);
        }
        Ok(())
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}
