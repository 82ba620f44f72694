//! Running requests in Python. With one thread the app runs inline on the
//! I/O thread (no hand-off per request); with more, a pool of Python
//! threads takes requests from a queue. Either way a thread is taken only
//! by a request whose head and body are complete.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use pyo3::prelude::*;
use tokio::sync::{Notify, oneshot};

use crate::wsgi::call::{Fault, Outcome, call_app};
use crate::wsgi::environ::{ConnInfo, EnvironCache, RequestInfo};
use crate::wsgi::input::Body;
use crate::wsgi::spare::Spares;
use rsgi_core::protocol::encode::{Output, Request, Wire};
use rsgi_core::protocol::{HeadKind, RequestHead};

use super::Settings;
use super::sink::FdSink;

/// Everything the Python side needs, made once per worker.
pub struct PyCtx {
    pub cache: EnvironCache,
    pub apps: Apps,
    pub settings: Arc<Settings>,
    pub reporter: Arc<super::report::Reporter>,
}

/// The loaded apps, longest mountpoint first; the root app has prefix "".
pub struct Apps {
    /// (mountpoint, app, index in config order), longest mountpoint first.
    mounts: Vec<(String, Option<Py<PyAny>>, usize)>,
}

/// Where a request goes.
struct Route<'a> {
    /// The app's index in config order (its stats row).
    index: usize,
    app: Option<&'a Py<PyAny>>,
    /// The mountpoint to move from PATH_INFO to SCRIPT_NAME ("" for none).
    script_name: &'a str,
}

impl Apps {
    /// Apps in config order (root first); `None`: it failed to load and
    /// `need-app` is off (500s).
    pub fn new(mounts: Vec<(String, Option<Py<PyAny>>)>) -> Apps {
        let mut mounts: Vec<_> = mounts
            .into_iter()
            .enumerate()
            .map(|(i, (p, a))| (p, a, i))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
        Apps { mounts }
    }

    /// The app whose mountpoint is the longest prefix of `path` on a
    /// segment boundary.
    fn by_path(&self, path: &[u8]) -> Option<Route<'_>> {
        self.mounts.iter().find_map(|(prefix, app, index)| {
            let p = prefix.as_bytes();
            let matches = path.starts_with(p)
                && (p.is_empty() || path.len() == p.len() || path[p.len()] == b'/');
            matches.then_some(Route {
                index: *index,
                app: app.as_ref(),
                script_name: prefix,
            })
        })
    }

    /// `manage-script-name` behind nginx: the front server already split
    /// SCRIPT_NAME from PATH_INFO; SCRIPT_NAME names the mountpoint.
    fn by_script_name(&self, script_name: &[u8]) -> Option<Route<'_>> {
        self.mounts
            .iter()
            .find(|(prefix, _, _)| !prefix.is_empty() && prefix.as_bytes() == script_name)
            .map(|(_, app, index)| Route {
                index: *index,
                app: app.as_ref(),
                script_name: "",
            })
    }

    /// The parsers computed the request path once, percent-decoded and
    /// with its dot segments removed, so a mountpoint is chosen on the
    /// path a front server (nginx) sees, and the app gets the same path.
    fn route(&self, head: &RequestHead, manage_script_name: bool) -> Option<Route<'_>> {
        if manage_script_name
            && let Some(script_name) = head.var("SCRIPT_NAME").filter(|s| !s.is_empty())
            && let Some(route) = self.by_script_name(script_name)
        {
            return Some(route);
        }
        self.by_path(head.path())
    }
}

/// A complete request on its way to Python.
pub struct Job {
    pub fd: RawFd,
    pub head: RequestHead,
    pub body: Body,
    pub conn: Arc<ConnInfo>,
    pub keep_alive: bool,
}

/// What a request left for the I/O side.
pub struct Done {
    /// Response bytes the socket did not take yet, and the count of body
    /// bytes it did.
    pub output: Output,
    pub keep_alive: bool,
    pub status: u16,
    /// Body bytes sent or queued (the stats' tx).
    pub body_bytes: u64,
    pub exception: bool,
    /// The response reached the socket whole (stats: write_errors).
    pub delivered: bool,
    /// Response headers the app gave.
    pub headers: usize,
    /// The Python thread that ran it.
    pub core: usize,
    /// The app (stats row) that answered.
    pub app: usize,
    /// What the app set with `uwsgi.set_logvar()`, for the log line.
    pub logvars: Vec<(String, String)>,
}

