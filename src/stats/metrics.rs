//! Prometheus text exposition (format 0.0.4) of the worker counters.
//! Per-worker counters restart from zero when a worker is replaced, which
//! Prometheus' rate() treats as a counter reset.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::document::WorkerView;
use rsgi_core::stats::region::{RT_BUCKETS_MS, Region, Status};

/// Master-wide figures that no worker slot holds.
pub struct MasterFigures {
    pub reloads: u64,
    pub listen_queue: u64,
    /// Workers the master keeps running now (cheaper moves it).
    pub target: usize,
}

pub fn render(region: &Region, workers: &[WorkerView], master: &MasterFigures) -> String {
    let mut out = String::with_capacity(4096);
    let per_worker = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&WorkerView) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for w in workers {
            let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", w.id, value(w));
        }
    };
    per_worker(
        &mut out,
        "rsgi_requests_total",
        "counter",
        "Requests answered by the worker.",
        &|w| region.slot(w.slot).requests.load(Relaxed),
    );
    per_worker(
        &mut out,
        "rsgi_exceptions_total",
        "counter",
        "Requests whose app raised or broke PEP 3333.",
        &|w| region.slot(w.slot).exceptions.load(Relaxed),
    );
    per_worker(
        &mut out,
        "rsgi_response_bytes_total",
        "counter",
        "Response body bytes sent.",
        &|w| region.slot(w.slot).tx.load(Relaxed),
    );
    per_worker(
        &mut out,
        "rsgi_worker_respawns_total",
        "counter",
        "Times this worker id was respawned.",
        &|w| w.respawn_count,
    );
    per_worker(
        &mut out,
        "rsgi_harakiri_total",
        "counter",
        "Workers killed by harakiri.",
        &|w| w.harakiri_count,
    );

    let busy = workers
        .iter()
        .filter(|w| region.slot(w.slot).status() == Status::Busy)
        .count();
    let _ = writeln!(
        out,
        "# HELP rsgi_workers Worker processes.\n# TYPE rsgi_workers gauge\nrsgi_workers {}",
        workers.len()
    );
    let _ = writeln!(
        out,
        "# HELP rsgi_workers_target Workers the master keeps running now (cheaper moves it between cheaper and processes).\n# TYPE rsgi_workers_target gauge\nrsgi_workers_target {}",
        master.target
    );
    let _ = writeln!(
        out,
        "# HELP rsgi_busy_workers Workers running a request now.\n# TYPE rsgi_busy_workers gauge\nrsgi_busy_workers {busy}"
    );
    let _ = writeln!(
        out,
        "# HELP rsgi_listen_queue Connections waiting to be accepted.\n# TYPE rsgi_listen_queue gauge\nrsgi_listen_queue {}",
        master.listen_queue
    );
    let _ = writeln!(
        out,
        "# HELP rsgi_reloads_total Rolling reloads done.\n# TYPE rsgi_reloads_total counter\nrsgi_reloads_total {}",
        master.reloads
    );

    let _ = writeln!(
        out,
        "# HELP rsgi_responses_total Responses by status class.\n# TYPE rsgi_responses_total counter"
    );
    for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
        let n: u64 = workers
            .iter()
            .map(|w| region.slot(w.slot).status_classes[i].load(Relaxed))
            .sum();
        let _ = writeln!(out, "rsgi_responses_total{{class=\"{class}\"}} {n}");
    }

    let name = "rsgi_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from a complete request to its response written.\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (i, le) in RT_BUCKETS_MS.iter().enumerate() {
        cumulative += workers
            .iter()
            .map(|w| region.slot(w.slot).rt_buckets[i].load(Relaxed))
            .sum::<u64>();
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            *le as f64 / 1000.0
        );
    }
    let count: u64 = workers
        .iter()
        .map(|w| region.slot(w.slot).requests.load(Relaxed))
        .sum();
    let sum_us: u64 = workers
        .iter()
        .map(|w| region.slot(w.slot).rt_total_us.load(Relaxed))
        .sum();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {}", sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {count}");
    out
}
