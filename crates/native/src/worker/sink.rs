//! The worker's [`Sink`]: the I/O of a WSGI response, written straight to
//! the client's socket from the Python thread. What goes on the wire, and
//! how the body is framed, is `protocol::encode`'s to decide; this module
//! sends it.
//!
//! Waiting for a slow client happens with the GIL released, and
//! `socket-timeout` bounds each wait, not the whole response (as in
//! uWSGI). A response that is complete but not yet fully written is handed
//! back (`into_output`) for the I/O runtime to drain, so a slow reader of a
//! finite response never holds a Python thread; only streaming responses
//! wait here.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use pyo3::prelude::*;

use crate::wsgi::call::{Sink, SinkError};
use rsgi_core::protocol::encode::{Encoder, Output, Request};
use rsgi_core::protocol::header_rules::HeaderRules;
use rsgi_core::protocol::response::ResponseHead;

pub struct FdSink<'a> {
    fd: RawFd,
    req: Request,
    /// `add-header` and `del-header`.
    rules: &'a HeaderRules,
    timeout: Duration,
    out: Output,
    /// Set once the head is queued.
    enc: Option<Encoder>,
    headers: usize,
}

impl<'a> FdSink<'a> {
    /// A sink for one response on `fd`; `buf` lends its allocation.
    pub fn new(
        fd: RawFd,
        req: Request,
        rules: &'a HeaderRules,
        timeout: Duration,
        buf: Vec<u8>,
    ) -> FdSink<'a> {
        FdSink {
            fd,
            req,
            rules,
            timeout,
            out: Output::with_buffer(buf),
            enc: None,
            headers: 0,
        }
    }

    /// Whether the connection can carry another request once the output
    /// is sent.
    pub fn keep_alive(&self) -> bool {
        self.enc.as_ref().is_some_and(Encoder::keep_alive)
    }

    /// Response headers the app gave (for the log).
    pub fn headers(&self) -> usize {
        self.headers
    }

    /// What is left to send, and the count of what was; the I/O runtime
    /// drains it.
    pub fn into_output(self) -> Output {
        self.out
    }

    fn send_pending(&mut self, py: Python<'_>) -> Result<(), SinkError> {
        let (fd, timeout) = (self.fd, self.timeout);
        send_pending(fd, &mut self.out, || {
            py.detach(|| wait_writable(fd, timeout))
        })
    }
}

impl Sink for FdSink<'_> {
    fn head(&mut self, head: &ResponseHead) -> Result<(), SinkError> {
        self.headers = head.header_count();
        self.enc = Some(Encoder::start(&self.req, head, self.rules, &mut self.out));
        Ok(())
    }

    fn body(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some(enc) = &mut self.enc {
            enc.body(chunk, &mut self.out);
        }
        Ok(())
    }

    fn flush(&mut self, py: Python<'_>) -> Result<(), SinkError> {
        self.send_pending(py)
    }

    fn file(&mut self, py: Python<'_>, fd: RawFd, offset: u64) -> Result<(), SinkError> {
        let Some(enc) = &mut self.enc else {
            return Ok(());
        };
        // SAFETY: fstat fills a struct we own; a bad fd is an error return.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let size = if unsafe { libc::fstat(fd, &mut st) } == 0 {
            st.st_size.max(0) as u64
        } else {
            0
        };
        let count = enc.begin_file(size.saturating_sub(offset), &mut self.out);
        self.send_pending(py)?;
        if count == 0 {
            return Ok(());
        }
        let (out_fd, timeout) = (self.fd, self.timeout);
        let (sent, result) = py.detach(|| send_file(out_fd, fd, offset, count, timeout));
        if let Some(enc) = &mut self.enc {
            enc.end_file(count, sent, &mut self.out);
        }
        result
    }

    fn finish(&mut self, _py: Python<'_>) -> Result<(), SinkError> {
        let short = match &mut self.enc {
            Some(enc) => enc.finish(&mut self.out).err(),
            None => None,
        };
        // One attempt without waiting; what the socket does not take now is
        // drained by the I/O runtime.
        send_pending(self.fd, &mut self.out, || Err(SinkError::Timeout)).or_else(|e| match e {
            SinkError::Timeout => Ok(()),
            e => Err(e),
        })?;
        match short {
            Some(s) => Err(SinkError::BodyShort {
                declared: s.declared,
                given: s.declared - s.missing,
            }),
            None => Ok(()),
        }
    }

    fn committed(&self) -> bool {
        self.out.committed()
    }

    fn discard(&mut self) {
        self.out.discard();
        self.enc = None;
        self.headers = 0;
    }

    fn abort(&mut self) {
        match &mut self.enc {
            Some(enc) => enc.abort(&mut self.out),
            None => self.out.discard(),
        }
    }
}

/// Send what `out` holds, calling `wait` whenever the socket takes
/// nothing; `wait` fails to give up.
fn send_pending(
    fd: RawFd,
    out: &mut Output,
    mut wait: impl FnMut() -> Result<(), SinkError>,
) -> Result<(), SinkError> {
    while !out.pending().is_empty() {
        match send(fd, out.pending()) {
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait()?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SinkError::Gone(e)),
        }
    }
    Ok(())
}

