//! One WSGI call: `app(environ, start_response)`, then the response iterable
//! driven into a [`Sink`] (the worker's writer for this connection).
//!
//! PEP 3333 rules enforced here: headers go out with the first non-empty
//! body chunk (or at the end), `exc_info` replaces an unsent response and is
//! re-raised once headers are out, `close()` is always called, and an app
//! that breaks the protocol gets a 500 and one log line naming the fix.
//! A response that fails once some of it reached the client cannot become
//! a 500: it is cut off and its connection closed, so the client never
//! takes it for complete and never reads a next response into it.

use std::borrow::Cow;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::file_wrapper::FileWrapper;
use super::spare::Spares;
use rsgi_core::protocol::response::{self, HeadError, ResponseHead};

/// Why a response could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the client went away: {0}")]
    Gone(#[from] std::io::Error),
    #[error("the client stopped reading for longer than socket-timeout")]
    Timeout,
    #[error(
        "the file given to wsgi.file_wrapper ended after {sent} of the {expected} bytes \
         its size promised; the response was cut off"
    )]
    FileShort { expected: u64, sent: u64 },
    #[error("sending the file given to wsgi.file_wrapper failed: {0}")]
    File(std::io::Error),
    #[error(
        "the app declared Content-Length {declared} but its body had {given} bytes; \
         the connection was closed after it, so the client sees it is short"
    )]
    BodyShort { declared: u64, given: u64 },
}

impl SinkError {
    /// The fault is the app's (logged as such), not the client's.
    fn is_app_fault(&self) -> bool {
        !matches!(self, SinkError::Gone(_) | SinkError::Timeout)
    }
}

