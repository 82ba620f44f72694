//! The worker's side of its link to the master: its stats slot, and the
//! events it sends (ready, please recycle me).

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rsgi_core::ipc::event::WorkerEvent;
use rsgi_core::stats::region::{Region, Slot, Status};

/// Who this worker is, as the master spawned it.
pub struct Identity {
    /// 1-based worker number, stable across respawns.
    pub id: usize,
    /// Its slot in the stats region.
    pub slot: usize,
    pub region: Option<Arc<Region>>,
    pub events: Option<UnixDatagram>,
    /// EOF here means the master died: the worker must exit too.
    pub lifeline: Option<std::os::fd::OwnedFd>,
    /// Recycle after this many requests (0: never).
    pub max_requests: u64,
    /// Recycle once RSS passes this many MB (0: never).
    pub reload_on_rss_mb: u64,
    /// Recycle once the address space passes this many MB (0: never).
    pub reload_on_as_mb: u64,
    /// Watch loaded modules every this many seconds (0: off).
    pub py_autoreload: u64,
}

/// Shared by the I/O side and the Python threads.
pub struct Reporter {
    id: usize,
    slot_index: usize,
    region: Option<Arc<Region>>,
    events: Option<UnixDatagram>,
    max_requests: u64,
    reload_on_rss_mb: u64,
    reload_on_as_mb: u64,
    recycle_asked: AtomicBool,
    /// Python threads (cores) this worker runs.
    threads: usize,
}

impl Reporter {
    pub fn new(identity: &mut Identity, threads: usize) -> Reporter {
        Reporter {
            threads,
            id: identity.id,
            slot_index: identity.slot,
            region: identity.region.clone(),
            events: identity.events.take(),
            max_requests: identity.max_requests,
            reload_on_rss_mb: identity.reload_on_rss_mb,
            reload_on_as_mb: identity.reload_on_as_mb,
            recycle_asked: AtomicBool::new(false),
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    fn slot(&self) -> Option<Slot<'_>> {
        self.region.as_ref().map(|r| r.slot(self.slot_index))
    }

    fn send(&self, event: WorkerEvent) {
        if let Some(events) = &self.events {
            // A full queue means the master is busy; it reads slots too.
            let _ = events.send(&event.encode());
        }
    }

    /// Ask the master for a rolling reload (py-autoreload saw a change).
    pub fn request_reload(&self, reason: &str) {
        self.send(WorkerEvent::Reload {
            reason: reason.to_string(),
        });
    }

    /// Requests this worker served with `app`, and every worker served.
    pub fn request_counts(&self, app: usize) -> (u64, u64) {
        let Some(region) = &self.region else {
            return (0, 0);
        };
        let mine = self.slot().map_or(0, |s| {
            s.app_requests.get(app).map_or(0, |c| c.load(Relaxed))
        });
        (mine, region.total_requests())
    }

    /// Listening sockets are registered: the master may count us in.
    pub fn ready(&self) {
        if let Some(slot) = self.slot() {
            slot.pid.store(std::process::id(), Relaxed);
            let threads = u32::try_from(self.threads).unwrap_or(u32::MAX);
            slot.threads.store(threads, Relaxed);
            let id = u32::try_from(self.id).unwrap_or(u32::MAX);
            slot.worker_id.store(id, Relaxed);
            slot.set_status(Status::Idle);
        }
        self.send(WorkerEvent::Ready {
            slot: self.slot_index,
            pid: std::process::id() as i32,
        });
    }

    pub fn stopping(&self) {
        if let Some(slot) = self.slot() {
            slot.set_status(Status::Stopping);
        }
    }

    pub fn begin(&self, core: usize, uri: &[u8]) {
        if let Some(slot) = self.slot() {
            slot.begin(core, uri);
        }
    }

    /// A response did not reach the client whole.
    pub fn write_error(&self, core: usize) {
        if let Some(c) = self.slot().and_then(|s| s.cores.get(core)) {
            c.write_errors.fetch_add(1, Relaxed);
        }
    }

    /// A request could not be read. It never reached a Python thread, so
    /// it is counted on core 0, as uWSGI does for errors outside a request.
    pub fn read_error(&self) {
        if let Some(c) = self.slot().and_then(|s| s.cores.first()) {
            c.read_errors.fetch_add(1, Relaxed);
        }
    }

    /// A static file was answered on the I/O thread: it counts among the
    /// worker's requests (as in uWSGI), its bytes and its status class,
    /// but on no Python thread and no app.
    pub fn served_static(&self, status: u16, tx: u64) {
        let Some(slot) = self.slot() else { return };
        slot.requests.fetch_add(1, Relaxed);
        slot.tx.fetch_add(tx, Relaxed);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        slot.status_classes[class].fetch_add(1, Relaxed);
    }

    /// A request is done: count it, and ask to be recycled when a limit is hit.
    pub fn end(&self, core: usize, app: usize, status: u16, tx: u64, rt_us: u64, exception: bool) {
        let Some(slot) = self.slot() else { return };
        slot.end(core, app, status, tx, rt_us, exception);
        if self.recycle_asked.load(Relaxed) {
            return;
        }
        let requests = slot.requests.load(Relaxed);
        let reason = if self.max_requests > 0 && requests >= self.max_requests {
            Some(format!("max-requests ({requests} requests)"))
        } else if self.reload_on_rss_mb > 0 || self.reload_on_as_mb > 0 {
            // uWSGI checks both after each request (core/utils.c,
            // uwsgi_close_request), the address space first.
            own_memory_mb().and_then(|(vsz, rss)| {
                if self.reload_on_as_mb > 0 && vsz > self.reload_on_as_mb {
                    Some(format!("reload-on-as ({vsz} MB)"))
                } else if self.reload_on_rss_mb > 0 && rss > self.reload_on_rss_mb {
                    Some(format!("reload-on-rss ({rss} MB)"))
                } else {
                    None
                }
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            self.recycle_asked.store(true, Relaxed);
            self.send(WorkerEvent::Recycle {
                slot: self.slot_index,
                reason,
            });
        }
    }
}

/// This process's (address space, resident set) in MB, from /proc/self/statm.
fn own_memory_mb() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let m = rsgi_core::logformat::Memory::from_statm(&statm, page)?;
    Some((m.vsz >> 20, m.rss >> 20))
}
