//! One client connection: read a head, read its body, hand the request to
//! the executor, drain what the response left unsent, repeat while the
//! connection may be kept alive. Everything here is async and holds no
//! Python thread.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::wsgi::environ::ConnInfo;
use rsgi_core::protocol::encode::Output;
use rsgi_core::protocol::{self, RequestHead};

use super::Settings;
use super::body::BodyReader;
use super::exec::{Executor, Job};
use super::listener::Stream;
use super::log::{Answer, RequestLog};
use rsgi_core::net::Proto;

/// Why a connection ends early.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Http(#[from] protocol::http::HttpError),
    #[error("invalid uwsgi packet: {0}")]
    Uwsgi(#[from] protocol::uwsgi::UwsgiError),
    #[error("invalid chunked body: {0}")]
    Chunked(protocol::chunked::ChunkedError),
    #[error("the client closed the connection before the body was complete")]
    BodyTruncated,
    #[error("the client sent nothing for longer than socket-timeout")]
    Timeout,
    #[error("the request head did not arrive whole within socket-timeout")]
    HeadTimeout,
    #[error("spooling the body to a temp file failed: {0}")]
    Spool(io::Error),
    #[error(
        "the body ({wanted} bytes so far or announced) would take more than half of the spool directory's free space ({ceiling} bytes allowed)"
    )]
    SpoolFull { wanted: u64, ceiling: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ConnError {
    /// The status to answer with before closing, when an answer makes sense.
    fn status(&self) -> Option<u16> {
        match self {
            ConnError::Http(e) => Some(e.status()),
            ConnError::Uwsgi(e) => Some(e.status()),
            ConnError::Chunked(e) => Some(e.status()),
            ConnError::Timeout | ConnError::HeadTimeout => Some(408),
            ConnError::SpoolFull { .. } => Some(413),
            ConnError::Spool(_) => Some(500),
            // The client is gone: nobody to answer.
            ConnError::BodyTruncated | ConnError::Io(_) => None,
        }
    }
}

/// Read whatever the client sends next into `buf`, waiting at most `timeout`.
/// Returns 0 at end of stream.
pub async fn read_some(
    stream: &Stream,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<usize, ConnError> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    read_at_most(stream, buf, usize::MAX, timeout).await
}

/// Read at most `max` bytes into `buf`'s spare capacity (growing it only
/// if it has none), waiting at most `timeout`. Returns 0 at end of stream.
pub async fn read_at_most(
    stream: &Stream,
    buf: &mut Vec<u8>,
    max: usize,
    timeout: Duration,
) -> Result<usize, ConnError> {
    match tokio::time::timeout(timeout, stream.read_buf(buf, max)).await {
        Err(_) => Err(ConnError::Timeout),
        Ok(r) => Ok(r?),
    }
}

/// Write all of `data`. `timeout` bounds each wait for the client to take
/// more (socket-timeout, as uWSGI means it), not the whole transfer.
async fn write_all(stream: &Stream, mut data: &[u8], timeout: Duration) -> Result<(), ConnError> {
    while !data.is_empty() {
        match tokio::time::timeout(timeout, stream.write(data)).await {
            Err(_) => return Err(ConnError::Timeout),
            Ok(n) => data = &data[n?..],
        }
    }
    Ok(())
}

/// Send what a response left unsent, counting what goes out. As in
/// [`write_all`], `timeout` bounds each wait: a client reading a large
/// response slowly but steadily gets all of it.
async fn drain(stream: &Stream, out: &mut Output, timeout: Duration) -> Result<(), ConnError> {
    while !out.pending().is_empty() {
        match tokio::time::timeout(timeout, stream.write(out.pending())).await {
            Err(_) => return Err(ConnError::Timeout),
            Ok(n) => out.advance(n?),
        }
    }
    Ok(())
}

fn parse(
    proto: Proto,
    buf: &[u8],
    settings: &Settings,
) -> Result<Option<(RequestHead, usize)>, ConnError> {
    Ok(match proto {
        Proto::Http => protocol::http::parse_request(buf, &settings.limits)?,
        Proto::Uwsgi => protocol::uwsgi::parse_packet(buf, &settings.limits)?,
    })
}

/// How long a stopping worker keeps an idle connection open for one more
/// request.
const STOP_IDLE_GRACE: Duration = Duration::from_secs(2);

/// Wait for and parse the next head. `Ok(None)`: the client closed, or the
/// worker is stopping, between requests.
///
/// Once its first byte is in, a head must arrive whole within
/// socket-timeout, however it trickles in: a timeout per read would let a
/// client that sends a byte every few seconds hold the connection for
/// ever (slowloris). nginx's client_header_timeout works the same way.
async fn next_head(
    stream: &Stream,
    buf: &mut Vec<u8>,
    proto: Proto,
    settings: &Settings,
    first: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Result<Option<RequestHead>, ConnError> {
    let mut deadline = None;
    loop {
        if !buf.is_empty() {
            if let Some((head, used)) = parse(proto, buf, settings)? {
                buf.drain(..used);
                return Ok(Some(head));
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + settings.socket_timeout);
        }
        let read = match deadline {
            Some(deadline) => read_some_until(stream, buf, deadline).await,
            None => wait_for_head(stream, buf, settings, first, stopping).await,
        };
        match read {
            Ok(0) if deadline.is_none() => return Ok(None),
            Ok(0) => return Err(ConnError::Http(protocol::http::HttpError::Incomplete)),
            Ok(_) => {}
            Err(ConnError::Timeout) if deadline.is_none() => return Ok(None),
            Err(ConnError::Timeout) => return Err(ConnError::HeadTimeout),
            Err(e) => return Err(e),
        }
    }
}

/// Wait for the first bytes of a head on an idle connection.
async fn wait_for_head(
    stream: &Stream,
    buf: &mut Vec<u8>,
    settings: &Settings,
    first: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Result<usize, ConnError> {
    let timeout = if first {
        settings.socket_timeout
    } else {
        settings.keepalive
    };
    // A stopping worker still answers the next request on a connection
    // it holds (with Connection: close): closing an idle keep-alive
    // connection races with a client sending on it, and that client
    // would see its request fail. Only connections idle past a short
    // grace are closed.
    let grace = STOP_IDLE_GRACE.min(timeout);
    if *stopping.borrow() {
        return read_some(stream, buf, grace).await;
    }
    tokio::select! {
        r = read_some(stream, buf, timeout) => r,
        () = async { drop(stopping.wait_for(|s| *s).await) } => read_some(stream, buf, grace).await,
    }
}

/// [`read_some`] with a deadline instead of a timeout.
async fn read_some_until(
    stream: &Stream,
    buf: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> Result<usize, ConnError> {
    read_some(
        stream,
        buf,
        deadline.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await
}

/// Serve one connection to its end.
pub async fn serve(
    stream: Stream,
    conn: ConnInfo,
    proto: Proto,
    settings: Arc<Settings>,
    executor: Arc<Executor>,
    mut stopping: watch::Receiver<bool>,
) {
    let conn = Arc::new(conn);
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        let head = match next_head(&stream, &mut buf, proto, &settings, first, &mut stopping).await
        {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                let head_only = starts_like_head(&buf);
                return refuse(&stream, proto, &conn, e, head_only, &settings, &executor).await;
            }
        };
        first = false;
        // With logging off nothing reads the record or the clock: both
        // cost a few allocations and a clock read per request.
        let log = (!settings.log.disabled).then(|| {
            (
                RequestLog::from_head(&head, &conn, &settings.log),
                Instant::now(),
            )
        });
        // A body that will not be taken is refused now, so a client that
        // waits for 100 Continue gets the 413 instead.
        let reader =
            match BodyReader::new(head.body, settings.body_mem_limit, settings.limits.max_body) {
                Ok(reader) => reader,
                Err(e) => {
                    return refuse(
                        &stream,
                        proto,
                        &conn,
                        e,
                        head.is_head(),
                        &settings,
                        &executor,
                    )
                    .await;
                }
            };
        if head.expect_continue && proto == Proto::Http && buf.is_empty() {
            // RFC 9110 10.1.1: a server that receives 100-continue "ought
            // to" send 100 (Continue) before reading the body.
            if let Err(e) = write_all(
                &stream,
                b"HTTP/1.1 100 Continue\r\n\r\n",
                settings.socket_timeout,
            )
            .await
            {
                return refuse(
                    &stream,
                    proto,
                    &conn,
                    e,
                    head.is_head(),
                    &settings,
                    &executor,
                )
                .await;
            }
        }
        let body = match reader
            .read(&stream, &mut buf, settings.socket_timeout)
            .await
        {
            Ok(body) => body,
            Err(e) => {
                return refuse(
                    &stream,
                    proto,
                    &conn,
                    e,
                    head.is_head(),
                    &settings,
                    &executor,
                )
                .await;
            }
        };
        let request_keep_alive = head.keep_alive && proto == Proto::Http;
        let stopping_now = *stopping.borrow();
        let cl = body.len() as u64;
        if let Some(files) = &settings.static_files
            && let Some(served) = super::files::serve(
                &stream,
                &head,
                files,
                &settings.header_rules,
                request_keep_alive && !stopping_now,
                settings.socket_timeout,
            )
            .await
        {
            executor.served_static(served.status, served.output.body_sent());
            if let Some((log, started)) = &log {
                let answer = Answer {
                    status: served.status,
                    rsize: served.output.body_sent(),
                    hsize: served.output.head_sent(),
                    cl,
                    headers: served.headers,
                    core: 0,
                    wid: executor.worker_id(),
                    app: None,
                    requests: executor.request_counts(0),
                    // No app ran, so no logvar was set.
                    logvars: Vec::new(),
                };
                log.write(&settings.log, &answer, started.elapsed());
            }
            if !served.keep_alive {
                return;
            }
            continue;
        }
        let job = Job {
            fd: stream.as_raw_fd(),
            head,
            body,
            conn: conn.clone(),
            keep_alive: request_keep_alive && !stopping_now,
        };
        let mut done = executor.run(job).await;
        // An aborted response was cut off: nothing more goes out, and the
        // connection closes now (a next response would be read as part of it).
        let complete = !done.output.aborted()
            && drain(&stream, &mut done.output, settings.socket_timeout)
                .await
                .is_ok();
        if !complete && done.output.close_delimited() {
            super::sink::reset_on_close(stream.as_raw_fd());
        }
        if let Some((log, started)) = &log {
            let answer = Answer {
                status: done.status,
                // What reached the client, not what the app gave: a client
                // that stopped reading got less (uWSGI's hsize and rsize).
                rsize: done.output.body_sent(),
                hsize: done.output.head_sent(),
                cl,
                headers: done.headers,
                core: done.core,
                wid: executor.worker_id(),
                app: Some(done.app),
                requests: executor.request_counts(done.app),
                logvars: std::mem::take(&mut done.logvars),
            };
            log.write(&settings.log, &answer, started.elapsed());
        }
        let keep_alive = done.keep_alive;
        if !(complete && keep_alive && request_keep_alive) {
            return;
        }
    }
}

/// After an error answer, what is still read and thrown away at most,
/// and for how long. Closing a socket with unread data makes the kernel
/// send a reset, which can destroy the answer before the client reads it;
/// so, like nginx's lingering close (which bounds only the time, 30 s),
/// the worker first shuts its side and drains what the client still
/// sends. 1 MiB is where curl starts to ask `Expect: 100-continue`: larger
/// bodies are refused before they are sent.
const LINGER_BYTES: usize = 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(5);

/// Answer a broken request with its status when that makes sense (over
/// uwsgi too: nginx passes the answer on), then close the connection.
async fn refuse(
    stream: &Stream,
    proto: Proto,
    conn: &ConnInfo,
    err: ConnError,
    head_only: bool,
    settings: &Settings,
    executor: &Executor,
) {
    executor.read_error();
    match (&err, proto) {
        (ConnError::Io(_), _) | (ConnError::BodyTruncated, _) => {
            tracing::debug!(peer = %conn.remote_addr, error = %err, "connection ended");
        }
        _ => {
            tracing::info!(peer = %conn.remote_addr, error = %err, "bad request, closing the connection")
        }
    }
    let Some(status) = err.status() else {
        return;
    };
    let answer = protocol::http::error_answer(status, head_only, &settings.header_rules);
    if write_all(stream, &answer, settings.socket_timeout)
        .await
        .is_ok()
    {
        linger(stream, settings.socket_timeout).await;
    }
}

/// Whether a head that could not be parsed was a HEAD request (whose
/// answer has no content), as far as its first bytes tell.
fn starts_like_head(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    buf[start..].starts_with(b"HEAD ")
}

/// Shut the sending side and drain what the client still sends, within
/// [`LINGER_BYTES`] and [`LINGER_TIME`] (and socket-timeout per read).
async fn linger(stream: &Stream, timeout: Duration) {
    if stream.shutdown_write().is_err() {
        return;
    }
    let end = tokio::time::Instant::now() + LINGER_TIME;
    let mut drained = 0;
    let mut scratch = Vec::with_capacity(64 * 1024);
    while drained < LINGER_BYTES {
        scratch.clear();
        let until = end.min(tokio::time::Instant::now() + timeout);
        match read_some_until(stream, &mut scratch, until).await {
            Ok(n) if n > 0 => drained += n,
            _ => return,
        }
    }
}
