//! The request log line (one `write` per line, so lines from several
//! workers sharing stderr or a log file never interleave).

use std::io::Write;
use std::time::Duration;

use crate::protocol::{HeadKind, RequestHead};
use crate::wsgi::environ::ConnInfo;

/// What the log needs of a request, captured before the head moves on.
pub struct RequestLog {
    method: String,
    uri: String,
    proto: &'static str,
    addr: String,
}

impl RequestLog {
    pub fn from_head(head: &RequestHead, conn: &ConnInfo) -> RequestLog {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match &head.kind {
            HeadKind::Http {
                method,
                target,
                minor_version,
                ..
            } => RequestLog {
                method: text(head.bytes_at(method)),
                uri: text(head.bytes_at(target)),
                proto: if *minor_version == 0 {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                },
                addr: conn.remote_addr.clone(),
            },
            HeadKind::Uwsgi { vars, .. } => {
                let var = |name: &[u8]| {
                    vars.iter()
                        .rev()
                        .find(|(k, _)| head.bytes_at(k) == name)
                        .map(|(_, v)| text(head.bytes_at(v)))
                };
                RequestLog {
                    method: var(b"REQUEST_METHOD").unwrap_or_default(),
                    uri: var(b"REQUEST_URI")
                        .or_else(|| var(b"PATH_INFO"))
                        .unwrap_or_default(),
                    proto: "uwsgi",
                    addr: var(b"REMOTE_ADDR").unwrap_or_else(|| conn.remote_addr.clone()),
                }
            }
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn write(&self, status: u16, bytes: u64, elapsed: Duration) {
        let line = format!(
            "[pid: {}] {} {} {} => generated {} bytes in {} msecs ({} {})\n",
            std::process::id(),
            self.addr,
            self.method,
            self.uri,
            bytes,
            elapsed.as_millis(),
            self.proto,
            status
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
