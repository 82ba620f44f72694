//! Faults under load: while clients send requests back to back (keep-alive,
//! a connection per request, POSTs), workers are SIGKILLed, SIGSTOPped and
//! SIGCONTed, the zygote is killed, the log disk fills up and is freed, the
//! master FIFO gets garbage, and reloads run. Only requests in flight on a
//! killed worker may fail; at the end the master serves and exits 0 on
//! SIGTERM. About 30 seconds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

const APP: &str = r#"
import os

def application(environ, start_response):
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("an app error, logged with its traceback")
    out = b"%d %d" % (os.getpid(), len(body))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]
"#;

const PROCESSES: usize = 3;
const THREADS: usize = 2;
const CONNECTIONS: usize = 8;

/// One client connection's way of asking.
#[derive(Clone, Copy)]
enum Style {
    KeepAlive,
    Close,
    Post,
}

/// A request that failed: when it was sent and when it failed, what, and
/// the worker that served its connection's previous response
/// (keep-alive), if any.
struct Failure {
    sent: Instant,
    at: Instant,
    worker: Option<i32>,
    what: String,
}

struct Tally {
    ok: u64,
    failures: Vec<Failure>,
}

/// Send one request on `conn` (opened if None). A request on a reused
/// keep-alive connection that got no byte back is sent again on a new
/// one, as HTTP clients do for idempotent requests (RFC 9112 9.3.1): the
/// server may close an idle connection at any time.
fn exchange(port: u16, conn: &mut Option<Client>, style: Style) -> Result<(), Failure> {
    let body = vec![b'p'; 2048];
    let raw = match style {
        Style::KeepAlive => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        Style::Close => b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        Style::Post => {
            let mut r = format!(
                "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
    };
    let idempotent = !matches!(style, Style::Post);
    let sent = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(open(port).map_err(|what| Failure {
                sent,
                at: Instant::now(),
                worker: None,
                what,
            })?),
        };
        let worker = c.worker;
        let failed = |what: String| Failure {
            sent,
            at: Instant::now(),
            worker,
            what,
        };
        match send_and_read(c, &raw) {
            Ok(Answer {
                status,
                body: text,
                close,
            }) => {
                c.worker = text.split(' ').next().and_then(|p| p.parse().ok());
                if close || status != 200 || matches!(style, Style::Close) {
                    *conn = None;
                }
                if status != 200 {
                    return Err(failed(format!("status {status}: {text}")));
                }
                if matches!(style, Style::Post) && !text.ends_with(" 2048") {
                    return Err(failed(format!("the app saw a short body: {text}")));
                }
                return Ok(());
            }
            Err((got_bytes, what)) => {
                *conn = None;
                if attempt == 1 && reused && !got_bytes && idempotent {
                    continue;
                }
                return Err(failed(what));
            }
        }
    }
}

/// A client connection; the app's responses all have a Content-Length.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The worker (pid) that answered the last request on it.
    worker: Option<i32>,
}

fn open(port: u16) -> Result<Client, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    // Longer than a SIGSTOP lasts here.
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    Ok(Client {
        stream,
        buf: Vec::new(),
        worker: None,
    })
}

/// The length of the first whole response in `data`, if it is all there.
fn response_len(data: &[u8]) -> Result<Option<usize>, String> {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .ok_or_else(|| format!("no content-length: {head}"))?
        .trim()
        .parse::<usize>()
        .map_err(|e| e.to_string())?;
    Ok((data.len() >= end + 4 + length).then_some(end + 4 + length))
}

/// A response as the load needs it.
struct Answer {
    status: u16,
    body: String,
    /// The server said `Connection: close`: the next request needs a new
    /// connection, as every HTTP client does.
    close: bool,
}

/// The answer, or (whether any byte came back, what went wrong).
fn send_and_read(c: &mut Client, raw: &[u8]) -> Result<Answer, (bool, String)> {
    c.stream
        .write_all(raw)
        .map_err(|e| (false, format!("send: {e}")))?;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(len) = response_len(&c.buf).map_err(|e| (true, e))? {
            let rest = c.buf.split_off(len);
            let this = std::mem::replace(&mut c.buf, rest);
            let r = parse_response(&this).ok_or((true, "unparsable response".to_string()))?;
            return Ok(Answer {
                status: r.status,
                body: r.text(),
                close: r
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close")),
            });
        }
        match c.stream.read(&mut chunk) {
            Ok(0) => return Err((!c.buf.is_empty(), "closed before a whole response".into())),
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err((!c.buf.is_empty(), format!("read: {e}"))),
        }
    }
}

