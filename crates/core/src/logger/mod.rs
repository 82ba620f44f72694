//! Loggers: `logger`, `req-logger`, `log-route` and `log-req-route`, as
//! uWSGI has them. Every line a process logs comes through here: events
//! (`tracing`) through [`log`], the app's stdout and stderr and
//! `wsgi.errors` through [`app_output`], request lines through
//! [`log_request`]. With no logger configured they go to the process's
//! own log (stderr or `logto`) exactly as before.
//!
//! A route's regex is matched against one line. rsgi's own lines are
//! whole in one write; what the app writes comes in pieces (`print`
//! writes its arguments one by one when unbuffered), so it is put back
//! into lines first, per thread, so threads' pieces never mix.
//!
//! uWSGI funnels every process's lines through a pipe to its master,
//! which runs the loggers. rsgi runs them in each process instead (the
//! master installs them, the zygote too, and workers inherit the zygote's):
//! a line is one `write` or one datagram wherever it is written, so no
//! process waits on another, and the guarantees of [`crate::logfile`]
//! hold for every target — nothing panics, a failed line is dropped and
//! counted, nothing blocks serving.

mod spec;
mod syslog;

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use spec::{Logger, Plan, Route, Target};
pub use syslog::Facility;

use crate::logfile::{LogFd, STDERR, STDOUT};

/// A logger that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("logger {logger}: cannot open {}: {source}", path.display())]
    Open {
        logger: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("logger {logger}: cannot make a socket for syslog: {source}")]
    Syslog { logger: String, source: io::Error },
    #[error("loggers are already set up in this process")]
    Installed,
}

/// What the config asks for.
pub struct Wanted<'a> {
    pub loggers: &'a [Logger],
    pub routes: &'a [Route],
    pub req_loggers: &'a [Logger],
    pub req_routes: &'a [Route],
}

impl Wanted<'_> {
    fn any(&self) -> bool {
        !(self.loggers.is_empty()
            && self.routes.is_empty()
            && self.req_loggers.is_empty()
            && self.req_routes.is_empty())
    }
}

/// Where a logger writes, open in this process.
enum Sink {
    Stdio,
    File {
        log: LogFd,
        path: PathBuf,
        /// Keeps `log`'s descriptor open.
        _file: File,
    },
    Syslog(syslog::Syslog),
}

impl Sink {
    fn open(logger: &Logger) -> Result<Sink, Error> {
        Ok(match &logger.target {
            Target::Stdio => Sink::Stdio,
            Target::File(path) => {
                let file = crate::logfile::open_append(path).map_err(|source| Error::Open {
                    logger: logger.to_string(),
                    path: path.clone(),
                    source,
                })?;
                Sink::File {
                    log: LogFd::on(file.as_raw_fd()),
                    path: path.clone(),
                    _file: file,
                }
            }
            Target::Syslog { ident, facility } => {
                Sink::Syslog(syslog::Syslog::new(ident, *facility).map_err(|source| {
                    Error::Syslog {
                        logger: logger.to_string(),
                        source,
                    }
                })?)
            }
        })
    }

    fn write(&self, line: &[u8]) {
        match self {
            Sink::Stdio => STDERR.write(line),
            Sink::File { log, .. } => log.write(line),
            Sink::Syslog(s) => s.send(line),
        }
    }
}

/// The loggers of this process.
struct Loggers {
    /// `logger` values, then `req-logger` values.
    sinks: Vec<Sink>,
    lines: Plan,
    /// With `req-logger` or `log-req-route`, request lines have their own
    /// plan (uWSGI's request log pipe); else they are lines like any other.
    requests: Option<Plan>,
}

static LOGGERS: OnceLock<Loggers> = OnceLock::new();

/// Open the loggers `wanted` names and send this process's lines through
/// them from now on. Once per process: the master at start, the zygote at
/// start (its workers inherit them).
pub fn install(wanted: &Wanted<'_>) -> Result<(), Error> {
    if !wanted.any() {
        return Ok(());
    }
    let all: Vec<&Logger> = wanted.loggers.iter().chain(wanted.req_loggers).collect();
    let sinks = all
        .iter()
        .map(|l| Sink::open(l))
        .collect::<Result<Vec<_>, _>>()?;
    let general = wanted.loggers.len();
    let named_in = |range: std::ops::Range<usize>, id: &str| {
        range
            .into_iter()
            .find(|&i| all[i].id.as_deref() == Some(id))
    };
    let lines = Plan::new(
        all[..general].iter().copied().enumerate(),
        wanted.routes,
        |id| named_in(0..general, id),
    );
    let requests = (!wanted.req_loggers.is_empty() || !wanted.req_routes.is_empty()).then(|| {
        let req = all[general..]
            .iter()
            .copied()
            .enumerate()
            .map(|(i, l)| (general + i, l));
        // uWSGI looks a log-req-route's name up among the `logger`s only;
        // rsgi looks among the `req-logger`s first, so a named request
        // logger can be routed to as well.
        Plan::new(req, wanted.req_routes, |id| {
            named_in(general..all.len(), id).or_else(|| named_in(0..general, id))
        })
    });
    LOGGERS
        .set(Loggers {
            sinks,
            lines,
            requests,
        })
        .map_err(|_| Error::Installed)
}

