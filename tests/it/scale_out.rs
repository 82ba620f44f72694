//! The scale-out recipe of the README, for real: three rsgi instances
//! behind one nginx upstream, each reloaded and then restarted in turn
//! while a client keeps requesting through nginx. No request may fail.
//!
//! What makes that hold is the recipe itself (README, "Several hosts";
//! config-examples/nginx/upstream.conf):
//! nginx retries an idempotent request on the next server when one
//! refuses or drops a connection (`proxy_next_upstream error timeout`),
//! a reload replaces workers one by one with the listening socket open
//! throughout, and a stopping rsgi finishes the requests it accepted.

use std::path::PathBuf;

use crate::common::*;

const APP: &str = "import os\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'instance ' + os.environ.get('INSTANCE', '?').encode()]\n";

/// One instance: rsgi binding its own unix socket (as a host binds its
/// address), so a restart really leaves nothing listening for a moment.
fn instance(dir: &TempDir, n: usize) -> Server {
    let socket = dir.path().join(format!("rsgi{n}.sock"));
    Launch::new(TempDir::new(&format!("instance{n}")))
        .no_http()
        .args(&[
            "--http-socket",
            &socket.to_string_lossy(),
            "--wsgi-file",
            &dir.path().join("app.py").to_string_lossy(),
            "--processes",
            "2",
            "--env",
            &format!("INSTANCE={n}"),
        ])
        .start()
}

/// nginx balancing over the three instances, retrying an idempotent
/// request on the next one when an instance refuses or drops it.
fn start_balancer(dir: &TempDir) -> (Guard, PathBuf) {
    let d = dir.path().display();
    let front = dir.path().join("front.sock");
    let upstreams: String = (0..3)
        .map(|n| format!("        server unix:{d}/rsgi{n}.sock max_fails=0;\n"))
        .collect();
    let blocks = format!(
        "    upstream app {{
{upstreams}        keepalive 16;
    }}
    server {{
        listen unix:{front};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
        }}
    }}",
        front = front.display()
    );
    let nginx = start_nginx(dir, &blocks, &[&front]);
    (nginx, front)
}

#[test]
fn three_instances_behind_nginx_reload_and_restart_in_turn_without_a_failed_request() {
    if !nginx_available() {
        return;
    }
    let dir = TempDir::new("scale-out");
    dir.write("app.py", APP);
    let mut instances: Vec<Server> = (0..3).map(|n| instance(&dir, n)).collect();
    let (_nginx, front) = start_balancer(&dir);
    let mut seen = std::collections::BTreeSet::new();
    wait_until("every instance to answer through nginx", PATIENCE, || {
        if let Some(body) = ok_body(&front) {
            seen.insert(body);
        }
        seen.len() == 3
    });

    let load = Load::start(&front, 8, "/");
    load.wait_for(200, PATIENCE);
    for (n, running) in instances.iter_mut().enumerate() {
        // A rolling reload of this instance's workers.
        running.reloaded(|| running.signal(libc::SIGHUP));
        load.wait_for(200, PATIENCE);
        // Then the whole instance: a graceful stop, and a new master.
        running.signal(libc::SIGTERM);
        assert_eq!(
            running.wait_exit(PATIENCE),
            Some(0),
            "{}",
            running.log_text()
        );
        load.wait_for(200, PATIENCE);
        *running = instance(&dir, n);
        load.wait_for(200, PATIENCE);
    }
    let result = load.finish();
    assert_eq!(
        result.failed,
        0,
        "{} of {} requests failed; nginx's error log:\n{}",
        result.failed,
        result.ok + result.failed,
        nginx_errors(&dir)
    );
    assert!(result.ok >= 1400, "{} requests", result.ok);
}
