//! Reading a request body in full before any Python thread is involved:
//! in memory up to a bound, spooled to an anonymous temp file beyond it.
//!
//! What one client can make a worker spool is bounded twice: by
//! `limit-post` (checked on the head, so a client that asked `Expect:
//! 100-continue` gets the 413 before it sends a byte of the body), and by
//! the spool filesystem's free space: one body may take at most half of
//! what is free, less what this worker's other bodies in flight have
//! claimed, so no client (nor a few at once) can fill the disk.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::wsgi::input::Body;
use rsgi_core::protocol::BodyFraming;
use rsgi_core::protocol::chunked::ChunkedDecoder;

use super::conn::{ConnError, read_at_most, read_some};
use super::listener::Stream;

/// The most a body read takes from the socket at once on its way to a
/// temp file.
const SCRATCH: usize = 256 * 1024;

/// Bytes this worker's bodies in flight have claimed on the spool
/// filesystem and not written yet (statvfs does not see them).
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// Where bodies go once they outgrow memory: the temp dir (`TMPDIR`), as
/// uWSGI's post-buffering does.
fn spool_dir() -> PathBuf {
    std::env::temp_dir()
}

/// How many bytes one more body may spool now: half of what is free on
/// the spool filesystem for an unprivileged writer, less what bodies in
/// flight have claimed.
fn spool_ceiling(dir: &Path) -> io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
    #[allow(clippy::useless_conversion)] // the field types differ by platform
    let free = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Ok(free.saturating_sub(CLAIMED.load(Ordering::Relaxed)) / 2)
}

/// Space on the spool filesystem promised to one body: counted in
/// [`CLAIMED`] until written or dropped.
struct Claim(u64);

impl Claim {
    fn new(bytes: u64) -> Claim {
        CLAIMED.fetch_add(bytes, Ordering::Relaxed);
        Claim(bytes)
    }

    /// `bytes` of the claim reached the file (statvfs now counts them).
    fn written(&mut self, bytes: u64) {
        let done = bytes.min(self.0);
        self.0 -= done;
        CLAIMED.fetch_sub(done, Ordering::Relaxed);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// The spool file and what it may grow to.
struct SpoolFile {
    file: File,
    /// The most this body may put in it (the ceiling when it was opened).
    ceiling: u64,
    claim: Claim,
}

impl SpoolFile {
    /// Open a spool file for a body of `expected` bytes (None: unknown, a
    /// chunked body; it is then held to the ceiling as it grows).
    fn open(expected: Option<u64>) -> Result<SpoolFile, ConnError> {
        let dir = spool_dir();
        let ceiling = spool_ceiling(&dir).map_err(ConnError::Spool)?;
        if let Some(wanted) = expected
            && wanted > ceiling
        {
            return Err(ConnError::SpoolFull { wanted, ceiling });
        }
        let file = temp_file(&dir).map_err(ConnError::Spool)?;
        Ok(SpoolFile {
            file,
            ceiling,
            claim: Claim::new(expected.unwrap_or(0)),
        })
    }

    fn write(&mut self, data: &[u8], len_after: u64) -> Result<(), ConnError> {
        if len_after > self.ceiling {
            return Err(ConnError::SpoolFull {
                wanted: len_after,
                ceiling: self.ceiling,
            });
        }
        self.file.write_all(data).map_err(ConnError::Spool)?;
        self.claim.written(data.len() as u64);
        Ok(())
    }
}

/// Where body bytes accumulate: memory first, a temp file past `mem_limit`.
struct Spool {
    mem: Vec<u8>,
    file: Option<SpoolFile>,
    len: u64,
    mem_limit: usize,
}

impl Spool {
    fn new(mem_limit: usize, expected: Option<u64>) -> Result<Spool, ConnError> {
        let mut spool = Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            mem_limit,
        };
        match expected {
            Some(n) if n > mem_limit as u64 => spool.file = Some(SpoolFile::open(Some(n))?),
            Some(n) => spool.mem.reserve_exact(n as usize),
            None => {}
        }
        Ok(spool)
    }

    fn push(&mut self, data: &[u8]) -> Result<(), ConnError> {
        let len_after = self.len + data.len() as u64;
        if self.file.is_none() && self.mem.len() + data.len() > self.mem_limit {
            let mut file = SpoolFile::open(None)?;
            file.write(&self.mem, self.mem.len() as u64)?;
            self.mem = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.write(data, len_after)?,
            None => self.mem.extend_from_slice(data),
        }
        self.len = len_after;
        Ok(())
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
        self.push(&scratch)?;
        Ok(n)
    }

    fn finish(self) -> Body {
        match self.file {
            Some(spooled) => Body::File {
                file: spooled.file,
                len: self.len,
            },
            None => Body::Memory(self.mem),
        }
    }
}

/// An anonymous file in `dir`, readable by this user only: O_TMPFILE
/// (never has a name, so nothing is left behind whatever happens to the
/// worker, and no other user can open it), else, where the filesystem
/// lacks O_TMPFILE, a 0600 file unlinked as soon as it is created.
fn temp_file(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmpfile = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match tmpfile {
        // open(2): EOPNOTSUPP "the filesystem containing pathname does not
        // support O_TMPFILE"; EISDIR on kernels that predate it.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            named_then_unlinked(dir)
        }
        other => other,
    }
}

fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    for _ in 0..16 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("rsgi-body-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
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

/// A body about to be read. Making one is where a body that cannot be
/// taken is refused (413), so it comes before `100 Continue`.
pub struct BodyReader {
    framing: BodyFraming,
    spool: Spool,
    max_body: u64,
}

impl BodyReader {
    /// `mem_limit`: post-buffering; `max_body`: limit-post (0: none).
    pub fn new(
        framing: BodyFraming,
        mem_limit: usize,
        max_body: u64,
    ) -> Result<BodyReader, ConnError> {
        let expected = match framing {
            BodyFraming::Empty => Some(0),
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Chunked => None,
        };
        Ok(BodyReader {
            framing,
            spool: Spool::new(mem_limit, expected)?,
            max_body,
        })
    }

    /// Read the whole body. Bytes already in `buf` are used first; bytes
    /// past the body stay in `buf` (a pipelined next request).
    pub async fn read(
        self,
        stream: &Stream,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<Body, ConnError> {
        let BodyReader {
            framing,
            mut spool,
            max_body,
        } = self;
        match framing {
            BodyFraming::Empty => Ok(Body::Memory(Vec::new())),
            BodyFraming::Length(n) => {
                // What came with the head; past it, only the body's own bytes
                // are read, so a pipelined next request stays in the socket.
                let take = (n.min(buf.len() as u64)) as usize;
                spool.push(&buf[..take])?;
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
                let mut decoder = ChunkedDecoder::new(max_body);
                let mut out = Vec::new();
                loop {
                    let step = decoder.decode(buf, &mut out).map_err(ConnError::Chunked)?;
                    buf.drain(..step.consumed);
                    spool.push(&out)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn spool_files_are_private_and_nameless() {
        let dir = std::env::temp_dir().join(format!("rsgi-body-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for file in [temp_file(&dir).unwrap(), named_then_unlinked(&dir).unwrap()] {
            let meta = file.metadata().unwrap();
            assert_eq!(meta.mode() & 0o777, 0o600);
            assert_eq!(meta.nlink(), 0, "the file has no name");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn claims_count_until_written_or_dropped() {
        // The only test that makes claims (tests run in parallel).
        let before = CLAIMED.load(Ordering::Relaxed);
        let mut claim = Claim::new(100);
        assert_eq!(CLAIMED.load(Ordering::Relaxed), before + 100);
        claim.written(30);
        claim.written(500);
        assert_eq!(claim.0, 0);
        drop(claim);
        assert_eq!(CLAIMED.load(Ordering::Relaxed), before);
        drop(Claim::new(7));
        assert_eq!(CLAIMED.load(Ordering::Relaxed), before);
    }

    #[test]
    fn a_body_larger_than_half_the_free_space_is_refused_before_reading() {
        let ceiling = spool_ceiling(&spool_dir()).unwrap();
        let err = BodyReader::new(BodyFraming::Length(ceiling + 1), 1024, 0).err();
        assert!(matches!(err, Some(ConnError::SpoolFull { .. })), "{err:?}");
    }
}