/// The connection side of a response. Implemented by the worker, which
/// owns framing (Content-Length, chunked, HEAD) and the socket.
pub trait Sink {
    /// Queue the status line and headers; called once per response.
    fn head(&mut self, head: &ResponseHead) -> Result<(), SinkError>;
    /// Queue body bytes.
    fn body(&mut self, chunk: &[u8]) -> Result<(), SinkError>;
    /// Send what is queued now (streaming responses), waiting with the GIL
    /// released if the client is slow.
    fn flush(&mut self, py: Python<'_>) -> Result<(), SinkError>;
    /// Send a file from `offset` to its end (or to the declared length),
    /// zero-copy.
    fn file(&mut self, py: Python<'_>, fd: RawFd, offset: u64) -> Result<(), SinkError>;
    /// The response is complete.
    fn finish(&mut self, py: Python<'_>) -> Result<(), SinkError>;
    /// Whether any byte of the response reached the client.
    fn committed(&self) -> bool;
    /// Forget a response none of which reached the client, to send
    /// another instead.
    fn discard(&mut self);
    /// The response cannot be completed as framed: send nothing more and
    /// close the connection.
    fn abort(&mut self);
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
#[derive(Default)]
pub struct StartResponse {
    /// The status and headers, checked and in latin-1, once given.
    head: Option<ResponseHead>,
    headers_sent: bool,
    /// `exc_info` came after the head was sent: whatever the app does
    /// next, the response is not the one it meant.
    failed_after_head: bool,
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
                slf.failed_after_head = true;
                let value = info.get_item(1)?;
                return Err(PyErr::from_value(value));
            }
        } else if slf.head.is_some() {
            return Err(PyValueError::new_err(
                "start_response() was called twice without exc_info; \
                 call it once per response (pass exc_info=sys.exc_info() to replace a response on error)",
            ));
        }
        // PEP 3333 asks servers to check the head here, "so that an error
        // can be raised while the application is still running".
        let mut head = parse_status(status, headers.len().unwrap_or(4))?;
        parse_headers(headers, &mut head)?;
        slf.head = Some(head);
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

/// A head with the checked status and room for `headers` headers.
fn parse_status(status: &Bound<'_, PyAny>, headers: usize) -> PyResult<ResponseHead> {
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
    let mut buf = Latin1Buf::new();
    let bytes = latin1_of(s, &mut buf, || "the status".into())?;
    ResponseHead::new(&bytes, headers).map_err(invalid)
}

/// Room for the latin-1 bytes of a short str (see [`latin1_of`]).
struct Latin1Buf {
    #[cfg(feature = "abi3")]
    bytes: [u8; SHORT],
}

/// Statuses and headers up to this many characters are read without a
/// temporary Python object in the stable-ABI build.
#[cfg(feature = "abi3")]
const SHORT: usize = 128;

impl Latin1Buf {
    fn new() -> Latin1Buf {
        Latin1Buf {
            #[cfg(feature = "abi3")]
            bytes: [0; SHORT],
        }
    }
}

/// The latin-1 bytes of a str, or the fault (`what` names the str) as a
/// ValueError.
///
/// The stable ABI before 3.10 has no borrowed UTF-8 view of a str: pyo3
/// makes a bytes object per str (PyUnicode_AsUTF8String), six per
/// hello-world response. A short str is copied into `buf` instead, as
/// code points (PyUnicode_AsUCS4, stable ABI), which is also the latin-1
/// check; anything else takes the general way.
fn latin1_of<'a>(
    s: &'a Bound<'_, PyString>,
    buf: &'a mut Latin1Buf,
    what: impl FnOnce() -> String,
) -> PyResult<Cow<'a, [u8]>> {
    #[cfg(feature = "abi3")]
    {
        if let Some(len) = short_latin1(s, &mut buf.bytes) {
            return Ok(Cow::Borrowed(&buf.bytes[..len]));
        }
        let text = s.to_cow()?;
        Ok(Cow::Owned(latin1(&text, what)?.into_owned()))
    }
    #[cfg(not(feature = "abi3"))]
    {
        // A build for one version borrows the str's own UTF-8.
        let _ = buf;
        latin1(s.to_str()?, what)
    }
}

/// Copy `s` into `out` when it is at most [`SHORT`] characters, all in
/// latin-1; its length then.
#[cfg(feature = "abi3")]
fn short_latin1(s: &Bound<'_, PyString>, out: &mut [u8; SHORT]) -> Option<usize> {
    use pyo3::ffi;
    let mut wide = [0 as ffi::Py_UCS4; SHORT];
    // SAFETY: `s` is a live str and the thread is attached.
    let len = unsafe { ffi::PyUnicode_GetLength(s.as_ptr()) };
    let len = usize::try_from(len).ok().filter(|&n| n <= SHORT)?;
    // SAFETY: `wide` has room for SHORT code points, the length given;
    // no terminating NUL is asked for (last argument 0).
    let copied = unsafe {
        ffi::PyUnicode_AsUCS4(s.as_ptr(), wide.as_mut_ptr(), SHORT as ffi::Py_ssize_t, 0)
    };
    if copied.is_null() {
        // SAFETY: the thread is attached; the error is the general way's
        // to find again.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    for (byte, &c) in out.iter_mut().zip(&wide[..len]) {
        *byte = u8::try_from(c).ok()?;
    }
    Some(len)
}

/// A str's latin-1 bytes, or the fault (`what` names the str) as a
/// ValueError: a character above U+00FF is refused, never cut to its low
/// byte (`\u010d\u010a` would become CR LF).
fn latin1<'a>(text: &'a str, what: impl FnOnce() -> String) -> PyResult<Cow<'a, [u8]>> {
    response::to_latin1(text).map_err(|ch| {
        invalid(HeadError::NotLatin1 {
            what: what(),
            text: text.to_string(),
            ch,
        })
    })
}

fn invalid(e: HeadError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Check the headers into `head`.
fn parse_headers(headers: &Bound<'_, PyAny>, head: &mut ResponseHead) -> PyResult<()> {
    let bad = || {
        PyTypeError::new_err(format!(
            "response headers must be a list of (str, str) tuples, got {}",
            type_name(headers)
        ))
    };
    if headers.is_instance_of::<PyString>() || headers.is_instance_of::<PyDict>() {
        return Err(bad());
    }
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
        // A CR or LF here would let a value start a new header or a new
        // response (response splitting).
        let (mut name_buf, mut value_buf) = (Latin1Buf::new(), Latin1Buf::new());
        let name_bytes = latin1_of(name, &mut name_buf, || "the response header name".into())?;
        let value_bytes = latin1_of(value, &mut value_buf, || {
            let n: String = name_bytes.iter().map(|&b| char::from(b)).collect();
            format!("the value of response header {n:?}")
        })?;
        head.push_header(&name_bytes, &value_bytes)
            .map_err(invalid)?;
    }
    Ok(())
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
    spares: &mut Spares,
    sink: &mut dyn Sink,
    on_fault: &mut dyn FnMut(Fault),
) -> Outcome {
    let start = match spares.start_response(py) {
        Ok(s) => s,
        Err(e) => {
            on_fault(Fault {
                message: super::traceback_text(py, &e),
            });
            return send_500(py, sink);
        }
    };
    let outcome = call_with(py, app, environ, &start, sink, on_fault);
    spares.keep_start_response(py, start);
    outcome
}

