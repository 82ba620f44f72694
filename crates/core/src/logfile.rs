//! Where log lines go, and how they are written so that logging never
//! takes a process down or holds up serving.
//!
//! `logto`: every process's stdout and stderr go to one file opened with
//! O_APPEND, so each line (one `write`) lands whole whoever writes it —
//! the master's events, the request lines, and whatever the app prints.
//!
//! Every line rsgi writes (events through `tracing`, request lines,
//! `wsgi.errors`, the app's `sys.stdout`/`sys.stderr`) goes through a
//! [`LogFd`]. A write that fails (a full disk, `/dev/full`, a closed pipe)
//! or that would block past a short bound (a log reader that stopped
//! reading) is dropped and counted; the first write that succeeds again is
//! preceded by one line saying how many were lost since when. Rust's own
//! `eprintln!` panics when stderr fails, and `tracing-subscriber` reports a
//! failed write with it: a full log disk used to kill the master at its
//! next log line.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Open `path` for appending and make it this process's stdout and stderr.
/// Called again after logrotate moved the file (`log-reopen`, SIGUSR2).
pub fn redirect(path: &Path) -> io::Result<()> {
    let file = open_append(path)?;
    for target in [&STDOUT, &STDERR] {
        target.take(&file)?;
    }
    Ok(())
}

/// Open a log file: appended to (each line one `write`, whole whoever
/// writes it), created if missing.
pub fn open_append(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
}

/// This process's stderr: the log.
pub static STDERR: LogFd = LogFd::new(libc::STDERR_FILENO);
/// This process's stdout (the app's `print`).
pub static STDOUT: LogFd = LogFd::new(libc::STDOUT_FILENO);

/// How long a write may wait for a pipe or socket whose reader is slow.
const WAIT: Duration = Duration::from_millis(100);
/// After a write was dropped, writes do not wait at all for this long, so
/// a reader that keeps falling behind costs serving at most one WAIT per
/// period, not one per line.
const NO_WAIT_AFTER_LOSS: Duration = Duration::from_secs(10);

/// What a descriptor is, for how to write it without blocking: files
/// never block; pipes, sockets and terminals are waited for with poll.
const UNKNOWN: u8 = 0;
const FILE: u8 = 1;
const STREAM: u8 = 2;
const SOCKET: u8 = 3;

/// A standard descriptor written with loss accounting.
pub struct LogFd {
    fd: RawFd,
    /// What `fd` is (a `UNKNOWN`.. constant); reset when `redirect` moves it.
    kind: AtomicU8,
    /// Lines dropped since the last write that succeeded.
    lost: AtomicU64,
    /// When the first of them was dropped (µs since the epoch), and why.
    lost_since_us: AtomicU64,
    lost_errno: AtomicI32,
    /// Until when (µs since the epoch) writes do not wait.
    no_wait_until_us: AtomicU64,
}

/// A dropped write left part of a line behind, so the next notice starts
/// a new line. One flag for both descriptors: with `logto` they are the
/// same file.
static TORN: AtomicBool = AtomicBool::new(false);

/// A write that did not complete: the OS error and how much was written.
struct Failed {
    errno: i32,
    written: usize,
}

impl LogFd {
    const fn new(fd: RawFd) -> LogFd {
        LogFd {
            fd,
            kind: AtomicU8::new(UNKNOWN),
            lost: AtomicU64::new(0),
            lost_since_us: AtomicU64::new(0),
            lost_errno: AtomicI32::new(0),
            no_wait_until_us: AtomicU64::new(0),
        }
    }

    /// A [`LogFd`] for a descriptor the caller keeps open (a logger's file).
    pub fn on(fd: RawFd) -> LogFd {
        LogFd::new(fd)
    }

    /// Put `path`, opened anew, at this descriptor (after logrotate).
    pub fn reopen(&self, path: &Path) -> io::Result<()> {
        self.take(&open_append(path)?)
    }

    /// Make this descriptor a copy of `file`'s; our copy of `file` is
    /// closed by its owner.
    fn take(&self, file: &std::fs::File) -> io::Result<()> {
        // SAFETY: dup2 onto a descriptor this LogFd writes; `file` is open.
        if unsafe { libc::dup2(file.as_raw_fd(), self.fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.kind.store(UNKNOWN, Relaxed);
        Ok(())
    }

    /// The [`LogFd`] for a standard descriptor (1 or 2).
    pub fn standard(fd: RawFd) -> Option<&'static LogFd> {
        match fd {
            libc::STDOUT_FILENO => Some(&STDOUT),
            libc::STDERR_FILENO => Some(&STDERR),
            _ => None,
        }
    }

    /// Write `bytes` (whole lines, ideally) with one `write` where the
    /// descriptor allows it. Never fails, never panics, and waits at most
    /// [`WAIT`] for a slow reader.
    pub fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // While writes fail, only the notice is tried, and without waiting.
        if self.lost.load(Relaxed) > 0 && !self.report_loss() {
            self.count_loss(lines_in(bytes), libc::EAGAIN, None);
            return;
        }
        let now = now_us();
        let wait = if now < self.no_wait_until_us.load(Relaxed) {
            Duration::ZERO
        } else {
            WAIT
        };
        if let Err(f) = self.write_bounded(bytes, wait) {
            if f.written > 0 {
                TORN.store(true, Relaxed);
            }
            self.count_loss(lines_in(&bytes[f.written..]), f.errno, None);
        }
    }