/// The load: CONNECTIONS client threads until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    /// Requests served so far, as they are.
    served: Arc<AtomicU64>,
    handles: Vec<std::thread::JoinHandle<Tally>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let handles = (0..CONNECTIONS)
            .map(|i| {
                let (stop, served) = (stop.clone(), served.clone());
                let style = [Style::KeepAlive, Style::Close, Style::Post][i % 3];
                std::thread::spawn(move || {
                    let mut tally = Tally {
                        ok: 0,
                        failures: Vec::new(),
                    };
                    let mut conn = None;
                    while !stop.load(Ordering::Relaxed) {
                        match exchange(port, &mut conn, style) {
                            Ok(()) => {
                                tally.ok += 1;
                                served.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => tally.failures.push(e),
                        }
                    }
                    tally
                })
            })
            .collect();
        Load {
            stop,
            served,
            handles,
        }
    }

    /// Wait until the load has had `n` more requests served: it runs
    /// (before a fault), or runs on (after one, or during one).
    fn serves(&self, n: u64) {
        let target = self.served.load(Ordering::Relaxed) + n;
        wait_until(&format!("{n} more requests served"), PATIENCE, || {
            self.served.load(Ordering::Relaxed) >= target
        });
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally {
            ok: 0,
            failures: Vec::new(),
        };
        for h in self.handles {
            let t = h.join().expect("client thread");
            all.ok += t.ok;
            all.failures.extend(t.failures);
        }
        all
    }
}

/// The workers' pids, from the stats. Not from /proc: polling
/// /proc/PID of a process that is being reaped can keep the master's
/// waitpid busy in the kernel (shrink_dcache_parent) for many seconds.
fn worker_pids(stats_port: u16) -> Vec<i32> {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", stats_port)) else {
        return Vec::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut text = Vec::new();
    if c.read_to_end(&mut text).is_err() {
        return Vec::new();
    }
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let mut pids: Vec<i32> = doc["workers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w["pid"].as_i64())
                .filter_map(|p| i32::try_from(p).ok())
                .filter(|&p| p > 0)
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// The pid of the zygote the master started last, from its log.
fn zygote_pid(s: &Server) -> Option<i32> {
    let log = s.log_text();
    let line = log.lines().rev().find(|l| l.contains("zygote started"))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))?
        .parse()
        .ok()
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) on a process of the server this test started.
    unsafe { libc::kill(pid, signal) };
}

/// Wait until PROCESSES workers run and none of `gone` is among them.
fn wait_for_workers_without(s: &Server, stats: u16, gone: &[i32], what: &str) {
    let started = Instant::now();
    loop {
        let now = worker_pids(stats);
        if now.len() == PROCESSES && now.iter().all(|p| !gone.contains(p)) {
            return;
        }
        if started.elapsed() > PATIENCE {
            let log = s.log_text();
            panic!(
                "timed out waiting for {what}: workers {now:?}, gone {gone:?}; the log ends:\n{}",
                &log[log.len().saturating_sub(3000)..]
            );
        }
        pause(50);
    }
}

fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Requests the load serves between two steps: enough that every client
/// connection asks several times.
const BETWEEN_STEPS: u64 = 200;

