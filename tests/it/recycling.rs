//! Worker lifetime and memory limits, exit-on-reload, harakiri-verbose,
//! memory-report: what the master and the workers do about a worker's
//! age and size, seen from outside.

use std::collections::HashSet;

use crate::common::*;

const APP: &str = "import time\n\ndef application(environ, start_response):\n    if environ['PATH_INFO'] == '/sleep':\n        time.sleep(30)\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok']\n";

fn start(extra: &[&str], stats: &Listener) -> Server {
    let dir = TempDir::new("recycling");
    dir.write("app.py", APP);
    let mut args = vec!["--wsgi-file", "{dir}/app.py"];
    args.extend_from_slice(extra);
    Launch::new(dir)
        .args(&args)
        .socket("--stats", stats)
        .start()
}

/// The pids the stats list for running workers.
fn stats_pids(stats_port: u16) -> HashSet<u64> {
    stats_from(stats_port)["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["pid"].as_u64().filter(|p| *p > 0))
        .collect()
}

#[test]
fn max_worker_lifetime_renews_workers_under_load_without_failing_a_request() {
    let stats = Listener::tcp();
    let stats_port = stats.port();
    let s = start(&["--processes", "2", "--max-worker-lifetime", "2"], &stats);
    let first = stats_pids(stats_port);
    assert_eq!(first.len(), 2);
    let load = Load::start(s.port, 4, "/");
    load.wait_for(20, PATIENCE);
    wait_until("both workers renewed", PATIENCE, || {
        let now = stats_pids(stats_port);
        now.len() == 2 && now.is_disjoint(&first)
    });
    load.wait_for(20, PATIENCE);
    let result = load.finish();
    eprintln!(
        "lifetime recycling under load: {} ok, {} failed, worst {:?}",
        result.ok, result.failed, result.worst
    );
    assert_eq!(result.failed, 0, "{}", s.log_text());
    assert!(s.log_text().contains("max-worker-lifetime (ran"));
}

#[test]
fn exit_on_reload_stops_with_status_0_after_requests_in_flight() {
    let dir = TempDir::new("exit-on-reload");
    dir.write(
        "app.py",
        &format!(
            "{HOLD_PY}\ndef application(environ, start_response):\n    hold(environ)\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'done']\n"
        ),
    );
    let mut s = Launch::new(dir)
        .args(&["--wsgi-file", "{dir}/app.py", "--exit-on-reload"])
        .start();
    let port = s.port;
    let client = std::thread::spawn(move || {
        request(
            port,
            "GET /?a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    wait_until("the request runs", PATIENCE, || held(s.dir.path()) == 1);
    s.signal(libc::SIGHUP);
    s.notified("STOPPING=1");
    assert!(s.running(), "the request in flight is waited for");
    release(s.dir.path());
    let r = client.join().expect("client");
    assert_eq!((r.status, r.text()), (200, "done".to_string()));
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
    assert!(s.log_text().contains("exit-on-reload"));
}

#[test]
fn reload_on_as_recycles_the_worker_after_its_request() {
    let stats = Listener::tcp();
    let stats_port = stats.port();
    // 1 MB: any Python worker's address space is past it.
    let s = start(&["--reload-on-as", "1"], &stats);
    let first = stats_pids(stats_port);
    assert_eq!(s.get("/").status, 200);
    wait_until("a new worker", PATIENCE, || {
        let now = stats_pids(stats_port);
        now.len() == 1 && now.is_disjoint(&first)
    });
    assert!(s.log_text().contains("reload-on-as ("), "{}", s.log_text());
}

#[test]
fn evil_reload_on_rss_has_the_master_kill_the_worker() {
    let stats = Listener::tcp();
    let stats_port = stats.port();
    let s = start(&["--evil-reload-on-rss", "1"], &stats);
    let first = stats_pids(stats_port);
    s.wait_for_log("evil-reload-on-rss: its RSS", PATIENCE);
    wait_until("a new worker", PATIENCE, || {
        !stats_pids(stats_port).is_subset(&first)
    });
}

#[test]
fn harakiri_verbose_logs_what_the_kernel_says_the_worker_does() {
    let stats = Listener::tcp();
    let s = start(&["--harakiri", "1", "--harakiri-verbose"], &stats);
    let port = s.port;
    let client = std::thread::spawn(move || {
        try_request(
            &Endpoint::from(port),
            b"GET /sleep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .ok()
        .map(|r| r.status)
    });
    s.wait_for_log("HARAKIRI: -- wchan>", PATIENCE);
    // The Python stacks follow, as without harakiri-verbose.
    s.wait_for_log("/sleep", PATIENCE);
    drop(client);
}

#[test]
fn memory_report_puts_the_workers_size_in_each_request_line() {
    let stats = Listener::tcp();
    let stats_port = stats.port();
    let s = start(&["--memory-report"], &stats);
    assert_eq!(s.get("/").status, 200);
    s.wait_for_log("{address space usage: ", PATIENCE);
    let log = s.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("{address space usage: "))
        .expect("a request line");
    assert!(
        line.contains("MB} {rss usage: ") && line.contains("GET / =>"),
        "{line}"
    );
    let doc = stats_after(stats_port, 1);
    assert!(doc["workers"][0]["rss"].as_u64() > Some(0));
}