fn call_with(
    py: Python<'_>,
    app: &Py<PyAny>,
    environ: Bound<'_, PyDict>,
    start: &Py<StartResponse>,
    sink: &mut dyn Sink,
    on_fault: &mut dyn FnMut(Fault),
) -> Outcome {
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
        start,
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
    /// The response could not be completed (see [`SinkError`]).
    Sink(SinkError),
}

impl From<SinkError> for Stop {
    fn from(e: SinkError) -> Stop {
        Stop::Sink(e)
    }
}

impl Driver<'_, '_> {
    fn drive(&mut self, result: &Bound<'_, PyAny>, on_fault: &mut dyn FnMut(Fault)) -> Outcome {
        let py = self.py;
        let (message, exception) = match self.drive_inner(result) {
            Ok(()) => {
                return Outcome {
                    status: self.sent_head.unwrap_or(500),
                    exception: false,
                    complete: true,
                };
            }
            // Everything the app gave is on its way; the encoder closes
            // the connection after it.
            Err(Stop::Sink(e @ SinkError::BodyShort { .. })) => {
                on_fault(Fault {
                    message: e.to_string(),
                });
                return Outcome {
                    status: self.sent_head.unwrap_or(0),
                    exception: false,
                    complete: true,
                };
            }
            Err(Stop::Sink(e)) if !e.is_app_fault() => {
                tracing::debug!(error = %e, "response not delivered");
                self.sink.abort();
                return Outcome {
                    status: self.sent_head.unwrap_or(0),
                    exception: false,
                    complete: false,
                };
            }
            Err(Stop::Sink(e)) => (e.to_string(), false),
            Err(Stop::App(e)) => (super::traceback_text(py, &e), true),
        };
        on_fault(Fault { message });
        if !self.sink.committed() {
            // Nothing reached the client yet (a list is sent whole at its
            // end): the response can still become a 500.
            self.sink.discard();
            return send_500(py, self.sink);
        }
        // Too late for a 500: the client already has a status and part of
        // a body. Cut it off, so it is not taken for complete.
        self.sink.abort();
        Outcome {
            status: self.sent_head.unwrap_or(0),
            exception,
            complete: false,
        }
    }

    fn drive_inner(&mut self, result: &Bound<'_, PyAny>) -> Result<(), Stop> {
        let py = self.py;
        if let Ok(wrapper) = result.cast::<FileWrapper>()
            && let Some((fd, offset)) = wrapper.borrow().sendfile_source(py)
        {
            self.send_head()?;
            self.sink.file(py, fd, offset)?;
            self.check_not_failed()?;
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
        self.check_not_failed()?;
        Ok(self.sink.finish(py)?)
    }

    /// An app that passed `exc_info` after the head, caught the re-raised
    /// error and went on has still not sent the response it meant: end it
    /// as failed rather than let the client take it for complete.
    fn check_not_failed(&self) -> Result<(), Stop> {
        if self.start.borrow(self.py).failed_after_head {
            return Err(Stop::App(PyRuntimeError::new_err(
                "the app called start_response() with exc_info after the response head was sent \
                 and went on; the response was cut off so the client does not take it for complete",
            )));
        }
        Ok(())
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
        // The head is written from the bytes start_response checked (the
        // sink does not run Python, so nothing can call start_response
        // meanwhile).
        let mut start = self.start.borrow_mut(py);
        let Some(head) = &start.head else {
            return Err(Stop::App(PyValueError::new_err(
                "the app produced a body before calling start_response(); call start_response(status, headers) first",
            )));
        };
        let code = head.code();
        let queued = self.sink.head(head);
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
}

/// A plain-text response the server makes itself.
fn simple(py: Python<'_>, sink: &mut dyn Sink, code: u16, status: &[u8]) -> Outcome {
    let mut body = status.to_vec();
    body.push(b'\n');
    let length = body.len().to_string();
    let head = ResponseHead::new(status, 2).and_then(|mut head| {
        head.push_header(b"Content-Type", b"text/plain; charset=utf-8")?;
        head.push_header(b"Content-Length", length.as_bytes())?;
        Ok(head)
    });
    // The server's own statuses and headers always pass the checks.
    let sent = match head {
        Ok(head) => sink
            .head(&head)
            .and_then(|()| sink.body(&body))
            .and_then(|()| sink.finish(py)),
        Err(e) => {
            tracing::error!("the server's own {code} response is invalid: {e}");
            return Outcome {
                status: code,
                exception: true,
                complete: false,
            };
        }
    };
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
