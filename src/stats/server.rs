//! Serving the stats document and the metrics: a listening socket (TCP or
//! unix) whose clients get one answer each and are closed. Used by the
//! master (`--stats`, `--metrics`) and the emperor (`--emperor-stats`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use rsgi_core::config::Address;
use rsgi_core::net::StdListener;

pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Bind `address` and register it with the current runtime.
pub fn listen(address: &Address, backlog: u32, chmod: Option<u32>) -> Result<Listener, String> {
    let listener = rsgi_core::net::bind::bind_address(
        address,
        backlog,
        rsgi_core::net::bind::UnixPerms::mode(chmod),
    )
    .map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("cannot listen on {address}: {e}");
    Ok(match listener {
        StdListener::Tcp(l) => {
            l.set_nonblocking(true).map_err(io)?;
            Listener::Tcp(tokio::net::TcpListener::from_std(l).map_err(io)?)
        }
        StdListener::Unix(l) => {
            l.set_nonblocking(true).map_err(io)?;
            Listener::Unix(tokio::net::UnixListener::from_std(l).map_err(io)?)
        }
    })
}

/// The next client; pending forever when there is no listener, so it can
/// sit in a `select!` unconditionally.
pub async fn accept(listener: &Option<Listener>) -> std::io::Result<Client> {
    match listener {
        Some(Listener::Tcp(l)) => Ok(Client::Tcp(l.accept().await?.0)),
        Some(Listener::Unix(l)) => Ok(Client::Unix(l.accept().await?.0)),
        None => std::future::pending().await,
    }
}

pub enum Client {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Client {
    /// Send `bytes` and close; a client that does not read within a few
    /// seconds is dropped.
    pub async fn send(mut self, bytes: Vec<u8>) {
        let write = async {
            match &mut self {
                Client::Tcp(s) => s.write_all(&bytes).await,
                Client::Unix(s) => s.write_all(&bytes).await,
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
    }

    /// Read an HTTP request and answer `/metrics` with `metrics`, `/ready`
    /// with 200 or 503 as `ready` says (a load balancer's or Kubernetes'
    /// readiness probe), anything else with the stats document (`stats`,
    /// already HTTP-wrapped) or 404.
    pub async fn answer_http(mut self, stats: Option<Vec<u8>>, metrics: String, ready: bool) {
        let mut head = Vec::with_capacity(1024);
        let read = async {
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                let n = match &mut self {
                    Client::Tcp(s) => s.read(&mut buf).await?,
                    Client::Unix(s) => s.read(&mut buf).await?,
                };
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(())
        };
        if !matches!(
            tokio::time::timeout(Duration::from_secs(5), read).await,
            Ok(Ok(()))
        ) {
            return;
        }
        let path = head.split(|&b| b == b' ').nth(1).unwrap_or(b"/");
        let reply = if path == b"/metrics" {
            http_reply("200 OK", "text/plain; version=0.0.4", metrics.as_bytes())
        } else if path == b"/ready" {
            if ready {
                http_reply("200 OK", "text/plain", b"ready\n")
            } else {
                http_reply("503 Service Unavailable", "text/plain", b"not ready\n")
            }
        } else if let Some(doc) = stats {
            doc
        } else {
            http_reply(
                "404 Not Found",
                "text/plain",
                b"only /metrics and /ready are served here\n",
            )
        };
        self.send(reply).await;
    }
}

/// A complete HTTP/1.1 response that closes the connection.
pub fn http_reply(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