#[test]
fn faults_under_load_lose_only_requests_on_killed_workers() {
    let started = Instant::now();
    let dir = TempDir::new("faults");
    dir.write("app.py", APP);
    let disk = Tmpfs::mount("faults-log", "1m");
    let logfile = match &disk {
        Some(d) => d.path().join("rsgi.log"),
        None => dir.path().join("rsgi-logto.log"),
    };
    let processes = PROCESSES.to_string();
    let stats = Listener::tcp();
    let threads = THREADS.to_string();
    let mut s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--processes",
            &processes,
            "--threads",
            &threads,
            "--master-fifo",
            "{dir}/fifo",
            "--worker-reload-mercy",
            "10",
            "--logto",
            logfile.to_str().expect("utf-8 path"),
            // Request lines of errors only: the load's own lines would
            // fill the small log disk long before the test does.
            "--log-5xx",
        ])
        .socket("--stats", &stats)
        .start();
    let stats = stats.port();
    s.log = logfile.clone();
    let fifo = s.dir.path().join("fifo");
    let load = Load::start(s.port);
    // (when, pid) of every worker SIGKILLed.
    let mut killed: Vec<(Instant, i32)> = Vec::new();
    load.serves(BETWEEN_STEPS);

    // A worker SIGKILLed: respawned; only its requests in flight fail.
    let victim = worker_pids(stats)[0];
    killed.push((Instant::now(), victim));
    kill(victim, libc::SIGKILL);
    wait_for_workers_without(&s, stats, &[victim], "the killed worker's replacement");
    load.serves(BETWEEN_STEPS);

    // A worker stopped a while, then continued: its requests wait, the
    // others keep serving, nothing fails.
    let stopped = worker_pids(stats)[1];
    kill(stopped, libc::SIGSTOP);
    load.serves(BETWEEN_STEPS);
    kill(stopped, libc::SIGCONT);
    load.serves(BETWEEN_STEPS);

    // The zygote killed: a new one starts, and workers spawn from it.
    let zygote = zygote_pid(&s).expect("the zygote's pid in the log");
    kill(zygote, libc::SIGKILL);
    wait_until("a new zygote", PATIENCE, || {
        zygote_pid(&s).is_some_and(|z| z != zygote)
    });
    let victim = worker_pids(stats)[2];
    killed.push((Instant::now(), victim));
    kill(victim, libc::SIGKILL);
    wait_for_workers_without(&s, stats, &[victim], "a worker from the new zygote");
    load.serves(BETWEEN_STEPS);

    // The log disk full: app errors, request lines and the master's own
    // lines (a worker death) are lost, nothing else.
    if let Some(disk) = &disk {
        let filler = disk.fill(&logfile);
        for _ in 0..5 {
            let _ = ok_status(s.port, "/boom");
        }
        let victim = worker_pids(stats)[0];
        killed.push((Instant::now(), victim));
        kill(victim, libc::SIGKILL);
        wait_for_workers_without(&s, stats, &[victim], "a respawn while the log disk is full");
        load.serves(BETWEEN_STEPS);
        std::fs::remove_file(filler).expect("free the log disk");
    }

    // Garbage on the master FIFO: bytes no uWSGI FIFO command uses,
    // binary, and a long run of them.
    let mut garbage: Vec<u8> = (0u8..=8).chain(14..32).chain(128..=255).collect();
    garbage.extend(std::iter::repeat_n(0xffu8, 16 * 1024));
    std::fs::write(&fifo, &garbage).expect("write the FIFO");

    // Two rolling reloads, by FIFO (read after the garbage) and by SIGHUP.
    for trigger in ["fifo", "sighup"] {
        let before = worker_pids(stats);
        s.reloaded(|| {
            if trigger == "fifo" {
                std::fs::write(&fifo, b"r").expect("write the FIFO");
            } else {
                s.signal(libc::SIGHUP);
            }
        });
        wait_for_workers_without(&s, stats, &before, "a rolling reload");
        load.serves(BETWEEN_STEPS);
    }
    let tally = load.finish();

    // A request was in flight on a killed worker if its connection was
    // that worker's (keep-alive), or if it was sent before a kill and
    // failed after it (a new connection: which worker took it is unknown).
    let on_killed_worker = |f: &Failure| {
        killed
            .iter()
            .any(|&(at, pid)| f.worker == Some(pid) || (f.sent <= at && at <= f.at))
    };
    let unexplained: Vec<&Failure> = tally
        .failures
        .iter()
        .filter(|f| !on_killed_worker(f))
        .collect();
    let described: Vec<String> = unexplained
        .iter()
        .take(10)
        .map(|f| {
            format!(
                "{} ({:?} after the start, worker {:?})",
                f.what,
                f.at.duration_since(started),
                f.worker
            )
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} requests failed that no worker kill explains: {described:?}",
        unexplained.len()
    );
    // At most every connection had one request in flight on each.
    let allowed = killed.len() * CONNECTIONS;
    assert!(
        tally.failures.len() <= allowed,
        "{} requests failed, at most {allowed} could be in flight on killed workers",
        tally.failures.len()
    );
    assert!(tally.ok > 100, "only {} requests served", tally.ok);
    assert!(s.running(), "the master died");
    assert_eq!(ok_status(s.port, "/"), Some(200));
    if disk.is_some() {
        let reported = Instant::now();
        while !s.log_text().contains("log lines lost since") {
            let _ = ok_status(s.port, "/");
            let log = s.log_text();
            let tail = &log[log.len().saturating_sub(3000)..];
            assert!(
                reported.elapsed() < PATIENCE,
                "no loss report in the log:\n{tail}"
            );
            pause(50);
        }
    }
    let stopping = Instant::now();
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
    eprintln!(
        "faults under load: {} requests served, {} failed ({allowed} allowed), {:?} (the stop took {:?})",
        tally.ok,
        tally.failures.len(),
        started.elapsed(),
        stopping.elapsed()
    );
    drop(s);
}

/// The status of a GET on a fresh connection, or None.
fn ok_status(port: u16, path: &str) -> Option<u16> {
    let mut c = open(port).ok()?;
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    send_and_read(&mut c, raw.as_bytes()).ok().map(|a| a.status)
}
