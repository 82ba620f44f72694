//! A client's side: connections to a TCP port or a unix socket, raw
//! requests, and responses parsed as they come.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a server listens: a loopback TCP port or a unix socket.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Tcp(u16),
    Unix(PathBuf),
}

impl From<u16> for Endpoint {
    fn from(port: u16) -> Endpoint {
        Endpoint::Tcp(port)
    }
}

impl From<&Path> for Endpoint {
    fn from(path: &Path) -> Endpoint {
        Endpoint::Unix(path.to_path_buf())
    }
}

impl From<&PathBuf> for Endpoint {
    fn from(path: &PathBuf) -> Endpoint {
        Endpoint::Unix(path.clone())
    }
}

impl From<PathBuf> for Endpoint {
    fn from(path: PathBuf) -> Endpoint {
        Endpoint::Unix(path)
    }
}

impl From<&Endpoint> for Endpoint {
    fn from(e: &Endpoint) -> Endpoint {
        e.clone()
    }
}

impl Endpoint {
    pub fn try_connect(&self) -> std::io::Result<Conn> {
        Ok(match self {
            Endpoint::Tcp(port) => Conn::Tcp(TcpStream::connect(("127.0.0.1", *port))?),
            Endpoint::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
        })
    }

    pub fn connect(&self) -> Conn {
        self.try_connect()
            .unwrap_or_else(|e| panic!("connect to {self:?}: {e}"))
    }
}

/// A connected stream of either kind.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(t),
            Conn::Unix(s) => s.set_read_timeout(t),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(how),
            Conn::Unix(s) => s.shutdown(how),
        }
    }

    /// Bytes that have arrived, without taking them.
    pub fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.peek(buf),
            Conn::Unix(s) => {
                // SAFETY: recv(2) writes at most buf.len() bytes into buf.
                let n = unsafe {
                    libc::recv(
                        std::os::fd::AsRawFd::as_raw_fd(s),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_PEEK,
                    )
                };
                usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How long a client waits for a server's answer before it fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A clean close (FIN).
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing more came within the time allowed: the connection hangs.
    Hung,
}

/// Read until the connection ends or `limit` passes.
pub fn read_until_end(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, End) {
    let deadline = std::time::Instant::now() + limit;
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return (data, End::Hung);
        }
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return (data, End::Eof),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (data, End::Reset),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (data, End::Hung);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send raw bytes, read to EOF, parse. The request should ask to close.
pub fn request(to: impl Into<Endpoint>, raw: &str) -> Response {
    request_bytes(to, raw.as_bytes())
}

pub fn request_bytes(to: impl Into<Endpoint>, raw: &[u8]) -> Response {
    let to = to.into();
    try_request(&to, raw).unwrap_or_else(|e| panic!("a request to {to:?}: {e}"))
}

/// Send `raw`, read to EOF, parse; any failure is an error.
pub fn try_request(to: &Endpoint, raw: &[u8]) -> std::io::Result<Response> {
    let mut s = to.try_connect()?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.write_all(raw)?;
    let mut data = Vec::new();
    s.read_to_end(&mut data)?;
    parse_response(&data).ok_or_else(|| {
        std::io::Error::other(format!(
            "unparsable response: {:?}",
            String::from_utf8_lossy(&data)
        ))
    })
}

/// Parse one response from `data` (body framed by Content-Length, chunked, or EOF).
pub fn parse_response(data: &[u8]) -> Option<Response> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &data[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A keep-alive client connection that keeps the bytes it read past one
/// response (a pipelined next response may arrive in the same read).
pub struct Client {
    stream: Conn,
    leftover: Vec<u8>,
}

impl std::ops::Deref for Client {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.stream
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.stream
    }
}

/// Open a keep-alive connection.
pub fn connect(to: impl Into<Endpoint>) -> Client {
    let to = to.into();
    try_connect(&to).unwrap_or_else(|e| panic!("connect to {to:?}: {e}"))
}

pub fn try_connect(to: &Endpoint) -> std::io::Result<Client> {
    let s = to.try_connect()?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(Client {
        stream: s,
        leftover: Vec::new(),
    })
}

/// The length of the first complete response in `data` (Content-Length,
/// chunked, or a bodiless status), if it is all there.
fn complete_response_len(data: &[u8]) -> Option<usize> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let body = &data[end + 4..];
    if let Some(cl) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        let n: usize = cl.trim().parse().expect("content-length");
        return (body.len() >= n).then_some(end + 4 + n);
    }
    if head.contains("transfer-encoding: chunked") {
        return chunked_len(body).map(|n| end + 4 + n);
    }
    let bodiless =
        head.starts_with("http/1.1 1") || head.contains(" 204 ") || head.contains(" 304 ");
    bodiless.then_some(end + 4)
}

/// How many complete responses `data` starts with.
pub fn complete_responses(mut data: &[u8]) -> usize {
    let mut n = 0;
    while let Some(len) = complete_response_len(data) {
        n += 1;
        data = &data[len..];
    }
    n
}

/// The length of a complete chunked body at the start of `body` (jumping
/// over chunk data, so it stays cheap for large bodies), if all there.
fn chunked_len(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + body.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[at..line_end]).ok()?;
        let size =
            usize::from_str_radix(size_text.split(';').next()?.trim(), 16).expect("chunk size");
        at = line_end + 2;
        if size == 0 {
            // rsgi sends no trailers: the empty line ends the body.
            return (body.len() >= at + 2).then_some(at + 2);
        }
        at += size + 2;
        if at > body.len() {
            return None;
        }
    }
}

/// Read exactly one response from a kept-alive connection.
pub fn read_response(c: &mut Client) -> Response {
    try_read_response(c).unwrap_or_else(|e| panic!("{e}"))
}

/// Read one response from a kept-alive connection; a close before it is
/// whole is an error.
pub fn try_read_response(c: &mut Client) -> std::io::Result<Response> {
    let mut buf = [0u8; 65536];
    loop {
        if let Some(len) = complete_response_len(&c.leftover) {
            let rest = c.leftover.split_off(len);
            let this = std::mem::replace(&mut c.leftover, rest);
            return parse_response(&this)
                .ok_or_else(|| std::io::Error::other("unparsable response"));
        }
        let n = c.stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "connection closed mid-response: {:?}",
                String::from_utf8_lossy(&c.leftover)
            )));
        }
        c.leftover.extend_from_slice(&buf[..n]);
    }
}

/// The body of `GET /` if it answers 200 (None if it fails in any way).
pub fn ok_body(to: impl Into<Endpoint>) -> Option<String> {
    try_request(
        &to.into(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .ok()
    .filter(|r| r.status == 200)
    .map(|r| r.text())
}

/// A uwsgi request packet as nginx's uwsgi_pass sends it (the query, if
/// any, split off into QUERY_STRING).
pub fn uwsgi_packet(method: &str, path: &str) -> Vec<u8> {
    let (path_info, query) = path.split_once('?').unwrap_or((path, ""));
    let vars = [
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", path),
        ("PATH_INFO", path_info),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_HOST", "localhost"),
    ];
    let mut body = Vec::new();
    for (k, v) in vars {
        body.extend_from_slice(&(k.len() as u16).to_le_bytes());
        body.extend_from_slice(k.as_bytes());
        body.extend_from_slice(&(v.len() as u16).to_le_bytes());
        body.extend_from_slice(v.as_bytes());
    }
    let mut packet = vec![0u8];
    packet.extend_from_slice(&(body.len() as u16).to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&body);
    packet
}
