//! The Emperor: one vassal per config file, started, reloaded, stopped and
//! restarted as the files and processes come and go.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::*;

fn app_code(version: &str) -> String {
    format!(
        "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'{version}']\n"
    )
}

fn vassals(stats: u16) -> serde_json::Value {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", stats)).unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["vassals"].clone()
}

fn vassal_pid(stats: u16, id: &str) -> Option<i64> {
    vassals(stats)
        .as_array()?
        .iter()
        .find(|v| v["id"] == id)
        .and_then(|v| v["pid"].as_i64())
        .filter(|p| *p > 0)
}

#[test]
fn the_emperor_runs_one_vassal_per_file() {
    let dir = TempDir::new("emperor");
    let vassal_dir = dir.path().join("vassals");
    std::fs::create_dir_all(&vassal_dir).unwrap();
    dir.write("app1.py", &app_code("one"));
    dir.write("app2.py", &app_code("two"));
    let (p1, p2, stats) = (free_port(), free_port(), free_port());
    let vd = vassal_dir.to_string_lossy().into_owned();
    let st = format!("127.0.0.1:{stats}");
    let mut s = Server::spawn(dir, &["--emperor", &vd, "--emperor-stats", &st], false);
    s.wait_for_log("emperor started", Duration::from_secs(10));

    // Adding two files serves both within 3 s.
    let d = s.dir.path().display().to_string();
    let ini = vassal_dir.join("app1.ini");
    std::fs::write(
        &ini,
        format!("[uwsgi]\nhttp-socket = 127.0.0.1:{p1}\nwsgi-file = {d}/app1.py\nprocesses = 2\n"),
    )
    .unwrap();
    std::fs::write(
        vassal_dir.join("app2.toml"),
        format!("[uwsgi]\nhttp-socket = \"127.0.0.1:{p2}\"\nwsgi-file = \"{d}/app2.py\"\n"),
    )
    .unwrap();
    let start = Instant::now();
    wait_until("both vassals to serve", Duration::from_secs(3), || {
        ok_body(p1).as_deref() == Some("one") && ok_body(p2).as_deref() == Some("two")
    });
    eprintln!(
        "both vassals served {:?} after their files appeared",
        start.elapsed()
    );

    // Editing app1's code and touching its ini reloads it, losing nothing.
    let load = Load::start(p1, 4, "/");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(s.dir.path().join("app1.py"), app_code("one-v2")).unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    std::fs::write(&ini, format!("{text}; touched\n")).unwrap();
    wait_until("the new code", Duration::from_secs(15), || {
        ok_body(p1).as_deref() == Some("one-v2")
    });
    let result = load.finish();
    assert_eq!(
        result.failed, 0,
        "failed requests during the vassal's reload"
    );
    assert!(result.ok > 20);

    // Deleting app2's file stops it and frees its port.
    std::fs::remove_file(vassal_dir.join("app2.toml")).unwrap();
    wait_until("app2's port to be free", Duration::from_secs(10), || {
        std::net::TcpListener::bind(("127.0.0.1", p2)).is_ok()
    });

    // Killing a vassal's master respawns it.
    let pid = vassal_pid(stats, "app1.ini").expect("app1's pid");
    // SAFETY: kill(2) on a process this test's emperor started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until("app1 respawned", Duration::from_secs(10), || {
        vassal_pid(stats, "app1.ini").is_some_and(|p| p != pid)
            && ok_body(p1).as_deref() == Some("one-v2")
    });

    // SIGTERM stops everything, leaving no process.
    let all = descendants(s.pid());
    assert!(!all.is_empty());
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(15)), Some(0));
    wait_until("no vassal process left", Duration::from_secs(5), || {
        all.iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |st| st.contains(") Z"))
        })
    });
}
