//! Reading a request body in full before any Python thread is involved:
//! in memory up to a bound, spooled to an unlinked temp file beyond it.

use std::fs::File;
use std::io::{self, Write};
use std::time::Duration;

use crate::protocol::BodyFraming;
use crate::protocol::chunked::ChunkedDecoder;
use crate::wsgi::input::Body;

use super::conn::{ConnError, read_at_most, read_some};
use super::listener::Stream;

/// The most a body read takes from the socket at once on its way to a
/// temp file.
const SCRATCH: usize = 256 * 1024;

/// Where body bytes accumulate: memory first, a temp file past `mem_limit`.
struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    mem_limit: usize,
}

impl Spool {
    fn new(mem_limit: usize, expected: Option<u64>) -> io::Result<Spool> {
        let mut spool = Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            mem_limit,
        };
        match expected {
            Some(n) if n > mem_limit as u64 => spool.file = Some(temp_file()?),
            Some(n) => spool.mem.reserve_exact(n as usize),
            None => {}
        }
        Ok(spool)
    }

    fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        if self.file.is_none() && self.mem.len() + data.len() > self.mem_limit {
            let mut file = temp_file()?;
            file.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.write_all(data),
            None => {
                self.mem.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Read up to `left` more body bytes from the socket: straight into
    /// the memory buffer when the body fits there (it was sized to the
    /// whole body, so this costs no copy and few large reads), through a
    /// scratch buffer into the temp file otherwise. Returns 0 at end of
    /// stream.
    async fn read_from(
        &mut self,
        stream: &Stream,
        left: u64,
        timeout: Duration,
    ) -> Result<usize, ConnError> {
        let max = usize::try_from(left).unwrap_or(usize::MAX);
        if self.file.is_none() && self.mem.len() + max <= self.mem_limit {
            let n = read_at_most(stream, &mut self.mem, max, timeout).await?;
            self.len += n as u64;
            return Ok(n);
        }
        let mut scratch = Vec::with_capacity(max.min(SCRATCH));
        let n = read_at_most(stream, &mut scratch, max, timeout).await?;
        self.push(&scratch).map_err(ConnError::Spool)?;
        Ok(n)
    }

    fn finish(self) -> Body {
        match self.file {
            Some(file) => Body::File {
                file,
                len: self.len,
            },
            None => Body::Memory(self.mem),
        }
    }
}

/// An anonymous file in the temp dir: created, then unlinked at once, so
/// nothing is left behind whatever happens to the worker.
fn temp_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("rsgi-body-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temp file name",
    ))
}

/// Read the whole body. Bytes already in `buf` are used first; bytes past
/// the body stay in `buf` (a pipelined next request).
pub async fn read_body(
    stream: &Stream,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    mem_limit: usize,
    max_body: u64,
    timeout: Duration,
) -> Result<Body, ConnError> {
    match framing {
        BodyFraming::Empty => Ok(Body::Memory(Vec::new())),
        BodyFraming::Length(n) => {
            let mut spool = Spool::new(mem_limit, Some(n)).map_err(ConnError::Spool)?;
            // What came with the head; past it, only the body's own bytes
            // are read, so a pipelined next request stays in the socket.
            let take = (n.min(buf.len() as u64)) as usize;
            spool.push(&buf[..take]).map_err(ConnError::Spool)?;
            buf.drain(..take);
            let mut left = n - take as u64;
            while left > 0 {
                match spool.read_from(stream, left, timeout).await? {
                    0 => return Err(ConnError::BodyTruncated),
                    got => left -= got as u64,
                }
            }
            Ok(spool.finish())
        }
        BodyFraming::Chunked => {
            let mut spool = Spool::new(mem_limit, None).map_err(ConnError::Spool)?;
            let mut decoder = ChunkedDecoder::new(max_body);
            let mut out = Vec::new();
            loop {
                let step = decoder.decode(buf, &mut out).map_err(ConnError::Chunked)?;
                buf.drain(..step.consumed);
                spool.push(&out).map_err(ConnError::Spool)?;
                out.clear();
                if step.done {
                    return Ok(spool.finish());
                }
                if read_some(stream, buf, timeout).await? == 0 {
                    return Err(ConnError::BodyTruncated);
                }
            }
        }
    }
}
