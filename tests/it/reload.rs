//! Rolling reloads under load, config re-reads, and systemd's view.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

fn app_code(version: &str) -> String {
    format!(
        "import os\nVERSION = {version:?}\n\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('%s %d' % (VERSION, os.getpid())).encode()]\n"
    )
}

fn version_of(to: impl Into<Endpoint>) -> Option<String> {
    ok_body(to).and_then(|t| t.split_whitespace().next().map(String::from))
}

fn start(extra: &[&str]) -> Server {
    let dir = TempDir::new("reload");
    dir.write("app.py", &app_code("v1"));
    dir.write("reload.txt", "");
    let mut args = vec![
        "--wsgi-file",
        "{dir}/app.py",
        "--touch-reload",
        "{dir}/reload.txt",
        "--processes",
        "2",
    ];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

fn touch(path: &Path) {
    // mtime resolution is fine-grained on ext4/tmpfs, but make sure it moves.
    let old = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    loop {
        std::fs::write(path, format!("{:?}", Instant::now())).unwrap();
        if std::fs::metadata(path).and_then(|m| m.modified()).ok() != old {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Edit the code, trigger the reload, and check under load that nothing
/// failed, every worker was replaced and the new code serves.
fn reload_under_load(s: &Server, trigger: impl FnOnce()) {
    let before = worker_pids(s.pid());
    assert_eq!(before.len(), 2);
    let load = Load::start(s.port, 6, "/");
    load.wait_for(50, PATIENCE);
    s.dir.write("app.py", &app_code("v2"));
    s.reloaded(trigger);
    // The load goes on against the new workers.
    load.wait_for(50, PATIENCE);
    let result = load.finish();
    eprintln!(
        "reload under load: {} ok, {} failed, worst latency {:?}",
        result.ok, result.failed, result.worst
    );
    assert_eq!(
        result.failed,
        0,
        "requests failed during the reload:\n{}",
        s.log_text()
    );
    // Old workers finish their last connections and exit on their own.
    wait_until("exactly 2 workers, all new", PATIENCE, || {
        let after = worker_pids(s.pid());
        after.len() == 2 && after.iter().all(|p| !before.contains(p))
    });
    for _ in 0..10 {
        assert_eq!(version_of(s.port).as_deref(), Some("v2"));
    }
}

#[test]
fn touch_reload_in_preload_mode_loses_nothing() {
    let s = start(&[]);
    let file = s.dir.path().join("reload.txt");
    reload_under_load(&s, || touch(&file));
}

#[test]
fn touch_reload_in_lazy_apps_mode_loses_nothing() {
    let s = start(&["--lazy-apps", "--threads", "2"]);
    let file = s.dir.path().join("reload.txt");
    reload_under_load(&s, || touch(&file));
}

#[test]
fn sighup_reload_loses_nothing() {
    let s = start(&[]);
    reload_under_load(&s, || s.signal(libc::SIGHUP));
}

#[test]
fn new_code_that_fails_to_import_keeps_the_old_code_serving() {
    let s = start(&[]);
    let load = Load::start(s.port, 4, "/");
    s.dir
        .write("app.py", "def application(environ, start_response:\n");
    // READY=1 after RELOADING=1: the reload is over, here given up.
    s.reloaded(|| s.signal(libc::SIGHUP));
    let result = load.finish();
    assert_eq!(result.failed, 0);
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    s.wait_for_log("SyntaxError", PATIENCE);
}

#[test]
fn sighup_rereads_the_ini() {
    let dir = TempDir::new("hup");
    dir.write("app.py", &app_code("v1"));
    let ini = dir.write("app.ini", "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 2\n");
    let s = Server::start_in(dir, &["--ini", &ini.to_string_lossy()]);
    assert_eq!(worker_pids(s.pid()).len(), 2);
    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 3\n").unwrap();
    s.reloaded(|| s.signal(libc::SIGHUP));
    wait_until("3 workers", PATIENCE, || worker_pids(s.pid()).len() == 3);

    // A config that does not load starts no reload (no RELOADING=1): the
    // error in the log is all there is to see.
    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = three\n").unwrap();
    s.signal(libc::SIGHUP);
    s.wait_for_log(
        &format!(
            "{}:3: processes: expected a number, got \"three\"",
            ini.display()
        ),
        PATIENCE,
    );
    assert_eq!(version_of(s.port).as_deref(), Some("v1"), "still serving");
    assert_eq!(worker_pids(s.pid()).len(), 3);
}

#[test]
fn ten_touches_in_a_second_coalesce() {
    let s = start(&[]);
    let file = s.dir.path().join("reload.txt");
    for _ in 0..10 {
        touch(&file);
        std::thread::sleep(Duration::from_millis(90));
    }
    // Count the reloads until they settle: READY=1 ends the last one and
    // no RELOADING=1 follows for a second, four checks of the touch file
    // (every 250 ms), so no touch is left unseen.
    let (mut reloads, mut running) = (0, false);
    let started = Instant::now();
    loop {
        match s.notify.next(Duration::from_secs(1)) {
            Some(m) if m.starts_with("RELOADING=1") => {
                assert!(!running, "a reload started during another one");
                (reloads, running) = (reloads + 1, true);
            }
            Some(m) if m.starts_with("READY=1") => running = false,
            Some(_) => {}
            None if reloads > 0 && !running => break,
            None => assert!(
                started.elapsed() < PATIENCE,
                "no reload finished:\n{}",
                s.log_text()
            ),
        }
    }
    // Each touch lands during a reload or the 250 ms between checks of
    // the file, so they fold into far fewer reloads, run one at a time.
    assert!(
        (1..=6).contains(&reloads),
        "{reloads} reloads for 10 touches:\n{}",
        s.log_text()
    );
    // Whatever came later (a machine too busy to check the file in time)
    // ends the same way: two workers, one zygote.
    wait_until("two workers and one zygote", PATIENCE, || {
        worker_pids(s.pid()).len() == 2 && named_descendants(s.pid(), "rsgi zygote").len() == 1
    });
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
}

fn v1_launch(tag: &str) -> Launch {
    let dir = TempDir::new(tag);
    dir.write("app.py", &app_code("v1"));
    Launch::new(dir).args(&["--wsgi-file", "{dir}/app.py"])
}

#[test]
fn systemd_hears_ready_reloading_ready_stopping_in_order() {
    let mut s = v1_launch("notify").spawn();
    let ready = s.notified("READY=1");
    assert!(ready.starts_with("READY=1\nSTATUS=1 workers"), "{ready}");
    assert_eq!(
        version_of(s.port).as_deref(),
        Some("v1"),
        "READY=1 means serving"
    );
    s.signal(libc::SIGHUP);
    let reloading = s.notified("RELOADING=1");
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    s.notified("READY=1");
    s.signal(libc::SIGTERM);
    assert_eq!(s.notified("STOPPING=1"), "STOPPING=1");
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
}

#[test]
fn socket_activation_serves_on_the_passed_fd() {
    let listener = Listener::tcp();
    let address = format!("127.0.0.1:{}", listener.port());
    // rsgi would fail to bind the address (the test holds it): it serves
    // only if it takes the socket it was passed.
    let s = v1_launch("activation")
        .args(&["--http-socket", &address])
        .http(&listener)
        .systemd_activation()
        .start();
    assert!(
        s.log_text().contains("using the socket systemd passed"),
        "{}",
        s.log_text()
    );
    assert_eq!(version_of(listener.port()).as_deref(), Some("v1"));
}

#[test]
fn master_fifo_commands_reload_scale_and_stop() {
    let mut s = start(&["--master-fifo", "{dir}/fifo"]);
    let fifo = s.dir.path().join("fifo");
    let send = |c: &str| std::fs::write(&fifo, c).unwrap();
    send("+");
    wait_until("3 workers", PATIENCE, || worker_pids(s.pid()).len() == 3);
    send("-");
    wait_until("2 workers", PATIENCE, || worker_pids(s.pid()).len() == 2);
    let before = worker_pids(s.pid());
    s.reloaded(|| send("r"));
    wait_until("new workers", PATIENCE, || {
        worker_pids(s.pid()).iter().all(|p| !before.contains(p))
    });
    send("q");
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
}

#[test]
fn py_autoreload_picks_up_an_edited_module() {
    let s = start(&["--py-autoreload", "1"]);
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    // The watcher's first scan is done (it says so): edits from now on count.
    s.wait_for_log("watching the loaded modules", PATIENCE);
    s.reloaded(|| {
        s.dir.write("app.py", &app_code("v2"));
    });
    wait_until("the edited code to serve", PATIENCE, || {
        version_of(s.port).as_deref() == Some("v2")
    });
    assert!(s.log_text().contains("py-autoreload"), "{}", s.log_text());
}

/// An ini serving `app.py` on the unix sockets at `sockets`. Reloads that
/// bind new sockets need addresses rsgi binds itself; unix sockets in the
/// test's own directory cannot be taken by anyone else meanwhile.
fn ini_with_sockets(ini: &Path, sockets: &[&PathBuf], extra: &str) {
    let lines: String = sockets
        .iter()
        .map(|p| format!("http-socket = {}\n", p.display()))
        .collect();
    std::fs::write(
        ini,
        format!("[uwsgi]\nwsgi-file = %dapp.py\n{lines}{extra}"),
    )
    .unwrap();
}

fn refused(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_err()
}

#[test]
fn sighup_rebinds_sockets_that_changed() {
    let dir = TempDir::new("rebind");
    dir.write("app.py", &app_code("v1"));
    let (one, two, three) = (
        dir.path().join("one.sock"),
        dir.path().join("two.sock"),
        dir.path().join("three.sock"),
    );
    let ini = dir.path().join("app.ini");
    ini_with_sockets(&ini, &[&one], "");
    let ini_arg = ini.to_string_lossy().into_owned();
    let s = Launch::new(dir)
        .args(&["--ini", &ini_arg])
        .no_http()
        .start();
    assert_eq!(version_of(&one).as_deref(), Some("v1"));
    ini_with_sockets(&ini, &[&two], "");
    s.reloaded(|| s.signal(libc::SIGHUP));
    assert_eq!(version_of(&two).as_deref(), Some("v1"));
    wait_until("the old socket to close", PATIENCE, || refused(&one));
    // A socket that cannot be bound (another server listens there) keeps
    // the running config.
    let _taken = Listener::unix(&three);
    ini_with_sockets(&ini, &[&three], "");
    s.signal(libc::SIGHUP);
    s.wait_for_log("keeping the running config", PATIENCE);
    assert_eq!(
        version_of(&two).as_deref(),
        Some("v1"),
        "still serving on the current socket"
    );
}

/// That a watchdog ping goes out at half of WATCHDOG_USEC is the
/// contract. A busy machine can only delay a ping, so the shortest of
/// five intervals shows the period (a master that pinged at the full
/// interval fails), and their mean that it does not ping more often.
#[test]
fn the_watchdog_is_pinged_at_half_its_interval() {
    const WATCHDOG: Duration = Duration::from_secs(2);
    let s = v1_launch("watchdog")
        .env("WATCHDOG_USEC", &WATCHDOG.as_micros().to_string())
        .start();
    let mut pings = Vec::new();
    while pings.len() < 6 {
        let (at, m) = s.notify.next_timed(PATIENCE).expect("a watchdog ping");
        if m == "WATCHDOG=1" {
            pings.push(at);
        }
    }
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    let shortest = gaps.iter().min().copied().unwrap_or_default();
    let mean = (pings[5] - pings[0]) / 5;
    assert!(
        shortest < WATCHDOG * 3 / 4 && mean >= WATCHDOG / 4,
        "pings {gaps:?} apart for a {WATCHDOG:?} watchdog:\n{}",
        s.log_text()
    );
}

#[test]
fn a_failed_sighup_reload_rolls_back_the_config_and_its_sockets() {
    let dir = TempDir::new("rollback");
    dir.write("app.py", &app_code("v1"));
    let (one, two) = (dir.path().join("one.sock"), dir.path().join("two.sock"));
    let ini = dir.path().join("app.ini");
    ini_with_sockets(&ini, &[&one], "");
    let ini_arg = ini.to_string_lossy().into_owned();
    let s = Launch::new(dir)
        .args(&["--ini", &ini_arg])
        .no_http()
        .start();
    // A new config (one more socket, more workers) with code that does
    // not import.
    ini_with_sockets(&ini, &[&one, &two], "processes = 3\n");
    s.dir
        .write("app.py", "def application(environ, start_response:\n");
    s.reloaded(|| s.signal(libc::SIGHUP));
    assert!(refused(&two), "the failed config's socket is closed again");
    s.wait_for_log("the running config and sockets stay", PATIENCE);
    assert_eq!(version_of(&one).as_deref(), Some("v1"));
    assert_eq!(worker_pids(s.pid()).len(), 1, "processes = 3 not taken");

    // Fixed code: the same config applies now.
    s.dir.write("app.py", &app_code("v2"));
    s.reloaded(|| s.signal(libc::SIGHUP));
    wait_until("both sockets to serve v2", PATIENCE, || {
        version_of(&two).as_deref() == Some("v2") && version_of(&one).as_deref() == Some("v2")
    });
    wait_until("3 workers", PATIENCE, || worker_pids(s.pid()).len() == 3);
}

#[test]
fn a_reload_whose_new_code_hangs_is_given_up_after_load_timeout() {
    // Long enough for the folded reload's import on a loaded machine.
    let s = start(&["--load-timeout", "5"]);
    let (hang, hanging) = (s.dir.path().join("hang"), s.dir.path().join("hanging"));
    std::fs::write(&hang, "").unwrap();
    s.dir.write(
        "app.py",
        &format!(
            "import os, time\nif os.path.exists({:?}):\n    open({:?}, 'w').close()\n    time.sleep(3600)\n{}",
            hang.display().to_string(),
            hanging.display().to_string(),
            app_code("v2")
        ),
    );
    let file = s.dir.path().join("reload.txt");
    touch(&file);
    s.notified("RELOADING=1");
    wait_until("the new code to hang", PATIENCE, || hanging.exists());
    // A reload asked while the first one hangs is folded behind it, and
    // will import fine.
    std::fs::remove_file(&hang).unwrap();
    touch(&file);
    s.wait_for_log("another one will follow it", PATIENCE);
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    // The hanging reload is given up (READY=1: the old code serves on),
    // then the folded one runs.
    s.notified("READY=1");
    assert!(
        s.log_text()
            .contains("the new code did not load within load-timeout"),
        "{}",
        s.log_text()
    );
    s.notified("RELOADING=1");
    s.notified("READY=1");
    wait_until("the folded reload to serve v2", PATIENCE, || {
        version_of(s.port).as_deref() == Some("v2")
    });
}

#[test]
fn ready_after_a_reload_waits_for_every_new_worker() {
    let dir = TempDir::new("ready-all");
    dir.write("app.py", &app_code("v1"));
    let ini = dir.write("app.ini", "[uwsgi]\nwsgi-file = %dapp.py\n");
    let ini_arg = ini.to_string_lossy().into_owned();
    let s = Launch::new(dir).args(&["--ini", &ini_arg]).spawn();
    let ready = s.notified("READY=1");
    assert!(ready.starts_with("READY=1\nSTATUS=1 workers"), "{ready}");
    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 4\n").unwrap();
    s.signal(libc::SIGHUP);
    s.notified("RELOADING=1");
    let ready = s.notified("READY=1");
    assert!(
        ready.starts_with("READY=1\nSTATUS=4 workers"),
        "READY=1 once all 4 accept: {ready}\n{}",
        s.log_text()
    );
}

#[test]
fn reload_mercy_ends_a_graceful_stop_once() {
    let dir = TempDir::new("mercy");
    let marker = dir.path().join("sleeping");
    dir.write(
        "app.py",
        &format!(
            "import time\n\ndef application(environ, start_response):\n    open({:?}, 'w').close()\n    time.sleep(30)\n    start_response('200 OK', [])\n    return [b'late']\n",
            marker.display().to_string()
        ),
    );
    let mut s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py", "--reload-mercy", "1"]);
    let port = s.port;
    let slow = std::thread::spawn(move || {
        try_request(
            &Endpoint::Tcp(port),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .is_ok()
    });
    wait_until("the request to be running", PATIENCE, || marker.exists());
    s.signal(libc::SIGTERM);
    s.notified("STOPPING=1");
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    assert_eq!(
        s.notify.until_now(),
        Vec::<String>::new(),
        "STOPPING=1 is sent once"
    );
    let log = s.log_text();
    assert_eq!(log.matches("after reload-mercy").count(), 1, "{log}");
    assert!(!log.contains("immediate shutdown"), "{log}");
    assert!(log.contains("rsgi stopped (exit status 0)"), "{log}");
    assert!(!slow.join().unwrap(), "the request was cut by the kill");
}
