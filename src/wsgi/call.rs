//! One WSGI call: `app(environ, start_response)`, then the response iterable
//! driven into a [`Sink`] (the worker's writer for this connection).
//!
//! PEP 3333 rules enforced here: headers go out with the first non-empty
//! body chunk (or at the end), `exc_info` replaces an unsent response and is
//! re-raised once headers are out, `close()` is always called, and an app
//! that breaks the protocol gets a 500 and one log line naming the fix.

use std::borrow::Cow;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::file_wrapper::FileWrapper;

/// Why the response could not be written to the client.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the client went away: {0}")]
    Gone(#[from] std::io::Error),
    #[error("the client stopped reading for longer than socket-timeout")]
    Timeout,
}

pub use crate::protocol::response::HeaderPair;

/// The connection side of a response. Implemented by the worker, which
/// owns framing (Content-Length, chunked, HEAD) and the socket.
pub trait Sink {
    /// Queue the status line and headers; called exactly once.
    fn head(
        &mut self,
        status: &[u8],
        code: u16,
        headers: &[HeaderPair<'_>],
    ) -> Result<(), SinkError>;
    /// Queue body bytes.
    fn body(&mut self, chunk: &[u8]) -> Result<(), SinkError>;
    /// Send what is queued now (streaming responses), waiting with the GIL
    /// released if the client is slow.
    fn flush(&mut self, py: Python<'_>) -> Result<(), SinkError>;
    /// Send `len` bytes (to EOF when None) of a file from `offset`, zero-copy.
    fn file(
        &mut self,
        py: Python<'_>,
        fd: RawFd,
        offset: u64,
        len: Option<u64>,
    ) -> Result<(), SinkError>;
    /// The response is complete.
    fn finish(&mut self, py: Python<'_>) -> Result<(), SinkError>;
}

/// What happened, for the request log and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// The app raised, or broke PEP 3333.
    pub exception: bool,
    /// The response reached the client whole.
    pub complete: bool,
}

/// `start_response`, and the state a response builds up before it is sent.
#[pyclass(module = "rsgi", name = "StartResponse")]
pub struct StartResponse {
    status: Option<(u16, Py<PyString>)>,
    headers: Vec<(Py<PyString>, Py<PyString>)>,
    headers_sent: bool,
    /// Bytes given to the legacy `write()` callable, sent before the iterable's.
    written: Vec<u8>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        mut slf: PyRefMut<'_, Self>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let exc_info = exc_info.filter(|e| !e.is_none());
        if let Some(info) = exc_info {
            if slf.headers_sent {
                // PEP 3333: "if exc_info is provided, and the HTTP headers
                // have already been sent, start_response must raise an error,
                // and should re-raise using the exc_info tuple."
                let value = info.get_item(1)?;
                return Err(PyErr::from_value(value));
            }
        } else if slf.status.is_some() {
            return Err(PyValueError::new_err(
                "start_response() was called twice without exc_info; \
                 call it once per response (pass exc_info=sys.exc_info() to replace a response on error)",
            ));
        }
        let parsed_status = parse_status(status)?;
        let parsed_headers = parse_headers(headers)?;
        slf.status = Some(parsed_status);
        slf.headers = parsed_headers;
        Ok(slf
            .into_pyobject(py)?
            .getattr(pyo3::intern!(py, "write"))?
            .unbind())
    }

    /// The legacy `write(data)` callable that `start_response` returns.
    fn write(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = body_bytes(data)?;
        self.written.extend_from_slice(&bytes);
        Ok(())
    }
}

fn parse_status(status: &Bound<'_, PyAny>) -> PyResult<(u16, Py<PyString>)> {
    let Ok(s) = status.cast::<PyString>() else {
        let hint = if status.is_instance_of::<PyBytes>() {
            "; WSGI statuses are native str: use '200 OK', not b'200 OK'"
        } else {
            ""
        };
        return Err(PyTypeError::new_err(format!(
            "the status must be a str like '200 OK', got {}{hint}",
            type_name(status)
        )));
    };
    let text = s.to_str()?;
    let code = validate_status(text).ok_or_else(|| {
        PyValueError::new_err(format!(
            "invalid status {text:?}: it must be three digits, a space and a reason phrase, like '200 OK'"
        ))
    })?;
    Ok((code, s.clone().unbind()))
}

/// `"200 OK"` → 200. RFC 9112: status-line = HTTP-version SP status-code SP
/// [ reason-phrase ]; reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
pub fn validate_status(status: &str) -> Option<u16> {
    let b = status.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 3 && b[3] != b' ' {
        return None;
    }
    if b.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0) {
        return None;
    }
    let code = status[..3].parse::<u16>().ok()?;
    (100..=999).contains(&code).then_some(code)
}

fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(Py<PyString>, Py<PyString>)>> {
    let bad = || {
        PyTypeError::new_err(format!(
            "response headers must be a list of (str, str) tuples, got {}",
            type_name(headers)
        ))
    };
    if headers.is_instance_of::<PyString>() || headers.is_instance_of::<PyDict>() {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(headers.len().unwrap_or(4));
    for item in headers.try_iter().map_err(|_| bad())? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "each response header must be a (name, value) tuple of str, got {}",
                    item.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
        let name = pair.get_item(0)?;
        let value = pair.get_item(1)?;
        let (Ok(name), Ok(value)) = (name.cast::<PyString>(), value.cast::<PyString>()) else {
            return Err(PyTypeError::new_err(format!(
                "response header {} must be (str, str); got ({}, {}); WSGI headers are native str, not bytes or numbers",
                pair.repr().map(|r| r.to_string()).unwrap_or_default(),
                type_name(&pair.get_item(0)?),
                type_name(&pair.get_item(1)?),
            )));
        };
        let n = name.to_str()?;
        if !is_token(n.as_bytes()) {
            return Err(PyValueError::new_err(format!(
                "invalid response header name {n:?}: names are tokens (letters, digits, !#$%&'*+-.^_`|~)"
            )));
        }
        let v = value.to_str()?;
        // A CR or LF here would let a value start a new header or a new
        // response (response splitting); RFC 9110 5.5 forbids them.
        if v.chars()
            .any(|c| c == '\r' || c == '\n' || c == '\0' || c as u32 > 255)
        {
            return Err(PyValueError::new_err(format!(
                "invalid value for response header {n:?}: it contains CR, LF, NUL or a character outside latin-1"
            )));
        }
        out.push((name.clone().unbind(), value.clone().unbind()));
    }
    Ok(out)
}

/// RFC 9110 5.6.2: token = 1*tchar.
pub fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// The bytes of one body chunk, or the PEP 3333 fault explained.
fn body_bytes<'a>(chunk: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = chunk.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = chunk.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if let Ok(s) = chunk.cast::<PyString>() {
        let text = s.to_string();
        let preview: String = text.chars().take(20).collect();
        let ellipsis = if text.chars().count() > 20 { "…" } else { "" };
        return Err(PyTypeError::new_err(format!(
            "the app returned str '{preview}{ellipsis}'; WSGI bodies are bytes: return [s.encode()]"
        )));
    }
    Err(PyTypeError::new_err(format!(
        "the app returned a body chunk of type {}; WSGI bodies are iterables of bytes",
        type_name(chunk)
    )))
}

/// Where a call went wrong, kept to log once with the request's context.
pub struct Fault {
    pub message: String,
}