/// Reopen the `file:` loggers (after logrotate moved them: `log-reopen`);
/// whether there were any.
pub fn reopen() -> io::Result<bool> {
    let Some(loggers) = LOGGERS.get() else {
        return Ok(false);
    };
    let mut any = false;
    for sink in &loggers.sinks {
        if let Sink::File { log, path, .. } = sink {
            log.reopen(path)?;
            any = true;
        }
    }
    Ok(any)
}

/// Whether any `file:` logger is open (SIGUSR2 then has files to reopen).
pub fn has_files(wanted: &[Logger]) -> bool {
    wanted.iter().any(|l| matches!(l.target, Target::File(_)))
}

fn dispatch(plan: &Plan, sinks: &[Sink], line: &[u8], own: &LogFd) {
    let taken = plan.pick(line, |i| {
        if let Some(sink) = sinks.get(i) {
            sink.write(line);
        }
    });
    if !taken {
        own.write(line);
    }
}

/// Log an event or what the app wrote to stderr.
pub fn log(line: &[u8]) {
    match LOGGERS.get() {
        Some(l) => dispatch(&l.lines, &l.sinks, line, &STDERR),
        None => STDERR.write(line),
    }
}

/// The app's two output streams (`wsgi.errors` is stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    /// The process's own log for the stream, which keeps its own count
    /// of lost lines ("printed to stdout").
    fn own(self) -> &'static LogFd {
        match self {
            Stream::Stdout => &STDOUT,
            Stream::Stderr => &STDERR,
        }
    }
}

/// The longest unfinished line kept waiting for its newline; longer, it
/// is logged as it is (uWSGI's log-master-bufsize default).
const MAX_PARTIAL: usize = 8192;

/// This thread's unfinished app line per stream; logged if the thread
/// ends before the newline comes.
struct Partial([Vec<u8>; 2]);

impl Drop for Partial {
    fn drop(&mut self) {
        for (stream, carry) in [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .zip(&mut self.0)
        {
            flush_partial(stream, carry);
        }
    }
}

thread_local! {
    static PARTIAL: RefCell<Partial> = const { RefCell::new(Partial([Vec::new(), Vec::new()])) };
}

fn flush_partial(stream: Stream, carry: &mut Vec<u8>) {
    if let (Some(l), false) = (LOGGERS.get(), carry.is_empty()) {
        dispatch(&l.lines, &l.sinks, carry, stream.own());
    }
    carry.clear();
}

/// Log what the app wrote to `stream` (uWSGI's loggers get the app's
/// output too).
pub fn app_output(stream: Stream, bytes: &[u8]) {
    let Some(l) = LOGGERS.get() else {
        return stream.own().write(bytes);
    };
    let whole = |line: &[u8]| dispatch(&l.lines, &l.sinks, line, stream.own());
    let assembled = PARTIAL.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else {
            return false;
        };
        let carry = &mut p.0[stream as usize];
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end + 1);
            if carry.is_empty() {
                whole(line);
            } else {
                carry.extend_from_slice(line);
                whole(carry);
                carry.clear();
            }
            rest = after;
        }
        carry.extend_from_slice(rest);
        if carry.len() >= MAX_PARTIAL {
            whole(carry);
            carry.clear();
        }
        true
    });
    // A thread being torn down has no carry left: log the piece as it is.
    if assembled != Ok(true) {
        whole(bytes);
    }
}

/// Log this thread's unfinished app lines now: before the zygote forks
/// (else every worker would inherit and log them) and as a worker exits.
pub fn flush_app_output() {
    let _ = PARTIAL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            for (stream, carry) in [Stream::Stdout, Stream::Stderr].into_iter().zip(&mut p.0) {
                flush_partial(stream, carry);
            }
        }
    });
}

/// Log a request line.
pub fn log_request(line: &[u8]) {
    match LOGGERS.get() {
        Some(Loggers {
            sinks,
            requests: Some(plan),
            ..
        }) => dispatch(plan, sinks, line, &STDERR),
        _ => log(line),
    }
}

/// `tracing`'s writer: each event is one line through [`log`].
struct Events;

impl io::Write for Events {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        log(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every process's `tracing` setup: level from `RUST_LOG` (default info),
/// lines through [`log`]. The writers drop (and count) what they cannot
/// write; tracing's own report of a failed write is an `eprintln!`, which
/// panics when stderr fails too, so it is off.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Events)
        .log_internal_errors(false)
        .with_target(false)
        .init();
}
