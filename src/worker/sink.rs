//! The worker's [`Sink`]: frames a WSGI response for the wire and writes it
//! straight to the client's socket from the Python thread.
//!
//! Waiting for a slow client happens with the GIL released. A response that
//! is complete but not yet fully written is handed back (`into_pending`) for
//! the I/O runtime to drain, so a slow reader of a finite response never
//! holds a Python thread; only streaming responses wait here.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use pyo3::prelude::*;

use crate::protocol::response::{self, BodyPlan};
use crate::wsgi::call::{HeaderPair, Sink, SinkError};

/// How the body is delimited, decided when the head is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// The app declared Content-Length; this many bytes are still owed.
    Length(u64),
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0, uwsgi).
    Close,
    /// HEAD, 1xx, 204, 304: a head and nothing else.
    NoBody,
}

pub struct FdSink {
    fd: RawFd,
    out: Vec<u8>,
    framing: Framing,
    /// The request was HEAD.
    head_only: bool,
    /// HTTP minor version of the request (uwsgi answers as 1.0 would).
    minor_version: u8,
    /// Chunked framing is available (HTTP/1.1, not uwsgi).
    can_chunk: bool,
    keep_alive: bool,
    timeout: Duration,
    body_bytes: u64,
    headers: usize,
    head_bytes: u64,
}

impl FdSink {
    pub fn new(
        fd: RawFd,
        minor_version: u8,
        can_chunk: bool,
        head_only: bool,
        keep_alive: bool,
        timeout: Duration,
        out: Vec<u8>,
    ) -> FdSink {
        FdSink {
            fd,
            out,
            framing: Framing::NoBody,
            head_only,
            minor_version,
            can_chunk,
            keep_alive,
            timeout,
            body_bytes: 0,
            headers: 0,
            head_bytes: 0,
        }
    }

    /// Whether the connection can carry another request.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Body bytes given by the app (for the log and the counters).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Response headers the app gave (for the log).
    pub fn headers(&self) -> usize {
        self.headers
    }

    /// Bytes of the response head as written (for the log's hsize).
    pub fn head_bytes(&self) -> u64 {
        self.head_bytes
    }

    /// What is left to write; the I/O runtime drains it.
    pub fn into_pending(self) -> Vec<u8> {
        self.out
    }

    fn write_out_blocking(&mut self, py: Python<'_>) -> Result<(), SinkError> {
        let mut done = 0;
        while done < self.out.len() {
            match send(self.fd, &self.out[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let (fd, timeout) = (self.fd, self.timeout);
                    py.detach(|| wait_writable(fd, timeout))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SinkError::Gone(e)),
            }
        }
        self.out.clear();
        Ok(())
    }
}