/// Call the app and drive its response into `sink`.
pub fn call_app(
    py: Python<'_>,
    app: &Py<PyAny>,
    environ: Bound<'_, PyDict>,
    sink: &mut dyn Sink,
    on_fault: &mut dyn FnMut(Fault),
) -> Outcome {
    let start = match Py::new(
        py,
        StartResponse {
            status: None,
            headers: Vec::new(),
            headers_sent: false,
            written: Vec::new(),
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            on_fault(Fault {
                message: super::traceback_text(py, &e),
            });
            return send_500(py, sink);
        }
    };
    let result = match app.bind(py).call1((environ, start.bind(py))) {
        Ok(r) => r,
        Err(e) => {
            on_fault(Fault {
                message: super::traceback_text(py, &e),
            });
            return send_500(py, sink);
        }
    };
    let mut driver = Driver {
        py,
        start: &start,
        sink,
        sent_head: None,
    };
    let outcome = driver.drive(&result, on_fault);
    // PEP 3333: "If the iterable returned by the application has a close()
    // method, the server or gateway must call that method upon completion
    // of the current request, whether the request was completed normally,
    // or terminated early due to an application error".
    // An exact list or tuple has no close(), and asking for it costs a
    // raised and cleared AttributeError (about a tenth of a hello-world
    // request) on Pythons before 3.13.
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    if !plain
        && let Ok(Some(close)) = result.getattr_opt(pyo3::intern!(py, "close"))
        && let Err(e) = close.call0()
    {
        on_fault(Fault {
            message: super::traceback_text(py, &e),
        });
        return Outcome {
            exception: true,
            ..outcome
        };
    }
    outcome
}

struct Driver<'a, 'py> {
    py: Python<'py>,
    start: &'a Py<StartResponse>,
    sink: &'a mut dyn Sink,
    /// The status code once the head is queued.
    sent_head: Option<u16>,
}

enum Stop {
    /// The app broke PEP 3333 or raised while iterating.
    App(PyErr),
    Client(SinkError),
}

impl From<SinkError> for Stop {
    fn from(e: SinkError) -> Stop {
        Stop::Client(e)
    }
}

impl Driver<'_, '_> {
    fn drive(&mut self, result: &Bound<'_, PyAny>, on_fault: &mut dyn FnMut(Fault)) -> Outcome {
        let py = self.py;
        match self.drive_inner(result) {
            Ok(()) => Outcome {
                status: self.sent_head.unwrap_or(500),
                exception: false,
                complete: true,
            },
            Err(Stop::Client(e)) => {
                tracing::debug!(error = %e, "response not delivered");
                Outcome {
                    status: self.sent_head.unwrap_or(0),
                    exception: false,
                    complete: false,
                }
            }
            Err(Stop::App(e)) => {
                on_fault(Fault {
                    message: super::traceback_text(py, &e),
                });
                match self.sent_head {
                    // Too late for a 500: the client already has a status.
                    Some(status) => Outcome {
                        status,
                        exception: true,
                        complete: false,
                    },
                    None => send_500(py, self.sink),
                }
            }
        }
    }

    fn drive_inner(&mut self, result: &Bound<'_, PyAny>) -> Result<(), Stop> {
        let py = self.py;
        if let Ok(wrapper) = result.cast::<FileWrapper>()
            && let Some((fd, offset)) = wrapper.borrow().sendfile_source(py)
        {
            self.send_head()?;
            self.sink.file(py, fd, offset, self.declared_length())?;
            return Ok(self.sink.finish(py)?);
        }
        // A list or tuple is complete already: queue it all and write once.
        let materialised = result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>();
        let iter = result.try_iter().map_err(|_| {
            Stop::App(PyTypeError::new_err(format!(
                "the app returned {}, which is not iterable; return a list of bytes",
                type_name(result)
            )))
        })?;
        for chunk in iter {
            let chunk = chunk.map_err(Stop::App)?;
            let bytes = body_bytes(&chunk).map_err(Stop::App)?;
            if bytes.is_empty() {
                continue;
            }
            self.send_head()?;
            self.sink.body(&bytes)?;
            if !materialised {
                self.sink.flush(py)?;
            }
        }
        self.send_head()?;
        Ok(self.sink.finish(py)?)
    }

