//! `--stats`: uWSGI's JSON document, with counters that match what clients did.

use crate::common::*;
use serde_json::Value;

const APP: &str = r#"
def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise":
        raise ValueError("counted")
    if path == "/hold":
        hold(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"0123456789"]
"#;

/// A server with two workers and its stats on a socket the test holds;
/// the stats socket's port.
fn start(extra: &[&str]) -> (Server, u16) {
    start_with(extra, |launch| launch)
}

fn start_with(extra: &[&str], more: impl FnOnce(Launch) -> Launch) -> (Server, u16) {
    let dir = TempDir::new("stats");
    dir.write("app.py", &format!("{HOLD_PY}{APP}"));
    let stats = Listener::tcp();
    let mut args = vec!["--wsgi-file", "{dir}/app.py", "--processes", "2"];
    args.extend_from_slice(extra);
    let launch = Launch::new(dir).args(&args).socket("--stats", &stats);
    (more(launch).start(), stats.port())
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
    let doc = stats_after(port, 103);
    let workers = doc["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let sum = |k: &str| workers_sum(&doc, k);
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
    let doc = || serde_json::from_slice::<Value>(&get("/").body).unwrap();
    let mut first = Value::Null;
    wait_until("7 requests counted", PATIENCE, || {
        first = doc();
        request_sums(&first).0 >= 7
    });
    assert_eq!(request_sums(&first), (7, 7));
    assert_eq!(get("/metrics").status, 200);
    let second = doc();
    assert_eq!(request_sums(&second), (7, 7), "{second}");
}

#[test]
fn a_worker_in_a_slow_request_is_busy() {
    let (s, port) = start(&[]);
    let web = s.port;
    let slow = std::thread::spawn(move || {
        request(
            web,
            "GET /hold?slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    wait_until("the request to start", PATIENCE, || held(s.dir.path()) == 1);
    let doc = stats_from(port);
    release(s.dir.path());
    let busy: Vec<&Value> = doc["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] == "busy")
        .collect();
    assert_eq!(busy.len(), 1, "{doc}");
    assert_eq!(busy[0]["cores"][0]["in_request"], 1);
    assert_eq!(busy[0]["cores"][0]["req_info"]["uri"], "/hold?slow");
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn every_key_has_uwsgis_type() {
    let (_s, port) = start(&[]);
    let doc = stats_from(port);
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

/// `python3 ARGS`, bounded.
fn python(args: &[&str], input: &[u8]) -> std::process::Output {
    run(
        std::process::Command::new("python3").args(args),
        input,
        PATIENCE,
    )
}

/// Install a package from PyPI (a developer machine may lack it; CI
/// installs them in .ci/run).
fn pip_install(package: &str) {
    let out = run(
        std::process::Command::new("python3").args(["-m", "pip", "install", "-q", package]),
        b"",
        PATIENCE * 4,
    );
    assert!(
        out.status.success(),
        "{package} is needed: python3 -m pip install {package}"
    );
}

/// uwsgitop's script, installing it from PyPI if it is not there yet.
fn uwsgitop() -> String {
    let which = || {
        let out = python(
            &[
                "-c",
                "import shutil, sysconfig, os; p = shutil.which('uwsgitop') or os.path.join(sysconfig.get_path('scripts'), 'uwsgitop'); print(p if os.path.exists(p) else '')",
            ],
            b"",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let found = which();
    if !found.is_empty() {
        return found;
    }
    pip_install("uwsgitop");
    which()
}

#[test]
fn uwsgitop_shows_every_worker() {
    let (s, port) = start(&["--processes", "3"]);
    for _ in 0..30 {
        assert_eq!(s.get("/").status, 200);
    }
    stats_after(port, 30);
    let script = format!(
        "{}/tests/support/uwsgitop_frame.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = python(&[&script, &uwsgitop(), &format!("127.0.0.1:{port}")], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "uwsgitop failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("req: 30"), "the total: {text}");
    let doc = stats_from(port);
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
    if !python(&["-c", "import prometheus_client"], b"")
        .status
        .success()
    {
        pip_install("prometheus_client");
    }
    let out = python(
        &[
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as parse\nfor f in parse(sys.stdin.read()):\n    for s in f.samples:\n        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n        print('%s{%s} %s' % (s.name, labels, s.value))",
        ],
        text.as_bytes(),
    );
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
    let metrics = Listener::tcp();
    let metrics_port = metrics.port();
    let (s, stats_port) = start_with(&[], |launch| launch.socket("--metrics", &metrics));
    for _ in 0..40 {
        assert_eq!(s.get("/").status, 200);
    }
    assert_eq!(s.get("/raise").status, 500);
    stats_after(stats_port, 41);
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
    wait_until("the request counted", PATIENCE, || {
        let doc = request(
            port,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        workers_sum(&serde_json::from_slice(&doc.body).unwrap(), "requests") == 1
    });
    let r = request(
        port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        sample(&prometheus_samples(&r.text()), "rsgi_requests_total{"),
        1.0
    );
}

#[test]
fn ready_answers_200_while_serving_and_503_once_a_stop_begins() {
    let metrics = Listener::tcp();
    let metrics_port = metrics.port();
    let (mut s, _) = start_with(&[], |launch| launch.socket("--metrics", &metrics));
    let ready = || {
        request(
            metrics_port,
            "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    };
    assert_eq!(ready(), 200);
    let web = s.port;
    let slow = std::thread::spawn(move || {
        request(
            web,
            "GET /hold?stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .status
    });
    wait_until("the request to start", PATIENCE, || held(s.dir.path()) == 1);
    s.signal(libc::SIGTERM);
    // The master keeps answering while the held request finishes.
    wait_until("/ready to turn 503", PATIENCE, || ready() == 503);
    release(s.dir.path());
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(s.wait_exit(PATIENCE), Some(0), "{}", s.log_text());
}
