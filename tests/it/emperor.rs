//! The Emperor: one vassal per config file, started, reloaded, stopped and
//! restarted as the files and processes come and go.

use std::path::Path;
use std::time::Instant;

use crate::common::*;

fn app_code(version: &str) -> String {
    format!(
        "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'{version}']\n"
    )
}

fn vassals(stats: u16) -> serde_json::Value {
    stats_from(stats)["vassals"].clone()
}

fn vassal_pid(stats: u16, id: &str) -> Option<i64> {
    vassals(stats)
        .as_array()?
        .iter()
        .find(|v| v["id"] == id)
        .and_then(|v| v["pid"].as_i64())
        .filter(|p| *p > 0)
}

fn refused(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_err()
}

#[test]
fn the_emperor_runs_one_vassal_per_file() {
    let dir = TempDir::new("emperor");
    let vassal_dir = dir.path().join("vassals");
    std::fs::create_dir_all(&vassal_dir).unwrap();
    dir.write("app1.py", &app_code("one"));
    dir.write("app2.py", &app_code("two"));
    // Vassals bind their own sockets: unix sockets in this test's
    // directory, which nobody else can take.
    let (s1, s2) = (dir.path().join("app1.sock"), dir.path().join("app2.sock"));
    let stats = Listener::tcp();
    let vd = vassal_dir.to_string_lossy().into_owned();
    let mut s = Launch::new(dir)
        .args(&["--emperor", &vd])
        .socket("--emperor-stats", &stats)
        .no_http()
        .spawn();
    let stats = stats.port();
    // The emperor answers its stats once it runs.
    assert_eq!(vassals(stats), serde_json::json!([]));

    // Adding two files serves both.
    let d = s.dir.path().display().to_string();
    let ini = vassal_dir.join("app1.ini");
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nhttp-socket = {}\nwsgi-file = {d}/app1.py\nprocesses = 2\n",
            s1.display()
        ),
    )
    .unwrap();
    std::fs::write(
        vassal_dir.join("app2.toml"),
        format!(
            "[uwsgi]\nhttp-socket = \"{}\"\nwsgi-file = \"{d}/app2.py\"\n",
            s2.display()
        ),
    )
    .unwrap();
    let start = Instant::now();
    wait_until("both vassals to serve", PATIENCE, || {
        ok_body(&s1).as_deref() == Some("one") && ok_body(&s2).as_deref() == Some("two")
    });
    eprintln!(
        "both vassals served {:?} after their files appeared",
        start.elapsed()
    );

    // Editing app1's code and touching its ini reloads it, losing nothing.
    let load = Load::start(&s1, 4, "/");
    load.wait_for(20, PATIENCE);
    std::fs::write(s.dir.path().join("app1.py"), app_code("one-v2")).unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    std::fs::write(&ini, format!("{text}; touched\n")).unwrap();
    wait_until("the new code", PATIENCE, || {
        ok_body(&s1).as_deref() == Some("one-v2")
    });
    load.wait_for(20, PATIENCE);
    let result = load.finish();
    assert_eq!(
        result.failed, 0,
        "failed requests during the vassal's reload"
    );

    // Deleting app2's file stops it and closes its socket.
    std::fs::remove_file(vassal_dir.join("app2.toml")).unwrap();
    wait_until("app2's socket to close", PATIENCE, || refused(&s2));

    // Killing a vassal's master respawns it.
    let pid = vassal_pid(stats, "app1.ini").expect("app1's pid");
    // SAFETY: kill(2) on a process this test's emperor started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until("app1 respawned", PATIENCE, || {
        vassal_pid(stats, "app1.ini").is_some_and(|p| p != pid)
            && ok_body(&s1).as_deref() == Some("one-v2")
    });

    // SIGTERM stops everything, leaving no process.
    let all = descendants(s.pid());
    assert!(!all.is_empty());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    wait_until("no vassal process left", PATIENCE, || {
        all.iter().all(|p| is_gone(*p))
    });
}
