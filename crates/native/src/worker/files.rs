//! Static files on the async front: a request a `static-map` (or
//! `check-static`) names is answered here, on the I/O thread, with
//! `sendfile`; it never waits for, or holds, a Python thread. What to
//! answer is `rsgi_core::static_files`' to decide; this module opens,
//! sends and reports.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rsgi_core::protocol::encode::{Encoder, Output, Request, Wire};
use rsgi_core::protocol::header_rules::HeaderRules;
use rsgi_core::protocol::response::ResponseHead;
use rsgi_core::protocol::{HeadKind, RequestHead};
use rsgi_core::static_files::conditional::Validators;
use rsgi_core::static_files::locate::Lookup;
use rsgi_core::static_files::{FileRequest, StaticFiles, Variant};

use super::listener::Stream;

/// A static answer that went out (or was cut off): for the log, the
/// stats and the keep-alive decision.
pub struct Served {
    pub status: u16,
    /// Head and body bytes that reached the client.
    pub output: Output,
    pub headers: usize,
    /// The connection can carry another request.
    pub keep_alive: bool,
}

/// Biggest piece handed to one `sendfile`, so that one large file does
/// not keep the I/O thread from the worker's other connections.
const SENDFILE_PIECE: usize = 1 << 20;

/// Answer `head` from the static files if one is named; `None` sends the
/// request on to the app (no static file, or another method than GET and
/// HEAD), with nothing written.
pub async fn serve(
    stream: &Stream,
    head: &RequestHead,
    files: &StaticFiles,
    rules: &HeaderRules,
    keep_alive: bool,
    timeout: Duration,
) -> Option<Served> {
    let req = FileRequest::of(head)?;
    let named = match files.locate(req.path) {
        Lookup::Miss => return None,
        Lookup::Escaped { file, root } => {
            // uWSGI logs this as a "security error" and passes the request on.
            tracing::warn!(
                uri = %String::from_utf8_lossy(req.uri),
                file = %file.display(),
                root = %root.display(),
                "a static file request leads outside its directory; passed to the app"
            );
            return None;
        }
        Lookup::Found(path) => path,
    };
    let variant = files.variant(named, req.accept_encoding.as_deref());
    let request = Request {
        wire: wire(head),
        head: req.head_only,
        keep_alive,
    };
    // O_NONBLOCK: a file swapped for a FIFO since it was found must not
    // block the I/O thread in open (regular files ignore the flag).
    let opened = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&variant.send)
        .and_then(|f| {
            let meta = f.metadata()?;
            Ok((f, meta))
        });
    let (file, meta) = match opened {
        Ok((file, meta)) if meta.is_file() => (file, meta),
        // Gone, or no longer a regular file, since it was found: as if it
        // had never been there.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(file = %variant.send.display(), error = %e, "a static file cannot be read");
            let status = if e.kind() == io::ErrorKind::PermissionDenied {
                "403 Forbidden"
            } else {
                "500 Internal Server Error"
            };
            return Some(answer_error(stream, &request, rules, status, timeout).await);
        }
    };
    let validators = Validators {
        mtime: u64::try_from(meta.mtime()).unwrap_or(0),
        size: meta.len(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let plan = files.plan(&req, &variant, &validators, now);
    let mut out = Output::default();
    let Some(response) = response_head(plan.status, &plan.headers) else {
        return Some(
            answer_error(
                stream,
                &request,
                rules,
                "500 Internal Server Error",
                timeout,
            )
            .await,
        );
    };
    let mut enc = Encoder::start(&request, &response, rules, &mut out);
    let mut complete = true;
    if let Some((offset, len)) = plan.body {
        let count = enc.begin_file(len, &mut out);
        complete = drain(stream, &mut out, timeout, count > 0).await.is_ok();
        if complete && count > 0 {
            let (sent, result) = send_file(stream, &file, offset, count, timeout).await;
            enc.end_file(count, sent, &mut out);
            if let Err(e) = result {
                log_cut_off(&variant, &e);
                complete = false;
            }
        }
    }
    if complete {
        complete =
            enc.finish(&mut out).is_ok() && drain(stream, &mut out, timeout, false).await.is_ok();
    }
    if !complete {
        enc.abort(&mut out);
    }
    Some(Served {
        status: response.code(),
        headers: plan.headers.len(),
        keep_alive: complete && enc.keep_alive(),
        output: out,
    })
}

fn log_cut_off(variant: &Variant, e: &io::Error) {
    // A client that went away is routine; a file that shrank is not.
    if e.kind() == io::ErrorKind::UnexpectedEof {
        tracing::warn!(file = %variant.send.display(), "a static file shrank while it was sent; the response was cut off");
    } else {
        tracing::debug!(file = %variant.send.display(), error = %e, "a static file response was cut off");
    }
}

/// The wire protocol of the answer; over uwsgi the head is still HTTP,
/// as nginx expects.
fn wire(head: &RequestHead) -> Wire {
    match &head.kind {
        HeadKind::Http {
            minor_version: 0, ..
        } => Wire::Http10,
        HeadKind::Http { .. } => Wire::Http11,
        HeadKind::Uwsgi { .. } => Wire::Uwsgi,
    }
}

fn response_head(status: &str, headers: &[(&str, String)]) -> Option<ResponseHead> {
    let mut head = ResponseHead::new(status.as_bytes(), headers.len()).ok()?;
    for (name, value) in headers {
        head.push_header(name.as_bytes(), value.as_bytes()).ok()?;
    }
    Some(head)
}

/// A file that was found but cannot be sent: a short answer that keeps
/// the connection usable.
async fn answer_error(
    stream: &Stream,
    request: &Request,
    rules: &HeaderRules,
    status: &str,
    timeout: Duration,
) -> Served {
    let reason = status.get(4..).unwrap_or_default();
    let body = format!("{reason}\n");
    let length = body.len().to_string();
    let headers = [
        ("Content-Type", "text/plain; charset=utf-8".to_string()),
        ("Content-Length", length),
    ];
    let mut out = Output::default();
    let Some(head) = response_head(status, &headers) else {
        return Served {
            status: 500,
            output: out,
            headers: 0,
            keep_alive: false,
        };
    };
    let mut enc = Encoder::start(request, &head, rules, &mut out);
    enc.body(body.as_bytes(), &mut out);
    let complete =
        enc.finish(&mut out).is_ok() && drain(stream, &mut out, timeout, false).await.is_ok();
    Served {
        status: head.code(),
        headers: headers.len(),
        keep_alive: complete && enc.keep_alive(),
        output: out,
    }
}

/// Send what `out` holds; `timeout` bounds each wait for the client.
/// `more`: the body follows by sendfile, so the head waits for it.
async fn drain(stream: &Stream, out: &mut Output, timeout: Duration, more: bool) -> io::Result<()> {
    while !out.pending().is_empty() {
        let sent = if more {
            tokio::time::timeout(timeout, stream.write_more(out.pending())).await
        } else {
            tokio::time::timeout(timeout, stream.write(out.pending())).await
        };
        match sent {
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(n) => out.advance(n?),
        }
    }
    Ok(())
}

/// `count` bytes of `file` from `offset` to the client: how many went,
/// and why not all did. `timeout` bounds each wait, not the transfer.
async fn send_file(
    stream: &Stream,
    file: &std::fs::File,
    offset: u64,
    count: u64,
    timeout: Duration,
) -> (u64, io::Result<()>) {
    let mut at = offset;
    while at - offset < count {
        let want = usize::try_from(count - (at - offset))
            .unwrap_or(usize::MAX)
            .min(SENDFILE_PIECE);
        match tokio::time::timeout(timeout, stream.send_file(file.as_raw_fd(), &mut at, want)).await
        {
            Err(_) => return (at - offset, Err(io::ErrorKind::TimedOut.into())),
            Ok(Ok(0)) => return (at - offset, Err(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return (at - offset, Err(e)),
        }
        if at - offset < count {
            // Let the worker's other connections move between pieces.
            tokio::task::yield_now().await;
        }
    }
    (count, Ok(()))
}
