//! `wsgi.file_wrapper`: lets the server send a file with `sendfile(2)`
//! when the object has a real file descriptor, and iterate it otherwise.

use std::os::fd::RawFd;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

#[pyclass(module = "rsgi", name = "FileWrapper")]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

impl FileWrapper {
    /// The descriptor and current offset to `sendfile` from, when the
    /// object is backed by a regular file.
    pub fn sendfile_source(&self, py: Python<'_>) -> Option<(RawFd, u64)> {
        let obj = self.filelike.bind(py);
        let fd: RawFd = obj.call_method0("fileno").ok()?.extract().ok()?;
        // SAFETY: fstat writes into the zeroed struct we own; an invalid fd
        // is reported through the return value, not undefined behaviour.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        // A size of 0 is what procfs reports for files that have content:
        // sendfile would send nothing, reading finds the content.
        if st.st_size == 0 {
            return None;
        }
        // A buffered Python file may have read ahead: tell() is where the
        // app's view of the file stands.
        let offset = match obj.call_method0("tell") {
            Ok(pos) => pos.extract::<u64>().ok()?,
            Err(_) => 0,
        };
        Some((fd, offset))
    }
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        if data.is_empty()? {
            return Err(PyStopIteration::new_err(()));
        }
        Ok(data)
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let obj = self.filelike.bind(py);
        if let Some(close) = obj.getattr_opt("close")? {
            close.call0()?;
        }
        Ok(())
    }
}
