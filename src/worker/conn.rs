//! One client connection: read a head, read its body, hand the request to
//! the executor, drain what the response left unsent, repeat while the
//! connection may be kept alive. Everything here is async and holds no
//! Python thread.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::protocol::{self, RequestHead};
use crate::wsgi::environ::ConnInfo;

use super::Settings;
use super::body::read_body;
use super::exec::{Executor, Job};
use super::listener::{Proto, Stream};
use super::log::{Answer, RequestLog};

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
    #[error("the client sent nothing for longer than the timeout")]
    Timeout,
    #[error("spooling the body to a temp file failed: {0}")]
    Spool(io::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ConnError {
    /// The status to answer with before closing, when an answer makes sense.
    fn status(&self) -> Option<u16> {
        match self {
            ConnError::Http(e) => Some(e.status()),
            ConnError::Chunked(e) => Some(e.status()),
            ConnError::Timeout => Some(408),
            _ => None,
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

async fn write_all(stream: &Stream, mut data: &[u8], timeout: Duration) -> Result<(), ConnError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !data.is_empty() {
        match tokio::time::timeout_at(deadline, stream.write(data)).await {
            Err(_) => return Err(ConnError::Timeout),
            Ok(n) => data = &data[n?..],
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
        Proto::Uwsgi => protocol::uwsgi::parse_packet(buf, settings.limits.max_head)?,
    })
}

/// How long a stopping worker keeps an idle connection open for one more
/// request.
const STOP_IDLE_GRACE: Duration = Duration::from_secs(2);

/// Wait for and parse the next head. `Ok(None)`: the client closed, or the
/// worker is stopping, between requests.
async fn next_head(
    stream: &Stream,
    buf: &mut Vec<u8>,
    proto: Proto,
    settings: &Settings,
    first: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Result<Option<RequestHead>, ConnError> {
    loop {
        if !buf.is_empty()
            && let Some((head, used)) = parse(proto, buf, settings)?
        {
            buf.drain(..used);
            return Ok(Some(head));
        }
        let idle = buf.is_empty();
        let timeout = if idle && !first {
            settings.keepalive
        } else {
            settings.socket_timeout
        };
        // A stopping worker still answers the next request on a connection
        // it holds (with Connection: close): closing an idle keep-alive
        // connection races with a client sending on it, and that client
        // would see its request fail. Only connections idle past a short
        // grace are closed.
        let grace = STOP_IDLE_GRACE.min(timeout);
        let already_stopping = *stopping.borrow();
        let read = if idle && already_stopping {
            read_some(stream, buf, grace).await
        } else if idle {
            tokio::select! {
                r = read_some(stream, buf, timeout) => r,
                () = async { drop(stopping.wait_for(|s| *s).await) } => read_some(stream, buf, grace).await,
            }
        } else {
            read_some(stream, buf, timeout).await
        };
        match read {
            Ok(0) if idle => return Ok(None),
            Ok(0) => return Err(ConnError::Http(protocol::http::HttpError::Incomplete)),
            Ok(_) => {}
            Err(ConnError::Timeout) if idle => return Ok(None),
            Err(e) => return Err(e),
        }
    }
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
            Err(e) => return refuse(&stream, proto, &conn, e, &settings, &executor).await,
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
                return refuse(&stream, proto, &conn, e, &settings, &executor).await;
            }
        }
        let body = match read_body(
            &stream,
            &mut buf,
            head.body,
            settings.body_mem_limit,
            settings.limits.max_body,
            settings.socket_timeout,
        )
        .await
        {
            Ok(body) => body,
            Err(e) => return refuse(&stream, proto, &conn, e, &settings, &executor).await,
        };
        let request_keep_alive = head.keep_alive && proto == Proto::Http;
        let stopping_now = *stopping.borrow();
        let rsize = body.len();
        let job = Job {
            fd: stream.as_raw_fd(),
            head,
            body,
            conn: conn.clone(),
            keep_alive: request_keep_alive && !stopping_now,
        };
        let done = executor.run(job).await;
        let drained = write_all(&stream, &done.pending, settings.socket_timeout)
            .await
            .is_ok();
        if let Some((log, started)) = &log {
            let answer = Answer {
                status: done.status,
                rsize: done.body_bytes,
                hsize: done.head_bytes,
                cl: rsize as u64,
                headers: done.headers,
                core: done.core,
                wid: executor.worker_id(),
                app: Some(done.app),
                requests: executor.request_counts(done.app),
            };
            log.write(&settings.log, &answer, started.elapsed());
        }
        let keep_alive = done.keep_alive;
        if !(drained && keep_alive && request_keep_alive) {
            return;
        }
    }
}

/// Answer a broken request with its status when that makes sense, then close.
async fn refuse(
    stream: &Stream,
    proto: Proto,
    conn: &ConnInfo,
    err: ConnError,
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
    if proto != Proto::Http {
        return;
    }
    if let Some(status) = err.status() {
        let reason = protocol::response::reason_phrase(status);
        let body = format!("{status} {reason}\n");
        let msg = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = write_all(stream, msg.as_bytes(), settings.socket_timeout).await;
    }
}
