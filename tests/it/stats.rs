//! `--stats`: uWSGI's JSON document, with counters that match what clients did.

use std::io::Read;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

const APP: &str = r#"
import os, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise":
        raise ValueError("counted")
    if path == "/slow":
        open(os.path.join(os.path.dirname(__file__), "slow"), "w").close()
        time.sleep(2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"0123456789"]
"#;

fn fetch(port: u16) -> Vec<u8> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    out
}

fn stats(port: u16) -> Value {
    serde_json::from_slice(&fetch(port)).expect("stats JSON")
}

fn start(extra: &[&str]) -> (Server, u16) {
    let dir = TempDir::new("stats");
    dir.write("app.py", APP);
    let stats_port = free_port();
    let addr = format!("127.0.0.1:{stats_port}");
    let mut args = vec![
        "--wsgi-file",
        "{dir}/app.py",
        "--processes",
        "2",
        "--stats",
        addr.as_str(),
    ];
    args.extend_from_slice(extra);
    (Server::start_in(dir, &args), stats_port)
}

#[test]
fn counters_match_the_requests_sent() {
    let (s, port) = start(&[]);
    for _ in 0..100 {
        assert_eq!(s.get("/").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(s.get("/raise").status, 500);
    }
    assert_eq!(
        request(s.port, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").status,
        400
    );
    let doc = stats(port);
    let workers = doc["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let sum = |k: &str| workers.iter().map(|w| w[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("requests"), 103);
    assert_eq!(sum("exceptions"), 3);
    assert!(
        sum("tx") >= 100 * 10,
        "tx counts response bytes: {}",
        sum("tx")
    );
    assert_eq!(sum("delta_requests"), 103);
    let read_errors: u64 = workers
        .iter()
        .map(|w| w["cores"][0]["read_errors"].as_u64().unwrap())
        .sum();
    assert_eq!(read_errors, 1, "the bad request is a read error");
}

/// The requests and delta_requests of every worker, summed.
fn request_sums(doc: &Value) -> (u64, u64) {
    let workers = doc["workers"].as_array().unwrap();
    let sum = |k: &str| workers.iter().map(|w| w[k].as_u64().unwrap()).sum::<u64>();
    (sum("requests"), sum("delta_requests"))
}

#[test]
fn reading_stats_or_metrics_changes_no_counter() {
    // delta_requests is uWSGI's count since the worker's last spawn (what
    // max-requests compares against), not since the previous stats read:
    // a Prometheus scrape between two reads must not reset it.
    let (s, port) = start(&["--stats-http"]);
    for _ in 0..7 {
        assert_eq!(s.get("/").status, 200);
    }
    let get = |path: &str| {
        request(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let first: Value = serde_json::from_slice(&get("/").body).unwrap();
    assert_eq!(request_sums(&first), (7, 7));
    assert_eq!(get("/metrics").status, 200);
    let second: Value = serde_json::from_slice(&get("/").body).unwrap();
    assert_eq!(request_sums(&second), (7, 7), "{second}");
}

#[test]
fn a_worker_in_a_slow_request_is_busy() {
    let (s, port) = start(&[]);
    let web = s.port;
    let slow = std::thread::spawn(move || {
        request(
            web,
            "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    let marker = s.dir.path().join("slow");
    wait_until("the slow request to start", Duration::from_secs(5), || {
        marker.exists()
    });
    let doc = stats(port);
    let busy: Vec<&Value> = doc["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] == "busy")
        .collect();
    assert_eq!(busy.len(), 1, "{doc}");
    assert_eq!(busy[0]["cores"][0]["in_request"], 1);
    assert_eq!(busy[0]["cores"][0]["req_info"]["uri"], "/slow");
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn every_key_has_uwsgis_type() {
    let (_s, port) = start(&[]);
    let doc = stats(port);
    for k in [
        "listen_queue",
        "listen_queue_errors",
        "signal_queue",
        "load",
        "pid",
        "uid",
        "gid",
    ] {
        assert!(doc[k].is_u64(), "{k}: {}", doc[k]);
    }
    assert!(doc["version"].is_string() && doc["cwd"].is_string() && doc["locks"].is_array());
    let socket = &doc["sockets"][0];
    assert!(socket["name"].is_string() && socket["proto"] == "http");
    for k in ["queue", "max_queue", "shared", "can_offload"] {
        assert!(socket[k].is_u64(), "socket {k}");
    }
    for w in doc["workers"].as_array().unwrap() {
        for k in [
            "id",
            "pid",
            "accepting",
            "requests",
            "delta_requests",
            "exceptions",
            "harakiri_count",
            "signals",
            "signal_queue",
            "rss",
            "vsz",
            "running_time",
            "last_spawn",
            "respawn_count",
            "tx",
            "avg_rt",
        ] {
            assert!(w[k].is_u64(), "worker {k}: {}", w[k]);
        }
        assert!(["idle", "busy", "cheap", "pause", "sig"].contains(&w["status"].as_str().unwrap()));
        for k in ["id", "modifier1", "startup_time", "requests", "exceptions"] {
            assert!(w["apps"][0][k].is_u64(), "app {k}");
        }
        assert!(w["apps"][0]["mountpoint"].is_string() && w["apps"][0]["chdir"].is_string());
        for k in [
            "id",
            "requests",
            "static_requests",
            "routed_requests",
            "offloaded_requests",
            "write_errors",
            "read_errors",
            "in_request",
        ] {
            assert!(w["cores"][0][k].is_u64(), "core {k}");
        }
        assert!(w["cores"][0]["vars"].is_array() && w["cores"][0]["req_info"].is_object());
    }
}

#[test]
fn stats_http_wraps_the_document() {
    let (_s, port) = start(&["--stats-http"]);
    let r = request(
        port,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["workers"].as_array().unwrap().len(), 2);
}

/// uwsgitop's script, installing it from PyPI if it is not there yet.
fn uwsgitop() -> String {
    let which = || {
        std::process::Command::new("python3")
            .args(["-c", "import shutil, sysconfig, os; p = shutil.which('uwsgitop') or os.path.join(sysconfig.get_path('scripts'), 'uwsgitop'); print(p if os.path.exists(p) else '')"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let found = which();
    if !found.is_empty() {
        return found;
    }
    let installed = std::process::Command::new("python3")
        .args(["-m", "pip", "install", "-q", "uwsgitop"])
        .status();
    assert!(
        installed.is_ok_and(|s| s.success()),
        "uwsgitop is needed: python3 -m pip install uwsgitop"
    );
    which()
}

#[test]
fn uwsgitop_shows_every_worker() {
    let (s, port) = start(&["--processes", "3"]);
    for _ in 0..30 {
        assert_eq!(s.get("/").status, 200);
    }
    let script = format!(
        "{}/tests/support/uwsgitop_frame.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new("python3")
        .args([&script, &uwsgitop(), &format!("127.0.0.1:{port}")])
        .output()
        .expect("run uwsgitop");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "uwsgitop failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("req: 30"), "the total: {text}");
    let doc = stats(port);
    for w in doc["workers"].as_array().unwrap() {
        let pid = w["pid"].as_u64().unwrap().to_string();
        assert!(
            text.lines()
                .any(|l| l.split('\t').nth(2) == Some(pid.as_str())),
            "worker {pid} has a row:\n{text}"
        );
    }
}

/// Parse Prometheus text with prometheus_client's parser; returns
/// "name{labels} value" lines of every sample.
fn prometheus_samples(text: &str) -> Vec<String> {
    let ensure = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status();
    if !ensure.is_ok_and(|s| s.success()) {
        let installed = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "-q", "prometheus_client"])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "prometheus_client is needed: python3 -m pip install prometheus_client"
        );
    }
    let mut p = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as parse\nfor f in parse(sys.stdin.read()):\n    for s in f.samples:\n        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n        print('%s{%s} %s' % (s.name, labels, s.value))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

fn sample(samples: &[String], prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.starts_with(prefix))
        .map(|s| s.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn prometheus_metrics_parse_and_count_the_requests() {
    let metrics_port = free_port();
    let addr = format!("127.0.0.1:{metrics_port}");
    let (s, _) = start(&["--metrics", &addr]);
    for _ in 0..40 {
        assert_eq!(s.get("/").status, 200);
    }
    assert_eq!(s.get("/raise").status, 500);
    let r = request(
        metrics_port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let samples = prometheus_samples(&r.text());
    assert_eq!(sample(&samples, "rsgi_requests_total{"), 41.0);
    assert_eq!(sample(&samples, "rsgi_exceptions_total{"), 1.0);
    assert_eq!(sample(&samples, "rsgi_responses_total{class=2xx}"), 40.0);
    assert_eq!(sample(&samples, "rsgi_responses_total{class=5xx}"), 1.0);
    assert_eq!(
        sample(&samples, "rsgi_request_duration_seconds_count"),
        41.0
    );
    assert_eq!(
        sample(&samples, "rsgi_request_duration_seconds_bucket{le=+Inf}"),
        41.0
    );
    assert_eq!(sample(&samples, "rsgi_workers{"), 2.0);
    assert_eq!(
        request(metrics_port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
}

#[test]
fn stats_http_also_serves_metrics() {
    let (s, port) = start(&["--stats-http"]);
    assert_eq!(s.get("/").status, 200);
    let r = request(
        port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        sample(&prometheus_samples(&r.text()), "rsgi_requests_total{"),
        1.0
    );
}
