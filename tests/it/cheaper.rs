//! Adaptive workers (`cheaper`): the count follows the load up to
//! `processes` and back down to `cheaper`, as the stats (uwsgitop's view)
//! and the metrics show it.

use serde_json::Value;

use crate::common::*;

/// An app whose `/hold?N` requests wait for the test's release.
fn app() -> String {
    format!(
        "{HOLD_PY}\ndef application(environ, start_response):\n    if environ['PATH_INFO'] == '/hold':\n        hold(environ)\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok']\n"
    )
}

/// (workers with a process, workers listed as cheap) in a stats document.
fn counts(doc: &Value) -> (usize, usize) {
    let workers = doc["workers"].as_array().expect("workers");
    let running = workers
        .iter()
        .filter(|w| w["pid"].as_u64() > Some(0))
        .count();
    let cheap = workers
        .iter()
        .filter(|w| w["pid"] == 0 && w["status"] == "cheap")
        .count();
    (running, cheap)
}

fn target(metrics_port: u16) -> String {
    let r = request(
        metrics_port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix("rsgi_workers_target "))
        .unwrap_or("")
        .to_string()
}

#[test]
fn cheaper_spawns_under_load_and_stops_idle_workers_after() {
    let dir = TempDir::new("cheaper");
    dir.write("app.py", &app());
    let (stats, metrics) = (Listener::tcp(), Listener::tcp());
    let (stats_port, metrics_port) = (stats.port(), metrics.port());
    let s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--processes",
            "3",
            "--cheaper",
            "1",
            "--cheaper-overload",
            "1",
        ])
        .socket("--stats", &stats)
        .socket("--metrics", &metrics)
        .start();
    assert_eq!(
        counts(&stats_from(stats_port)),
        (1, 2),
        "cheaper-initial: cheaper"
    );
    assert_eq!(target(metrics_port), "1");

    // Three requests held at once need three workers (one Python thread
    // each): the master adds them one a second while all are busy.
    let port = s.port;
    let clients = std::thread::spawn(move || {
        concurrently(3, move |i| {
            request(
                port,
                &format!("GET /hold?{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            )
            .status
        })
    });
    wait_until("three requests running at once", PATIENCE, || {
        held(s.dir.path()) == 3
    });
    assert_eq!(
        counts(&stats_from(stats_port)),
        (3, 0),
        "processes is the most"
    );
    assert_eq!(target(metrics_port), "3");
    s.wait_for_log("cheaper: every worker was busy", PATIENCE);

    // Idle again: one stopped a second, gracefully, down to cheaper.
    release(s.dir.path());
    let statuses = clients.join().expect("clients");
    assert_eq!(statuses, [200, 200, 200]);
    wait_until("back to one worker, two cheap", PATIENCE, || {
        counts(&stats_from(stats_port)) == (1, 2)
    });
    assert_eq!(target(metrics_port), "1");
    s.wait_for_log("stopping an idle worker", PATIENCE);
    wait_until("the stopped workers exit", PATIENCE, || {
        worker_pids(s.pid()).len() == 1
    });
    assert_eq!(s.get("/").status, 200);

    // A reload renews the one worker running, not processes.
    let before = worker_pids(s.pid());
    s.reloaded(|| s.signal(libc::SIGHUP));
    wait_until("one new worker, two cheap", PATIENCE, || {
        let after = worker_pids(s.pid());
        after.len() == 1 && after != before && counts(&stats_from(stats_port)) == (1, 2)
    });
}