/// Runs complete requests, and counts them so the accept loop can hold
/// back while every Python thread is taken (another worker may be free).
pub struct Executor {
    mode: Mode,
    threads: usize,
    /// Connections accepted beyond the free threads (see [`Executor::start`]).
    spare: usize,
    /// This worker's stats slot (counters the I/O side adds to).
    reporter: Arc<super::report::Reporter>,
    busy: AtomicUsize,
    freed: Notify,
}

enum Mode {
    /// The spares of the one Python thread (the I/O thread here).
    Inline(Arc<PyCtx>, Mutex<Spares>),
    Pool(Mutex<mpsc::Sender<(Job, oneshot::Sender<Done>)>>),
}

impl Executor {
    /// Start `threads` Python threads (or none, for one thread: inline).
    ///
    /// With `serve_files` (static files on the I/O thread), the app runs
    /// on its own thread even with one: inline, a slow request would hold
    /// the I/O thread and every static file behind it. The accept loop
    /// then also takes one connection beyond the free threads: a static
    /// request on it is served at once, and an app request waits here
    /// (only one per worker) for the next free thread.
    pub fn start(ctx: Arc<PyCtx>, threads: usize, serve_files: bool) -> std::io::Result<Executor> {
        let reporter = ctx.reporter.clone();
        let new = |mode| Executor {
            mode,
            threads: threads.max(1),
            spare: usize::from(serve_files),
            reporter,
            busy: AtomicUsize::new(0),
            freed: Notify::new(),
        };
        if threads <= 1 && !serve_files {
            return Ok(new(Mode::Inline(ctx, Mutex::new(Spares::new()))));
        }
        let (tx, rx) = mpsc::channel::<(Job, oneshot::Sender<Done>)>();
        let rx = Arc::new(Mutex::new(rx));
        for core in 0..threads {
            let (rx, ctx) = (rx.clone(), ctx.clone());
            std::thread::Builder::new()
                .name(format!("python-{core}"))
                .spawn(move || {
                    // One attach for the thread's life: its Python thread
                    // state (and so threading.local data) persists across
                    // requests, and the GIL is released while it waits.
                    Python::attach(|py| {
                        let mut spares = Spares::new();
                        loop {
                            let next = py.detach(|| rx.lock().ok()?.recv().ok());
                            let Some((job, reply)) = next else { return };
                            let _ = reply.send(serve(py, &ctx, &mut spares, core, job));
                        }
                    })
                })?;
        }
        Ok(new(Mode::Pool(Mutex::new(tx))))
    }

    /// Requests this worker served with `app`, and every worker served
    /// (for the default log line).
    pub fn request_counts(&self, app: usize) -> (u64, u64) {
        self.reporter.request_counts(app)
    }

    pub fn worker_id(&self) -> usize {
        self.reporter.id()
    }

    /// A static file answer went out (it held no Python thread).
    pub fn served_static(&self, status: u16, tx: u64) {
        self.reporter.served_static(status, tx);
    }

    /// A request could not be read (bad request, timeout, client gone).
    pub fn read_error(&self) {
        self.reporter.read_error();
    }

    /// Wait until a Python thread is free (or about to be), or, when the
    /// worker serves static files, until no request waits for one.
    pub async fn wait_for_thread(&self) {
        loop {
            let freed = self.freed.notified();
            if self.busy.load(Ordering::Acquire) < self.threads + self.spare {
                return;
            }
            freed.await;
        }
    }

    pub async fn run(&self, job: Job) -> Done {
        self.busy.fetch_add(1, Ordering::AcqRel);
        let done = self.run_inner(job).await;
        self.busy.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_waiters();
        done
    }

    async fn run_inner(&self, job: Job) -> Done {
        match &self.mode {
            Mode::Inline(ctx, spares) => Python::attach(|py| match spares.lock() {
                Ok(mut spares) => serve(py, ctx, &mut spares, 0, job),
                Err(_) => serve(py, ctx, &mut Spares::new(), 0, job),
            }),
            Mode::Pool(tx) => {
                let (reply, done) = oneshot::channel();
                let sent = tx
                    .lock()
                    .map(|tx| tx.send((job, reply)).is_ok())
                    .unwrap_or(false);
                if !sent {
                    return Done::failed();
                }
                done.await.unwrap_or_else(|_| Done::failed())
            }
        }
    }
}

