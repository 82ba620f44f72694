//! Every Python thread of a worker is visible to harakiri and the stats,
//! however many `threads` there are (the stats region used to track 32).

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::*;

const APP: &str = r#"
import os, time

HERE = os.path.dirname(__file__)

def application(environ, start_response):
    if environ["PATH_INFO"] == "/block":
        flag = os.path.join(HERE, "release-" + environ["QUERY_STRING"])
        while not os.path.exists(flag):
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
"#;

const THREADS: usize = 40;

/// (core id, uri) of every busy core of the only worker.
fn busy_cores(stats_port: u16) -> Vec<(u64, String)> {
    let doc = stats_from(stats_port);
    doc["workers"][0]["cores"]
        .as_array()
        .expect("cores")
        .iter()
        .filter(|c| c["in_request"] == 1)
        .map(|c| {
            (
                c["id"].as_u64().expect("id"),
                c["req_info"]["uri"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn harakiri_sees_requests_on_threads_past_32() {
    let dir = TempDir::new("threads");
    dir.write("app.py", APP);
    let stats = Listener::tcp();
    let stats_port = stats.port();
    let threads = THREADS.to_string();
    let s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--threads",
            &threads,
            "--harakiri",
            "4",
        ])
        .socket("--stats", &stats)
        .start();
    let doc = stats_from(stats_port);
    assert_eq!(
        doc["workers"][0]["cores"].as_array().map(Vec::len),
        Some(THREADS),
        "the stats list every core, as uWSGI's do"
    );
    let port = s.port;
    let clients: Vec<_> = (0..THREADS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
                c.set_read_timeout(Some(PATIENCE)).ok()?;
                c.write_all(
                    format!("GET /block?{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .ok()?;
                let mut data = Vec::new();
                c.read_to_end(&mut data).ok()?;
                Some(data)
            })
        })
        .collect();
    wait_until("every thread busy", PATIENCE, || {
        busy_cores(stats_port).len() == THREADS
    });
    // Let the requests on the first 32 threads finish: only threads the
    // region did not use to track still run.
    let busy = busy_cores(stats_port);
    let mut stuck = Vec::new();
    for (core, uri) in &busy {
        let id = uri.trim_start_matches("/block?");
        if *core < 32 {
            s.dir.write(&format!("release-{id}"), "");
        } else {
            stuck.push(uri.clone());
        }
    }
    assert_eq!(stuck.len(), THREADS - 32, "busy: {busy:?}");
    wait_until("harakiri on a thread past 32", PATIENCE, || {
        s.log_text()
            .lines()
            .any(|l| l.contains("harakiri") && stuck.iter().any(|u| l.contains(u.as_str())))
    });
    for id in 0..THREADS {
        s.dir.write(&format!("release-{id}"), "");
    }
    for c in clients {
        let _ = c.join();
    }
    // The worker was replaced and serves again.
    wait_until("a worker serving again", PATIENCE, || {
        ok_body(port).is_some()
    });
}

#[test]
fn sighup_past_the_tracked_threads_runs_as_many_as_are_tracked() {
    let dir = TempDir::new("threads-hup");
    dir.write("app.py", APP);
    let ini = dir.write("app.ini", "[uwsgi]\nwsgi-file = %dapp.py\nthreads = 2\n");
    let stats = Listener::tcp();
    let stats_port = stats.port();
    let s = Launch::new(dir)
        .args(&["--ini", ini.to_str().expect("utf-8")])
        .socket("--stats", &stats)
        .start();
    let cores = |port| {
        stats_from(port)["workers"][0]["cores"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(cores(stats_port), 2);
    // The region was sized at start: 32 cores per worker.
    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nthreads = 40\n").expect("ini");
    s.reloaded(|| s.signal(libc::SIGHUP));
    assert!(
        s.log_text()
            .contains("threads was raised past what this master tracks"),
        "{}",
        s.log_text()
    );
    assert_eq!(cores(stats_port), 32);
    assert!(ok_body(s.port).is_some());
}