impl Sink for FdSink {
    fn head(
        &mut self,
        status: &[u8],
        code: u16,
        headers: &[HeaderPair<'_>],
    ) -> Result<(), SinkError> {
        let mut declared = None;
        self.headers = headers.len();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"content-length") {
                declared = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
            } else if name.eq_ignore_ascii_case(b"connection")
                && value.eq_ignore_ascii_case(b"close")
            {
                self.keep_alive = false;
            }
        }
        let bodiless = self.head_only || code < 200 || code == 204 || code == 304;
        self.framing = match (bodiless, declared) {
            (true, _) => Framing::NoBody,
            (false, Some(n)) => Framing::Length(n),
            (false, None) if self.can_chunk && self.minor_version == 1 => Framing::Chunked,
            (false, None) => {
                self.keep_alive = false;
                Framing::Close
            }
        };
        let plan = BodyPlan {
            chunked: self.framing == Framing::Chunked,
            keep_alive: self.keep_alive,
        };
        let before = self.out.len();
        response::write_head(&mut self.out, self.minor_version, status, headers, &plan);
        self.head_bytes = (self.out.len() - before) as u64;
        Ok(())
    }

    fn body(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.body_bytes += chunk.len() as u64;
        match &mut self.framing {
            Framing::NoBody => {}
            Framing::Close => self.out.extend_from_slice(chunk),
            Framing::Chunked => {
                response::chunk_header(chunk.len(), &mut self.out);
                self.out.extend_from_slice(chunk);
                self.out.extend_from_slice(b"\r\n");
            }
            Framing::Length(remaining) => {
                // Never send more than declared: the surplus would be read
                // as the start of the next response.
                let n = (chunk.len() as u64).min(*remaining) as usize;
                self.out.extend_from_slice(&chunk[..n]);
                *remaining -= n as u64;
            }
        }
        Ok(())
    }

    fn flush(&mut self, py: Python<'_>) -> Result<(), SinkError> {
        self.write_out_blocking(py)
    }

    fn file(
        &mut self,
        py: Python<'_>,
        fd: RawFd,
        offset: u64,
        len: Option<u64>,
    ) -> Result<(), SinkError> {
        // SAFETY: fstat fills a struct we own; a bad fd is an error return.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let size = if unsafe { libc::fstat(fd, &mut st) } == 0 {
            st.st_size.max(0) as u64
        } else {
            0
        };
        let mut count = size.saturating_sub(offset);
        if let Some(len) = len {
            count = count.min(len);
        }
        match self.framing {
            Framing::NoBody => return Ok(()),
            Framing::Length(remaining) => count = count.min(remaining),
            Framing::Chunked if count > 0 => response::chunk_header(count as usize, &mut self.out),
            _ => {}
        }
        self.write_out_blocking(py)?;
        let (out_fd, timeout) = (self.fd, self.timeout);
        py.detach(|| send_file(out_fd, fd, offset, count, timeout))?;
        self.body_bytes += count;
        match &mut self.framing {
            Framing::Length(remaining) => *remaining -= count,
            Framing::Chunked if count > 0 => self.out.extend_from_slice(b"\r\n"),
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, _py: Python<'_>) -> Result<(), SinkError> {
        match self.framing {
            Framing::Chunked => self.out.extend_from_slice(response::LAST_CHUNK),
            // The app sent less than it declared: the client would wait for
            // the rest, so the only honest end is to close.
            Framing::Length(remaining) if remaining > 0 => self.keep_alive = false,
            _ => {}
        }
        // One attempt without waiting; what the socket does not take now is
        // drained by the I/O runtime.
        let mut done = 0;
        while done < self.out.len() {
            match send(self.fd, &self.out[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(SinkError::Gone(e)),
            }
        }
        self.out.drain(..done);
        Ok(())
    }
}

/// `send(2)` with MSG_NOSIGNAL, so a vanished client is an error, not SIGPIPE.
fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid slice for its length; fd is the connection's
    // socket, open for the whole request.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn wait_writable(fd: RawFd, timeout: Duration) -> Result<(), SinkError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // SAFETY: the fd stays open for the duration of the call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [PollFd::new(borrowed, PollFlags::POLLOUT)];
    let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    loop {
        match poll(&mut fds, ms) {
            Ok(0) => return Err(SinkError::Timeout),
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(SinkError::Gone(e.into())),
        }
    }
}

fn send_file(
    out_fd: RawFd,
    in_fd: RawFd,
    offset: u64,
    count: u64,
    timeout: Duration,
) -> Result<(), SinkError> {
    let mut off = offset as libc::off_t;
    let end = offset + count;
    while (off as u64) < end {
        let want = ((end - off as u64) as usize).min(1 << 30);
        // SAFETY: both fds are open for the call; `off` is ours.
        let n = unsafe { libc::sendfile(out_fd, in_fd, &mut off, want) };
        if n > 0 {
            continue;
        }
        if n == 0 {
            // The file shrank under us; what was promised cannot be sent.
            return Err(SinkError::Gone(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than expected",
            )));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => wait_writable(out_fd, timeout)?,
            io::ErrorKind::Interrupted => {}
            _ => return Err(SinkError::Gone(e)),
        }
    }
    Ok(())
}