/// Make closing `fd` reset the connection (SO_LINGER with a zero
/// timeout) instead of ending it cleanly. A body that only the
/// connection's end delimits (HTTP/1.0, the uwsgi protocol), cut short,
/// would look complete after a clean end; a reset tells the client, or
/// nginx (which then does not finish its own response to the client).
pub fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger`, which lives for the call; a bad
    // fd is an error return, which changes nothing (the close is then a
    // clean one).
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
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

/// Wait until `fd` takes more, at most `timeout`: socket-timeout is an
/// inactivity timeout, per wait.
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

/// `sendfile(2)` `count` bytes of `in_fd` from `offset`: how many went
/// out, and why not all of them did.
fn send_file(
    out_fd: RawFd,
    in_fd: RawFd,
    offset: u64,
    count: u64,
    timeout: Duration,
) -> (u64, Result<(), SinkError>) {
    let mut off = offset as libc::off_t;
    let sent = |off: libc::off_t| off as u64 - offset;
    while sent(off) < count {
        let want = ((count - sent(off)) as usize).min(1 << 30);
        // SAFETY: both fds are open for the call; `off` is ours.
        let n = unsafe { libc::sendfile(out_fd, in_fd, &mut off, want) };
        if n > 0 {
            continue;
        }
        if n == 0 {
            // The file ended before the size fstat gave (it shrank, or it
            // is a sysfs file that always says 4096): the framing already
            // promised the rest.
            return (
                sent(off),
                Err(SinkError::FileShort {
                    expected: count,
                    sent: sent(off),
                }),
            );
        }
        let e = io::Error::last_os_error();
        let failed = match e.raw_os_error() {
            Some(libc::EAGAIN) => wait_writable(out_fd, timeout),
            Some(libc::EINTR) => Ok(()),
            Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ETIMEDOUT) => {
                Err(SinkError::Gone(e))
            }
            _ => Err(SinkError::File(e)),
        };
        if let Err(e) = failed {
            return (sent(off), Err(e));
        }
    }
    (sent(off), Ok(()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use rsgi_core::protocol::encode::Wire;

    fn temp_file(contents: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "rsgi-sink-{}-{}",
            std::process::id(),
            contents.len()
        ));
        std::fs::write(&path, contents).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn a_file_shorter_than_promised_is_an_error_with_the_count_sent() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let f = temp_file(b"0123456789");
        let (sent, result) =
            send_file(a.as_raw_fd(), f.as_raw_fd(), 2, 100, Duration::from_secs(1));
        assert_eq!(sent, 8);
        assert!(
            matches!(
                result,
                Err(SinkError::FileShort {
                    expected: 100,
                    sent: 8
                })
            ),
            "{result:?}"
        );
        let (sent, result) = send_file(a.as_raw_fd(), f.as_raw_fd(), 0, 4, Duration::from_secs(1));
        assert_eq!((sent, result.is_ok()), (4, true));
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"234567890123");
    }

    #[test]
    fn a_reader_that_stops_times_out_per_wait_and_the_count_says_what_left() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let req = Request {
            wire: Wire::Http10,
            head: false,
            keep_alive: false,
        };
        let mut out = Output::default();
        let head = ResponseHead::new(b"200 OK", 0).unwrap();
        let mut enc = Encoder::start(&req, &head, &HeaderRules::NONE, &mut out);
        let head = out.pending().len() as u64;
        enc.body(&vec![b'x'; 8 << 20], &mut out);
        let fd = a.as_raw_fd();
        let mut waits = 0;
        let result = send_pending(fd, &mut out, || {
            waits += 1;
            wait_writable(fd, Duration::from_millis(50))
        });
        assert!(matches!(result, Err(SinkError::Timeout)), "{result:?}");
        assert_eq!(waits, 1, "the first wait with no progress gives up");
        let sent = out.body_sent();
        assert!(sent > 0 && sent < 8 << 20, "{sent}");
        // The peer got exactly the head and `sent` body bytes.
        b.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let _ = (&b).read_to_end(&mut got);
        assert_eq!(got.len() as u64, head + sent);
    }

    #[test]
    fn a_vanished_client_is_gone() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut out = Output::default();
        let req = Request {
            wire: Wire::Http11,
            head: false,
            keep_alive: true,
        };
        let head = ResponseHead::new(b"200 OK", 0).unwrap();
        Encoder::start(&req, &head, &HeaderRules::NONE, &mut out);
        let result = send_pending(a.as_raw_fd(), &mut out, || Ok(()));
        assert!(matches!(result, Err(SinkError::Gone(_))), "{result:?}");
    }

    #[test]
    fn reset_on_close_resets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"partial").unwrap();
        reset_on_close(server.as_raw_fd());
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let err = loop {
            let mut buf = [0u8; 64];
            match client.read(&mut buf) {
                Ok(0) => panic!("a clean end, not a reset, after {got:?}"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }
}
