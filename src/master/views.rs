//! What the master shows of its state: the stats document, the Prometheus
//! text, systemd's status line, the SIGUSR1 log lines, and the running
//! requests harakiri checks. Each reads the state and the stats region and
//! changes neither, so a scrape never alters what the next one sees.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::listeners::BoundSocket;
use super::machine::{Busy, Load, SlotLoad, State};
use super::pool::WorkerState;
use std::os::fd::AsRawFd;

use crate::stats::document::{self, AppView, SocketView, WorkerView};
use crate::stats::metrics::{self, MasterFigures};
use rsgi_core::config::Config;
use rsgi_core::net::Proto;
use rsgi_core::stats::region::Region;

/// The workers with a pid, as the stats document and the metrics show them.
fn worker_views(state: &State) -> Vec<WorkerView> {
    let pool = state.pool();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    state
        .workers()
        .iter()
        .filter_map(|w| {
            Some(WorkerView {
                id: w.id,
                slot: w.slot,
                pid: w.pid?,
                accepting: w.state == WorkerState::Ready,
                respawn_count: pool.respawns.get(&w.id).copied().unwrap_or(0),
                harakiri_count: pool.harakiri.get(&w.id).copied().unwrap_or(0),
                last_spawn: wall.saturating_sub(w.spawned_at.elapsed()).as_secs(),
            })
        })
        .collect()
}

/// The stats document, encoded for a client.
pub fn stats_document(
    state: &State,
    region: &Region,
    config: &Config,
    sockets: &[Arc<BoundSocket>],
) -> Vec<u8> {
    let workers = worker_views(state);
    let sockets: Vec<SocketView> = sockets
        .iter()
        .map(|s| SocketView {
            name: s.address.to_string(),
            proto: match s.proto {
                Proto::Http => "http",
                Proto::Uwsgi => "uwsgi",
            },
            fd: s.listener.as_raw_fd(),
        })
        .collect();
    let chdir = config
        .chdir
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let apps: Vec<AppView> = rsgi_core::config::apps::app_specs(config)
        .into_iter()
        .map(|(prefix, _)| AppView {
            mountpoint: prefix,
            chdir: chdir.clone(),
        })
        .collect();
    let cheap: Vec<usize> = state
        .cheaped()
        .filter(|id| {
            !state
                .workers()
                .iter()
                .any(|w| w.id == *id && w.pid.is_some())
        })
        .collect();
    let doc = document::build(region, &workers, &cheap, &sockets, &apps);
    document::encode(&doc, config.stats_http)
}

/// The Prometheus text.
pub fn metrics_text(state: &State, region: &Region, sockets: &[Arc<BoundSocket>]) -> String {
    let listen_queue = sockets
        .iter()
        .map(|s| document::listen_queue(s.listener.as_raw_fd()).0)
        .sum();
    metrics::render(
        region,
        &worker_views(state),
        &MasterFigures {
            reloads: state.reloads(),
            listen_queue,
            target: state.target(),
        },
    )
}

/// "4 workers, 1234 requests" for systemd's STATUS=.
pub fn status_line(state: &State, region: &Region) -> String {
    let requests: u64 = state
        .workers()
        .iter()
        .map(|w| region.slot(w.slot).requests.load(Relaxed))
        .sum();
    format!(
        "{} workers, {requests} requests",
        state.pool().ready_count()
    )
}

/// SIGUSR1 and the FIFO's `s`: every worker's counters, then the total.
pub fn log_stats(state: &State, region: &Region) {
    let mut total = 0;
    for w in state.workers() {
        let s = region.slot(w.slot);
        let requests = s.requests.load(Relaxed);
        total += requests;
        tracing::info!(
            worker = w.id,
            pid = w.pid,
            status = s.status().name(),
            requests,
            exceptions = s.exceptions.load(Relaxed),
            tx = s.tx.load(Relaxed),
            "stats"
        );
    }
    tracing::info!(
        workers = state.workers().len(),
        requests = total,
        "stats total"
    );
}

/// What a cycle reads (cheaper, evil reloads): each worker's busy flag,
/// time in requests and (when needed) memory, and the listen queues.
/// Empty when no cycle runs, so a tick costs nothing more then.
pub fn load(state: &State, region: &Region, sockets: &[Arc<BoundSocket>]) -> Load {
    let settings = state.settings();
    if settings.cheaper.is_none() && !settings.reads_memory() {
        return Load::default();
    }
    let memory = settings.reads_memory();
    let workers = state
        .workers()
        .iter()
        .filter_map(|w| {
            let pid = w.pid?;
            let slot = region.slot(w.slot);
            let (rss, vsz) = if memory {
                document::memory(pid)
            } else {
                (0, 0)
            };
            Some(SlotLoad {
                slot: w.slot,
                busy: slot.oldest_request().is_some(),
                running_us: slot.rt_total_us.load(Relaxed),
                rss,
                vsz,
            })
        })
        .collect();
    let backlog = sockets
        .iter()
        .map(|s| document::listen_queue(s.listener.as_raw_fd()).0)
        .sum();
    Load { workers, backlog }
}

/// harakiri-verbose: what the kernel says the worker is doing, as uWSGI
/// logs it (`trigger_harakiri`): its system call and wait channel.
pub fn log_kernel_state(pid: i32) {
    for what in ["syscall", "wchan"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/{what}")) {
            tracing::error!(pid, "HARAKIRI: -- {what}> {}", text.trim_end());
        }
    }
}

/// The oldest running request of every worker, for harakiri (empty when
/// harakiri is off: nothing reads it then).
pub fn busy(state: &State, region: &Region) -> Vec<Busy> {
    if state.settings().harakiri.is_none() {
        return Vec::new();
    }
    state
        .workers()
        .iter()
        .filter(|w| w.pid.is_some())
        .filter_map(|w| {
            let slot = region.slot(w.slot);
            let (core, since_us) = slot.oldest_request()?;
            Some(Busy {
                slot: w.slot,
                since_us,
                uri: slot.cores[core].uri(),
            })
        })
        .collect()
}
