//! `wsgi.input`: a file-like over a request body that the I/O runtime has
//! already read in full (into memory, or spooled to an unlinked temp file),
//! so no method here ever waits on a client and none can read past the body.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use pyo3::exceptions::{PyIOError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// A complete request body.
#[derive(Debug)]
pub enum Body {
    Memory(Vec<u8>),
    /// Spooled to disk; `len` bytes from offset 0.
    File {
        file: File,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(v) => v.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Source {
    Memory { data: Vec<u8>, pos: usize },
    File(BufReader<File>),
}

#[pyclass(module = "rsgi", name = "Input")]
pub struct Input {
    source: Source,
}

/// An empty body (a kept spare holds no request's data).
impl Default for Input {
    fn default() -> Input {
        Input {
            source: Source::Memory {
                data: Vec::new(),
                pos: 0,
            },
        }
    }
}

impl Input {
    pub fn new(body: Body) -> std::io::Result<Input> {
        let source = match body {
            Body::Memory(data) => Source::Memory { data, pos: 0 },
            Body::File { mut file, .. } => {
                file.seek(SeekFrom::Start(0))?;
                Source::File(BufReader::with_capacity(64 * 1024, file))
            }
        };
        Ok(Input { source })
    }

    /// Up to `limit` bytes (all when None).
    fn read_bytes(&mut self, limit: Option<usize>) -> std::io::Result<Vec<u8>> {
        match &mut self.source {
            Source::Memory { data, pos } => {
                let rest = &data[*pos..];
                let n = limit.map_or(rest.len(), |l| l.min(rest.len()));
                let out = rest[..n].to_vec();
                *pos += n;
                Ok(out)
            }
            Source::File(reader) => {
                let mut out = Vec::new();
                match limit {
                    Some(l) => {
                        reader.by_ref().take(l as u64).read_to_end(&mut out)?;
                    }
                    None => {
                        reader.read_to_end(&mut out)?;
                    }
                }
                Ok(out)
            }
        }
    }

    /// One line including its `\n`, at most `limit` bytes.
    fn read_line(&mut self, limit: Option<usize>) -> std::io::Result<Vec<u8>> {
        match &mut self.source {
            Source::Memory { data, pos } => {
                let rest = &data[*pos..];
                let max = limit.map_or(rest.len(), |l| l.min(rest.len()));
                let n = rest[..max]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(max, |i| i + 1);
                let out = rest[..n].to_vec();
                *pos += n;
                Ok(out)
            }
            Source::File(reader) => {
                let mut out = Vec::new();
                loop {
                    let room = limit.map_or(usize::MAX, |l| l - out.len());
                    if room == 0 {
                        break;
                    }
                    let buf = reader.fill_buf()?;
                    if buf.is_empty() {
                        break;
                    }
                    let window = &buf[..buf.len().min(room)];
                    match window.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            out.extend_from_slice(&window[..=i]);
                            reader.consume(i + 1);
                            break;
                        }
                        None => {
                            let n = window.len();
                            out.extend_from_slice(window);
                            reader.consume(n);
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// PEP 3333 lets apps pass `size=None` or a negative size for "all".
fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

fn io_err(e: std::io::Error) -> PyErr {
    PyIOError::new_err(format!("reading the request body failed: {e}"))
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.read_bytes(limit(size)).map_err(io_err)?;
        Ok(PyBytes::new(py, &data))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.read_line(limit(size)).map_err(io_err)?;
        Ok(PyBytes::new(py, &data))
    }

    /// `hint` stops reading lines once that many bytes were returned.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = limit(hint).filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let line = self.read_line(None).map_err(io_err)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let line = self.read_line(None).map_err(io_err)?;
        if line.is_empty() {
            return Err(PyStopIteration::new_err(()));
        }
        Ok(PyBytes::new(py, &line))
    }

    fn readable(&self) -> bool {
        true
    }

    fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(data: &[u8]) -> Input {
        Input::new(Body::Memory(data.to_vec())).expect("memory body")
    }

    fn file(data: &[u8]) -> Input {
        use std::io::Write;
        let dir = std::env::temp_dir();
        let mut f = tempfile_in(&dir);
        f.write_all(data).expect("write temp");
        Input::new(Body::File {
            file: f,
            len: data.len() as u64,
        })
        .expect("file body")
    }

    fn tempfile_in(dir: &std::path::Path) -> File {
        let path = dir.join(format!(
            "rsgi-input-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("temp file");
        let _ = std::fs::remove_file(&path);
        f
    }

    #[test]
    fn reads_lines_and_sizes_alike_from_memory_and_file() {
        let data = b"one\ntwo\nthree";
        for mut input in [memory(data), file(data)] {
            assert_eq!(input.read_line(Some(2)).unwrap(), b"on");
            assert_eq!(input.read_line(None).unwrap(), b"e\n");
            assert_eq!(input.read_bytes(Some(3)).unwrap(), b"two");
            assert_eq!(input.read_line(None).unwrap(), b"\n");
            assert_eq!(input.read_bytes(None).unwrap(), b"three");
            assert_eq!(input.read_bytes(None).unwrap(), b"");
            assert_eq!(input.read_line(None).unwrap(), b"");
        }
    }

    #[test]
    fn negative_and_missing_sizes_mean_everything() {
        assert_eq!(limit(None), None);
        assert_eq!(limit(Some(-1)), None);
        assert_eq!(limit(Some(5)), Some(5));
    }
}
