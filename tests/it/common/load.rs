//! Clients in threads: a fixed number of calls at once, or a steady load
//! that runs until told to stop.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::http::{Client, Endpoint, try_connect, try_read_response, try_request};

/// Run `n` copies of `f` at once; their results in order.
pub fn concurrently<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
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

/// A client sending requests back to back on `conns` connections until
/// told to stop; counts successes and failures as they happen.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    handles: Vec<std::thread::JoinHandle<Duration>>,
}

pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub worst: Duration,
}

impl Load {
    /// Half the connections keep alive, half open a connection per request.
    pub fn start(to: impl Into<Endpoint>, conns: usize, path: &'static str) -> Load {
        let to = to.into();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let handles = (0..conns)
            .map(|i| {
                let (stop, ok, failed, to) = (stop.clone(), ok.clone(), failed.clone(), to.clone());
                std::thread::spawn(move || {
                    let mut worst = Duration::ZERO;
                    let keep_alive = i % 2 == 0;
                    let mut conn: Option<Client> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let result = if keep_alive {
                            keep_alive_request(&mut conn, &to, path)
                        } else {
                            let raw = format!(
                                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                            );
                            try_request(&to, raw.as_bytes())
                        };
                        match result {
                            Ok(r) if r.status == 200 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                // As every HTTP client does: a server that says
                                // close gets a new connection next time.
                                if r.header("connection")
                                    .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                                {
                                    conn = None;
                                }
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                conn = None;
                            }
                        }
                        worst = worst.max(started.elapsed());
                    }
                    worst
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            handles,
        }
    }

    /// Wait until `n` more requests than now have succeeded: the load is
    /// running (before a fault) or still running (after one).
    pub fn wait_for(&self, n: u64, within: Duration) {
        let target = self.ok.load(Ordering::Relaxed) + n;
        super::wait::wait_until(&format!("{n} more successful requests"), within, || {
            self.ok.load(Ordering::Relaxed) >= target
        });
    }

    pub fn finish(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        let mut worst = Duration::ZERO;
        for h in self.handles {
            worst = worst.max(h.join().expect("load thread"));
        }
        LoadResult {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            worst,
        }
    }
}

fn keep_alive_request(
    conn: &mut Option<Client>,
    to: &Endpoint,
    path: &str,
) -> std::io::Result<super::http::Response> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(try_connect(to)?),
    };
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
    try_read_response(c)
}