    /// Queue the head (and any `write()` bytes) unless already done.
    fn send_head(&mut self) -> Result<(), Stop> {
        if self.sent_head.is_some() {
            let mut start = self.start.borrow_mut(self.py);
            if !start.written.is_empty() {
                let written = std::mem::take(&mut start.written);
                drop(start);
                self.sink.body(&written)?;
            }
            return Ok(());
        }
        let py = self.py;
        // The head is written straight from the strings start_response
        // keeps (borrowed, not copied or re-referenced): the sink does not
        // run Python, so nothing can call start_response meanwhile.
        let mut start = self.start.borrow_mut(py);
        let Some((code, status)) = &start.status else {
            return Err(Stop::App(PyValueError::new_err(
                "the app produced a body before calling start_response(); call start_response(status, headers) first",
            )));
        };
        let code = *code;
        let status = latin1_bytes(status.bind(py)).map_err(Stop::App)?;
        let mut headers = Vec::with_capacity(start.headers.len());
        for (name, value) in &start.headers {
            headers.push((
                latin1_bytes(name.bind(py)).map_err(Stop::App)?,
                latin1_bytes(value.bind(py)).map_err(Stop::App)?,
            ));
        }
        let queued = self.sink.head(&status, code, &headers);
        drop((headers, status));
        start.headers_sent = true;
        let written = std::mem::take(&mut start.written);
        drop(start);
        queued?;
        self.sent_head = Some(code);
        if !written.is_empty() {
            self.sink.body(&written)?;
        }
        Ok(())
    }

    fn declared_length(&self) -> Option<u64> {
        let start = self.start.borrow(self.py);
        start.headers.iter().find_map(|(n, v)| {
            let n = n.bind(self.py).to_str().ok()?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.bind(self.py).to_str().ok()?.trim().parse().ok())
                .flatten()
        })
    }
}

/// A str's bytes as latin-1 (validated in start_response, so never lossy).
fn latin1_bytes<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    let text = s.to_str()?;
    if text.is_ascii() {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    Ok(Cow::Owned(text.chars().map(|c| c as u32 as u8).collect()))
}

/// A plain-text response the server makes itself.
fn simple(py: Python<'_>, sink: &mut dyn Sink, code: u16, status: &[u8]) -> Outcome {
    let mut body = status.to_vec();
    body.push(b'\n');
    let length = body.len().to_string();
    let headers: [HeaderPair<'_>; 2] = [
        (
            Cow::Borrowed(b"Content-Type"),
            Cow::Borrowed(b"text/plain; charset=utf-8"),
        ),
        (
            Cow::Borrowed(b"Content-Length"),
            Cow::Owned(length.into_bytes()),
        ),
    ];
    let sent = sink
        .head(status, code, &headers)
        .and_then(|()| sink.body(&body))
        .and_then(|()| sink.finish(py));
    Outcome {
        status: code,
        exception: code >= 500,
        complete: sent.is_ok(),
    }
}

fn send_500(py: Python<'_>, sink: &mut dyn Sink) -> Outcome {
    simple(py, sink, 500, b"500 Internal Server Error")
}

/// The answer when the server itself failed before the app ran.
pub fn internal_error(py: Python<'_>, sink: &mut dyn Sink) -> Outcome {
    send_500(py, sink)
}

/// The answer when no app is mounted at the request's path.
pub fn not_found(py: Python<'_>, sink: &mut dyn Sink) -> Outcome {
    simple(py, sink, 404, b"404 Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_statuses() {
        for ok in ["200 OK", "404 Not Found", "599 x", "200"] {
            assert!(validate_status(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "20 OK",
            "2000 OK",
            "abc OK",
            "200\r\nX: y",
            "200-OK",
            "099 low",
        ] {
            assert!(validate_status(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"Content-Type"));
        assert!(is_token(b"X-A_b!"));
        assert!(!is_token(b""));
        assert!(!is_token(b"Bad Name"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"x\r\n"));
    }
}