    /// Lines this process could not write and has not reported yet.
    pub fn lost(&self) -> u64 {
        self.lost.load(Relaxed)
    }

    fn count_loss(&self, lines: u64, errno: i32, since_us: Option<u64>) {
        let quiet = now_us().saturating_add(NO_WAIT_AFTER_LOSS.as_micros() as u64);
        self.no_wait_until_us.store(quiet, Relaxed);
        if self.lost.fetch_add(lines, Relaxed) == 0 {
            self.lost_since_us
                .store(since_us.unwrap_or_else(now_us), Relaxed);
            self.lost_errno.store(errno, Relaxed);
        }
    }

    /// Write the "N log lines lost" line; false (and the count kept) if
    /// the descriptor still fails.
    fn report_loss(&self) -> bool {
        let lost = self.lost.swap(0, Relaxed);
        if lost == 0 {
            return true;
        }
        let since = self.lost_since_us.load(Relaxed);
        let errno = self.lost_errno.load(Relaxed);
        let torn = TORN.swap(false, Relaxed);
        let notice = loss_notice(self.fd, lost, since, errno, now_us(), torn);
        match self.write_bounded(notice.as_bytes(), Duration::ZERO) {
            Ok(()) => true,
            Err(f) => {
                TORN.store(torn || f.written > 0, Relaxed);
                self.count_loss(lost, errno, Some(since));
                false
            }
        }
    }

    fn kind(&self) -> u8 {
        match self.kind.load(Relaxed) {
            UNKNOWN => {
                let kind = kind_of(self.fd);
                self.kind.store(kind, Relaxed);
                kind
            }
            kind => kind,
        }
    }

    fn write_bounded(&self, bytes: &[u8], wait: Duration) -> Result<(), Failed> {
        let deadline = Instant::now() + wait;
        let kind = self.kind();
        let mut written = 0;
        while written < bytes.len() {
            let rest = &bytes[written..];
            let n = match kind {
                // MSG_DONTWAIT makes this one call non-blocking without
                // touching the socket's flags, which other processes share.
                // SAFETY: send(2) reads `rest`, a live slice, within bounds.
                SOCKET => unsafe {
                    libc::send(
                        self.fd,
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                },
                STREAM => {
                    if !writable(self.fd, deadline) {
                        return Err(Failed {
                            errno: libc::EAGAIN,
                            written,
                        });
                    }
                    // POLLOUT on a pipe promises room for PIPE_BUF bytes;
                    // more could block until the reader makes room.
                    let chunk = rest.len().min(libc::PIPE_BUF);
                    // SAFETY: write(2) reads `chunk` bytes of a live slice.
                    unsafe { libc::write(self.fd, rest.as_ptr().cast(), chunk) }
                }
                // SAFETY: write(2) reads `rest`, a live slice, within bounds.
                _ => unsafe { libc::write(self.fd, rest.as_ptr().cast(), rest.len()) },
            };
            if n > 0 {
                written += n as usize;
                continue;
            }
            let errno = if n == 0 {
                libc::EIO
            } else {
                io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO)
            };
            match errno {
                libc::EINTR => {}
                libc::EAGAIN if kind == SOCKET && writable(self.fd, deadline) => {}
                _ => return Err(Failed { errno, written }),
            }
        }
        Ok(())
    }
}

/// Lines in `bytes` for the loss count: a trailing partial line counts.
fn lines_in(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

fn kind_of(fd: RawFd) -> u8 {
    // SAFETY: fstat writes into a zeroed local stat struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; an invalid fd only makes fstat fail.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return FILE;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => SOCKET,
        // A terminal can block too (flow control, a pty nobody reads);
        // /dev/null and /dev/full answer poll at once.
        libc::S_IFIFO | libc::S_IFCHR => STREAM,
        _ => FILE,
    }
}