impl Done {
    fn failed() -> Done {
        Done {
            output: Output::default(),
            keep_alive: false,
            status: 500,
            body_bytes: 0,
            exception: true,
            delivered: false,
            headers: 0,
            core: 0,
            app: 0,
            logvars: Vec::new(),
        }
    }
}

/// Run one request on Python thread `core` and account for it.
fn serve(py: Python<'_>, ctx: &PyCtx, spares: &mut Spares, core: usize, job: Job) -> Done {
    let started = std::time::Instant::now();
    // The stats slot names the request (harakiri logs it).
    ctx.reporter.begin(core, job.head.uri());
    crate::uwsgi_api::logvars::begin();
    let done = run_app(py, ctx, spares, job);
    let done = Done {
        core,
        logvars: crate::uwsgi_api::logvars::take(),
        ..done
    };
    let rt = started.elapsed().as_micros() as u64;
    ctx.reporter.end(
        core,
        done.app,
        done.status,
        done.body_bytes,
        rt,
        done.exception,
    );
    if !done.delivered {
        ctx.reporter.write_error(core);
    }
    done
}

fn run_app(py: Python<'_>, ctx: &PyCtx, spares: &mut Spares, job: Job) -> Done {
    let Job {
        fd,
        head,
        body,
        conn,
        keep_alive,
    } = job;
    let (wire, is_head) = match &head.kind {
        HeadKind::Http {
            minor_version,
            method,
            ..
        } => (
            if *minor_version == 0 {
                Wire::Http10
            } else {
                Wire::Http11
            },
            head.bytes_at(method) == b"HEAD",
        ),
        HeadKind::Uwsgi { vars, .. } => {
            let head_only = vars
                .iter()
                .any(|(k, v)| head.bytes_at(k) == b"REQUEST_METHOD" && head.bytes_at(v) == b"HEAD");
            (Wire::Uwsgi, head_only)
        }
    };
    let request = Request {
        wire,
        head: is_head,
        keep_alive,
    };
    let mut sink = FdSink::new(
        fd,
        request,
        &ctx.settings.header_rules,
        ctx.settings.socket_timeout,
        Vec::with_capacity(512),
    );
    let body_len = body.len();
    let route = ctx.apps.route(&head, ctx.settings.manage_script_name);
    let app_index = route.as_ref().map_or(0, |r| r.index);
    let (script_name, app) = match route {
        Some(Route {
            app: Some(app),
            script_name,
            ..
        }) => (script_name, app),
        Some(Route { app: None, .. }) => {
            let outcome = crate::wsgi::call::internal_error(py, &mut sink);
            return finish(sink, outcome, app_index);
        }
        None => {
            let outcome = crate::wsgi::call::not_found(py, &mut sink);
            return finish(sink, outcome, app_index);
        }
    };
    let outcome = (|| -> PyResult<_> {
        let input = spares.input(py, body)?;
        let info = RequestInfo {
            conn: &conn,
            script_name,
            body_len,
            input: input.clone_ref(py).into_any(),
        };
        let environ = ctx.cache.build(py, &head, info)?;
        let outcome = call_app(py, app, environ, spares, &mut sink, &mut |fault: Fault| {
            tracing::error!(uri = %String::from_utf8_lossy(head.uri()), "{}", fault.message);
        });
        spares.keep_input(py, input);
        Ok(outcome)
    })();
    match outcome {
        Ok(outcome) => finish(sink, outcome, app_index),
        Err(e) => {
            tracing::error!(
                "building the request for the app failed: {}",
                crate::wsgi::traceback_text(py, &e)
            );
            let outcome = crate::wsgi::call::internal_error(py, &mut sink);
            finish(sink, outcome, app_index)
        }
    }
}

fn finish(sink: FdSink<'_>, outcome: Outcome, app: usize) -> Done {
    let keep_alive = sink.keep_alive();
    let headers = sink.headers();
    let output = sink.into_output();
    let body_bytes = output.body_queued();
    Done {
        output,
        keep_alive,
        status: outcome.status,
        body_bytes,
        exception: outcome.exception,
        delivered: outcome.complete,
        headers,
        core: 0,
        app,
        logvars: Vec::new(),
    }
}
