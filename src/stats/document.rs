//! The stats document, in uWSGI's schema (so uwsgitop and other uWSGI
//! monitoring tools read it), built in the master from the shared region
//! and the master's own table, without asking the workers.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Value, json};

use rsgi_core::stats::region::{APPS, Region, Slot, Status};

/// What the master knows of one worker process.
pub struct WorkerView {
    pub id: usize,
    pub slot: usize,
    pub pid: i32,
    pub accepting: bool,
    pub respawn_count: u64,
    pub harakiri_count: u64,
    /// Unix seconds when it was spawned.
    pub last_spawn: u64,
}

/// A listening socket as the stats document shows it.
pub struct SocketView {
    pub name: String,
    pub proto: &'static str,
    pub fd: RawFd,
}

/// One app as the stats document shows it.
pub struct AppView {
    pub mountpoint: String,
    pub chdir: String,
}

/// The whole document. `cheap`: worker ids cheaper keeps stopped, listed
/// as uWSGI lists them (pid 0, status "cheap"), so uwsgitop shows them.
pub fn build(
    region: &Region,
    workers: &[WorkerView],
    cheap: &[usize],
    sockets: &[SocketView],
    apps: &[AppView],
) -> Value {
    let sockets_json: Vec<Value> = sockets
        .iter()
        .map(|s| {
            let (queue, max_queue) = listen_queue(s.fd);
            json!({
                "name": s.name, "proto": s.proto, "queue": queue, "max_queue": max_queue,
                "shared": 0, "can_offload": 0,
            })
        })
        .collect();
    let listen_queue: u64 = sockets.iter().map(|s| listen_queue(s.fd).0).sum();
    let mut workers_json: Vec<Value> = workers
        .iter()
        .map(|w| worker(region.slot(w.slot), w, apps))
        .collect();
    workers_json.extend(cheap.iter().map(|id| cheap_worker(*id)));
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    json!({
        "version": concat!("rsgi ", env!("CARGO_PKG_VERSION")),
        "listen_queue": listen_queue,
        "listen_queue_errors": 0,
        "signal_queue": 0,
        "load": listen_queue,
        "pid": std::process::id(),
        "uid": uid,
        "gid": gid,
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "locks": [],
        "sockets": sockets_json,
        "workers": workers_json,
    })
}

fn worker(slot: Slot<'_>, w: &WorkerView, apps: &[AppView]) -> Value {
    let requests = slot.requests.load(Relaxed);
    let rt_total = slot.rt_total_us.load(Relaxed);
    let avg_rt = rt_total.checked_div(requests).unwrap_or(0);
    let (rss, vsz) = memory(w.pid);
    let status = match slot.status() {
        Status::Busy => "busy",
        Status::Free | Status::Starting | Status::Stopping => "cheap",
        Status::Idle => "idle",
    };
    // Every core of the worker, busy or not, as uWSGI lists them.
    let cores: Vec<Value> = slot
        .cores_in_use()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let busy = c.in_request_since.load(Relaxed) != 0;
            json!({
                "id": i, "requests": c.requests.load(Relaxed), "static_requests": 0,
                "routed_requests": 0, "offloaded_requests": 0,
                "write_errors": c.write_errors.load(Relaxed), "read_errors": c.read_errors.load(Relaxed),
                "in_request": u8::from(busy), "vars": [],
                "req_info": if busy { json!({"request_start": c.in_request_since.load(Relaxed) / 1_000_000, "uri": c.uri()}) } else { json!({}) },
            })
        })
        .collect();
    let apps: Vec<Value> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "id": i, "modifier1": 0, "mountpoint": a.mountpoint, "startup_time": 0,
                "requests": slot.app_requests[i.min(APPS - 1)].load(Relaxed),
                "exceptions": slot.app_exceptions[i.min(APPS - 1)].load(Relaxed),
                "chdir": a.chdir,
            })
        })
        .collect();
    json!({
        "id": w.id,
        "pid": w.pid,
        "accepting": u8::from(w.accepting),
        "requests": requests,
        // uWSGI's delta_requests counts the requests since the worker's
        // last (re)spawn: it resets it in uwsgi_respawn_worker
        // (core/master_utils.c) and max-requests compares it (core/utils.c).
        // Reading the stats does not reset it. A stats slot here belongs to
        // one worker process, so that is the slot's whole count.
        "delta_requests": requests,
        "exceptions": slot.exceptions.load(Relaxed),
        "harakiri_count": w.harakiri_count,
        "signals": 0,
        "signal_queue": 0,
        "status": status,
        "rss": rss,
        "vsz": vsz,
        "running_time": rt_total,
        "last_spawn": w.last_spawn,
        "respawn_count": w.respawn_count,
        "tx": slot.tx.load(Relaxed),
        "avg_rt": avg_rt,
        "apps": apps,
        "cores": cores,
    })
}

/// A worker id with no process: cheaper stopped it.
fn cheap_worker(id: usize) -> Value {
    json!({
        "id": id, "pid": 0, "accepting": 0, "requests": 0, "delta_requests": 0,
        "exceptions": 0, "harakiri_count": 0, "signals": 0, "signal_queue": 0,
        "status": "cheap", "rss": 0, "vsz": 0, "running_time": 0, "last_spawn": 0,
        "respawn_count": 0, "tx": 0, "avg_rt": 0, "apps": [], "cores": [],
    })
}

/// (RSS, VSZ) in bytes, from /proc/PID/statm.
pub fn memory(pid: i32) -> (u64, u64) {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let mut pages = statm
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    let (vsz, rss) = (pages.next().unwrap_or(0), pages.next().unwrap_or(0));
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    (rss * page, vsz * page)
}

/// (connections waiting in the accept queue, its maximum) for a TCP
/// listening socket, from the kernel (TCP_INFO); (0, 0) for others.
pub fn listen_queue(fd: RawFd) -> (u64, u64) {
    // SAFETY: getsockopt writes at most `len` bytes into the zeroed struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return (0, 0);
    }
    // For a listening socket the kernel reports the accept queue in
    // tcpi_unacked and the backlog in tcpi_sacked.
    (u64::from(info.tcpi_unacked), u64::from(info.tcpi_sacked))
}

/// The document as the bytes a stats client receives.
pub fn encode(doc: &Value, http: bool) -> Vec<u8> {
    let body = serde_json::to_vec(doc).unwrap_or_default();
    if http {
        super::server::http_reply("200 OK", "application/json", &body)
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_requests_counts_since_the_spawn_and_reading_resets_nothing() {
        let region = Region::create(1).expect("memfd");
        region.slot(2).reset(0);
        for _ in 0..5 {
            region.slot(2).end(0, 0, 200, 10, 100, false);
        }
        let view = WorkerView {
            id: 1,
            slot: 2,
            pid: std::process::id() as i32,
            accepting: true,
            respawn_count: 0,
            harakiri_count: 0,
            last_spawn: 0,
        };
        let read = || {
            let doc = build(&region, std::slice::from_ref(&view), &[], &[], &[]);
            let w = &doc["workers"][0];
            (w["requests"].as_u64(), w["delta_requests"].as_u64())
        };
        assert_eq!(read(), (Some(5), Some(5)));
        let _ = super::super::metrics::render(
            &region,
            std::slice::from_ref(&view),
            &super::super::metrics::MasterFigures {
                reloads: 0,
                listen_queue: 0,
                target: 1,
            },
        );
        assert_eq!(read(), (Some(5), Some(5)), "a second read, after a scrape");
        region.slot(2).reset(0);
        assert_eq!(read(), (Some(0), Some(0)), "a respawn starts over");
    }
}