/// Wait until `fd` takes more bytes, or `deadline` passes.
fn writable(fd: RawFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll(2) on one live pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            // An error condition (a reader gone) is reported by the write.
            1 => return true,
            0 => return false,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return true,
        }
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The line that reports dropped lines, in the same shape as the event
/// lines `tracing` writes.
fn loss_notice(fd: RawFd, lost: u64, since_us: u64, errno: i32, now_us: u64, torn: bool) -> String {
    let reason = if errno == libc::EAGAIN {
        "the log reader did not keep up".to_string()
    } else {
        io::Error::from_raw_os_error(errno).to_string()
    };
    let lines = if lost == 1 { "line" } else { "lines" };
    let what = if fd == libc::STDOUT_FILENO {
        format!("{lines} the app printed to stdout")
    } else {
        format!("log {lines}")
    };
    format!(
        "{}{}  WARN {lost} {what} lost since {}: {reason}\n",
        if torn { "\n" } else { "" },
        rfc3339(now_us),
        rfc3339(since_us),
    )
}

/// `2026-11-27T05:22:46.588442Z`, as `tracing-subscriber` prints times.
fn rfc3339(us: u64) -> String {
    let secs = us / 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        us % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn rfc3339_matches_known_instants() {
        for (us, text) in [
            (0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400_000_001, "2000-02-29T00:00:00.000001Z"),
            (1_795_757_566_588_442, "2026-11-27T05:32:46.588442Z"),
        ] {
            assert_eq!(rfc3339(us), text);
        }
    }

    #[test]
    fn lines_count_a_trailing_partial_line() {
        for (bytes, lines) in [
            (&b"a\n"[..], 1),
            (b"a\nb\n", 2),
            (b"a\nb", 2),
            (b"partial", 1),
            (b"", 0),
        ] {
            assert_eq!(lines_in(bytes), lines, "{bytes:?}");
        }
    }

    #[test]
    fn the_notice_names_count_time_and_cause() {
        let line = loss_notice(2, 3, 0, libc::ENOSPC, 1_000_000, true);
        assert!(line.starts_with("\n1970-01-01T00:00:01.000000Z  WARN 3 log lines lost since 1970-01-01T00:00:00.000000Z: No space left on device"), "{line}");
        assert!(line.ends_with('\n'));
        let line = loss_notice(1, 1, 0, libc::EAGAIN, 0, false);
        assert!(
            line.contains(" 1 line the app printed to stdout lost "),
            "{line}"
        );
        assert!(line.contains("did not keep up"), "{line}");
    }

    /// A LogFd on a descriptor of the test's own (the statics are 1 and 2).
    fn log_fd(fd: RawFd) -> LogFd {
        LogFd::new(fd)
    }

    #[test]
    fn dev_full_counts_then_reports_once_when_writes_work_again() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let (mut r, w) = std::io::pipe().expect("pipe");
        // The LogFd writes to whatever sits at this descriptor number:
        // first /dev/full, then the pipe (as logrotate + SIGUSR2 would).
        let slot = nix::unistd::dup(full.as_fd()).expect("dup");
        let fd = slot.as_raw_fd();
        let log = log_fd(fd);
        log.write(b"one\n");
        log.write(b"two\nthree\n");
        assert_eq!(log.lost(), 3);
        // SAFETY: dup2 onto a descriptor this test owns.
        assert!(unsafe { libc::dup2(w.as_raw_fd(), fd) } >= 0);
        log.kind.store(UNKNOWN, Relaxed);
        log.write(b"four\n");
        log.write(b"five\n");
        assert_eq!(log.lost(), 0);
        drop(w);
        drop(slot);
        let mut out = String::new();
        r.read_to_string(&mut out).expect("read");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].contains("WARN 3 log lines lost since") && lines[0].contains("No space left"),
            "{out}"
        );
        assert_eq!(&lines[1..], ["four", "five"]);
    }

    #[test]
    fn a_slow_reader_costs_one_bounded_wait_per_period_not_per_line() {
        let (mut r, w) = std::io::pipe().expect("pipe");
        let log = log_fd(w.as_raw_fd());
        let line = [&[b'x'; 1023][..], b"\n"].concat();
        let started = Instant::now();
        // Fill the pipe (64 KiB by default), then some.
        for _ in 0..200 {
            log.write(&line);
        }
        assert!(log.lost() > 0);
        // The reader drains a little now and then: no write waits again
        // within the period, though each finds the pipe full once more.
        let mut drained = vec![0u8; 8192];
        for _ in 0..20 {
            let _ = r.read(&mut drained);
            for _ in 0..10 {
                log.write(&line);
            }
        }
        let elapsed = started.elapsed();
        assert!(elapsed < WAIT * 3, "waited {elapsed:?} for a slow reader");
    }

    #[test]
    fn a_socket_whose_peer_is_gone_drops_lines_without_sigpipe() {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        drop(b);
        let log = log_fd(a.as_raw_fd());
        log.write(b"lost\n");
        assert_eq!(log.lost(), 1);
        assert_eq!(log.lost_errno.load(Relaxed), libc::EPIPE);
    }
}
