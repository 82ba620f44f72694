//! Black-box test support: start the real `rsgi` binary on loopback ports
//! picked at runtime, wait for readiness (never a fixed sleep), talk to it
//! as a client would, and kill every process it started, by PID.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rsgi-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running rsgi master with its log captured to a file.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub dir: TempDir,
}

pub fn rsgi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rsgi"))
}

impl Server {
    /// Start `rsgi ARGS --http-socket 127.0.0.1:PORT`; `{dir}` in an arg is
    /// replaced by the server's temp dir. Waits until every worker accepts.
    pub fn start(args: &[&str]) -> Server {
        Server::start_in(TempDir::new("srv"), args)
    }

    pub fn start_in(dir: TempDir, args: &[&str]) -> Server {
        let server = Server::spawn(dir, args, true);
        server.wait_for_log("rsgi is ready", Duration::from_secs(20));
        server
    }

    /// Start without waiting (for tests of failing starts).
    pub fn spawn(dir: TempDir, args: &[&str], with_socket: bool) -> Server {
        let port = free_port();
        let log = dir.path().join("rsgi.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let d = dir.path().to_string_lossy().into_owned();
        let mut cmd = rsgi();
        cmd.args(args.iter().map(|a| a.replace("{dir}", &d)));
        if with_socket {
            cmd.args(["--http-socket", &format!("127.0.0.1:{port}")]);
        }
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file);
        let child = cmd.spawn().expect("start rsgi");
        Server {
            child,
            port,
            log,
            dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle`; panics with the log on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {needle:?} in the log within {timeout:?}:\n{}",
            self.log_text()
        );
    }

    /// Wait for the master to exit; returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn get(&self, path: &str) -> Response {
        request(
            self.port,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        )
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut pids = descendants(self.pid());
        pids.push(self.pid());
        for pid in pids {
            // SAFETY: kill(2) on processes this test started (and their children).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// Every descendant of `pid`, from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
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
pub fn request(port: u16, raw: &str) -> Response {
    request_bytes(port, raw.as_bytes())
}

pub fn request_bytes(port: u16, raw: &[u8]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut data = Vec::new();
    s.read_to_end(&mut data).expect("read response");
    parse_response(&data)
        .unwrap_or_else(|| panic!("unparsable response: {:?}", String::from_utf8_lossy(&data)))
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

/// Write a Python file into `dir`.
pub fn app(dir: &TempDir, name: &str, code: &str) -> PathBuf {
    dir.write(name, code)
}

/// A keep-alive client connection that keeps the bytes it read past one
/// response (a pipelined next response may arrive in the same read).
pub struct Client {
    stream: TcpStream,
    leftover: Vec<u8>,
}

impl std::ops::Deref for Client {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Open a keep-alive connection.
pub fn connect(port: u16) -> Client {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    Client {
        stream: s,
        leftover: Vec::new(),
    }
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
    let mut buf = [0u8; 65536];
    loop {
        if let Some(len) = complete_response_len(&c.leftover) {
            let rest = c.leftover.split_off(len);
            let this = std::mem::replace(&mut c.leftover, rest);
            return parse_response(&this).expect("response");
        }
        let n = c.stream.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&c.leftover)
        );
        c.leftover.extend_from_slice(&buf[..n]);
    }
}

/// Run `n` copies of `f` at once; their results in order.
pub fn concurrently<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = std::sync::Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(i))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

/// Worker pids: the master's children that are not the zygote.
pub fn worker_pids(master: i32) -> Vec<i32> {
    let mut pids: Vec<i32> = descendants(master)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.starts_with("rsgi worker"))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Wait until `cond` holds, polling; panics with `what` on timeout.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A client sending requests back to back on `conns` connections until
/// told to stop; counts successes and failures.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handles: Vec<std::thread::JoinHandle<(u64, u64, Duration)>>,
}

pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub worst: Duration,
}

impl Load {
    /// Half the connections keep alive, half open a connection per request.
    pub fn start(port: u16, conns: usize, path: &'static str) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles = (0..conns)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut ok, mut failed, mut worst) = (0, 0, Duration::ZERO);
                    let keep_alive = i % 2 == 0;
                    let mut conn: Option<Client> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            if keep_alive {
                                let s = conn.get_or_insert_with(|| connect(port));
                                s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).expect("send");
                                read_response(s)
                            } else {
                                request(port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
                            }
                        }));
                        match result {
                            Ok(r) if r.status == 200 => {
                                ok += 1;
                                // As every HTTP client does: a server that says
                                // close gets a new connection next time.
                                if r.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
                                    conn = None;
                                }
                            }
                            _ => {
                                failed += 1;
                                conn = None;
                            }
                        }
                        worst = worst.max(started.elapsed());
                    }
                    (ok, failed, worst)
                })
            })
            .collect();
        Load { stop, handles }
    }

    pub fn finish(self) -> LoadResult {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut r = LoadResult {
            ok: 0,
            failed: 0,
            worst: Duration::ZERO,
        };
        for h in self.handles {
            let (ok, failed, worst) = h.join().expect("load thread");
            r.ok += ok;
            r.failed += failed;
            r.worst = r.worst.max(worst);
        }
        r
    }
}

/// The body of `GET /` if it answers 200 (None if it fails in any way).
pub fn ok_body(port: u16) -> Option<String> {
    std::panic::catch_unwind(|| {
        request(
            port,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .ok()
    .filter(|r| r.status == 200)
    .map(|r| r.text())
}
