//! Rolling reloads under load, config re-reads, and systemd's view.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::common::*;

fn app_code(version: &str) -> String {
    format!(
        "import os\nVERSION = {version:?}\n\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('%s %d' % (VERSION, os.getpid())).encode()]\n"
    )
}

fn version_of(port: u16) -> Option<String> {
    ok_body(port).and_then(|t| t.split_whitespace().next().map(String::from))
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

fn touch(path: &std::path::Path) {
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
    std::thread::sleep(Duration::from_millis(300));
    s.dir.write("app.py", &app_code("v2"));
    trigger();
    wait_until("the new code to serve", Duration::from_secs(15), || {
        version_of(s.port).as_deref() == Some("v2")
    });
    wait_until("the reload to finish", Duration::from_secs(15), || {
        s.log_text().contains("reload done")
    });
    std::thread::sleep(Duration::from_millis(300));
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
    assert!(result.ok > 50, "the load ran: {}", result.ok);
    // Old workers finish their last connections and exit on their own.
    wait_until(
        "exactly 2 workers, all new",
        Duration::from_secs(10),
        || {
            let after = worker_pids(s.pid());
            after.len() == 2 && after.iter().all(|p| !before.contains(p))
        },
    );
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
    s.signal(libc::SIGHUP);
    wait_until("the failure to be logged", Duration::from_secs(10), || {
        s.log_text().contains("reload failed")
    });
    let result = load.finish();
    assert_eq!(result.failed, 0);
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    assert!(s.log_text().contains("SyntaxError"), "{}", s.log_text());
}

#[test]
fn sighup_rereads_the_ini() {
    let dir = TempDir::new("hup");
    dir.write("app.py", &app_code("v1"));
    let ini = dir.write("app.ini", "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 2\n");
    let s = Server::start_in(dir, &["--ini", &ini.to_string_lossy()]);
    assert_eq!(worker_pids(s.pid()).len(), 2);
    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 3\n").unwrap();
    s.signal(libc::SIGHUP);
    wait_until("3 workers", Duration::from_secs(15), || {
        worker_pids(s.pid()).len() == 3 && s.log_text().contains("reload done")
    });

    std::fs::write(&ini, "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = three\n").unwrap();
    s.signal(libc::SIGHUP);
    let want = format!(
        "{}:3: processes: expected a number, got \"three\"",
        ini.display()
    );
    wait_until(
        "the config error in the log",
        Duration::from_secs(5),
        || s.log_text().contains(&want),
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
    // Settled: no reload running, nothing pending, still two workers.
    wait_until("the reloads to settle", Duration::from_secs(30), || {
        let log = s.log_text();
        log.matches("reload done").count() >= 1
            && log.rfind("reload done") > log.rfind("reloading:")
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = s.log_text();
    let reloads = log.matches("reloading:").count();
    // Each touch lands during a reload or the 250 ms between checks of
    // the file, so they fold into far fewer reloads, run one at a time.
    assert!(
        (1..=6).contains(&reloads),
        "{reloads} reloads for 10 touches:\n{log}"
    );
    assert_eq!(worker_pids(s.pid()).len(), 2, "no worker leaked");
    let zygotes = descendants(s.pid())
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "rsgi zygote")
        })
        .count();
    assert_eq!(zygotes, 1, "one zygote left");
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
}

/// rsgi with NOTIFY_SOCKET pointing at a datagram socket the test reads.
fn with_notify_socket(
    tag: &str,
    env: &[(&str, &str)],
) -> (TempDir, UnixDatagram, std::process::Child, u16) {
    let dir = TempDir::new(tag);
    dir.write("app.py", &app_code("v1"));
    let app = dir.path().join("app.py").to_string_lossy().into_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (sock, child) = notified(&dir, &["--wsgi-file", &app, "--http-socket", &listen], env);
    (dir, sock, child, port)
}

/// Start rsgi with `args`, NOTIFY_SOCKET pointing at the returned socket
/// and its log in `dir`/rsgi.log.
fn notified(
    dir: &TempDir,
    args: &[&str],
    env: &[(&str, &str)],
) -> (UnixDatagram, std::process::Child) {
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let log = std::fs::File::create(dir.path().join("rsgi.log")).unwrap();
    let child = rsgi()
        .args(args)
        .env("NOTIFY_SOCKET", &sock_path)
        .envs(env.iter().copied())
        .stderr(log)
        .spawn()
        .unwrap();
    (sock, child)
}

/// The next notification, or None if none comes within `wait`.
fn notification(sock: &UnixDatagram, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn systemd_hears_ready_reloading_ready_stopping_in_order() {
    let (_dir, sock, mut child, port) = with_notify_socket("notify", &[]);
    let pid = child.id() as i32;
    let next = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\nSTATUS=1 workers"), "{ready}");
    assert_eq!(
        version_of(port).as_deref(),
        Some("v1"),
        "READY=1 means serving"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(next().starts_with("READY=1"));
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(next(), "STOPPING=1");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn socket_activation_serves_on_the_passed_fd() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("activation");
    dir.write("app.py", &app_code("v1"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = listener.as_raw_fd();
    let log = dir.path().join("log");
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http exec {} --wsgi-file {} --http-socket 127.0.0.1:{port} 2>{}",
            env!("CARGO_BIN_EXE_rsgi"),
            dir.path().join("app.py").display(),
            log.display()
        ),
    ]);
    // SAFETY: dup2/fcntl between fork and exec, on fds we own.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let server = Server {
        child,
        port,
        log,
        dir,
    };
    server.wait_for_log("rsgi is ready", Duration::from_secs(20));
    assert!(
        server
            .log_text()
            .contains("using the socket systemd passed"),
        "{}",
        server.log_text()
    );
    assert_eq!(version_of(port).as_deref(), Some("v1"));
    drop(listener);
}

#[test]
fn master_fifo_commands_reload_scale_and_stop() {
    let mut s = start(&["--master-fifo", "{dir}/fifo"]);
    let fifo = s.dir.path().join("fifo");
    let send = |c: &str| std::fs::write(&fifo, c).unwrap();
    send("+");
    wait_until("3 workers", Duration::from_secs(5), || {
        worker_pids(s.pid()).len() == 3
    });
    send("-");
    wait_until("2 workers", Duration::from_secs(5), || {
        worker_pids(s.pid()).len() == 2
    });
    let before = worker_pids(s.pid());
    send("r");
    wait_until("a reload", Duration::from_secs(15), || {
        s.log_text().contains("reload done")
    });
    wait_until("new workers", Duration::from_secs(5), || {
        worker_pids(s.pid()).iter().all(|p| !before.contains(p))
    });
    send("q");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn py_autoreload_picks_up_an_edited_module() {
    let s = start(&["--py-autoreload", "1"]);
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    s.wait_for_log("watching the loaded modules", Duration::from_secs(5));
    s.dir.write("app.py", &app_code("v2"));
    wait_until("the edited code to serve", Duration::from_secs(15), || {
        version_of(s.port).as_deref() == Some("v2")
    });
    assert!(s.log_text().contains("py-autoreload"), "{}", s.log_text());
}

#[test]
fn sighup_rebinds_sockets_that_changed() {
    let dir = TempDir::new("rebind");
    dir.write("app.py", &app_code("v1"));
    let (p1, p2) = (free_port(), free_port());
    let ini = dir.write(
        "app.ini",
        &format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{p1}\n"),
    );
    let mut s = Server::spawn(dir, &["--ini", &ini.to_string_lossy()], false);
    s.port = p1;
    s.wait_for_log("rsgi is ready", Duration::from_secs(20));
    assert_eq!(version_of(p1).as_deref(), Some("v1"));
    std::fs::write(
        &ini,
        format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{p2}\n"),
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    wait_until("the new port to serve", Duration::from_secs(15), || {
        version_of(p2).as_deref() == Some("v1")
    });
    wait_until("the old port to close", Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", p1)).is_err()
    });
    // A port that cannot be bound keeps the running config.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p3 = taken.local_addr().unwrap().port();
    std::fs::write(
        &ini,
        format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{p3}\n"),
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    wait_until("the bind error in the log", Duration::from_secs(10), || {
        s.log_text().contains("keeping the running config")
    });
    assert_eq!(
        version_of(p2).as_deref(),
        Some("v1"),
        "still serving on the current port"
    );
}

#[test]
fn the_watchdog_is_pinged_at_half_its_interval() {
    let (_dir, sock, mut child, _port) =
        with_notify_socket("watchdog", &[("WATCHDOG_USEC", "400000")]);
    let start = Instant::now();
    let mut pings = 0;
    let mut buf = [0u8; 512];
    while pings < 3 && start.elapsed() < Duration::from_secs(5) {
        let n = sock.recv(&mut buf).expect("a notification");
        if &buf[..n] == b"WATCHDOG=1" {
            pings += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(pings, 3, "three pings within 5 s");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "pings every ~200 ms: {:?}",
        start.elapsed()
    );
}

/// `wait_until`, showing the server's log if it times out.
fn wait_logged(s: &Server, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "timed out after {timeout:?} waiting for {what}:\n{}",
        s.log_text()
    );
}

#[test]
fn a_failed_sighup_reload_rolls_back_the_config_and_its_sockets() {
    let dir = TempDir::new("rollback");
    dir.write("app.py", &app_code("v1"));
    let (p1, p2) = (free_port(), free_port());
    let ini = dir.write(
        "app.ini",
        &format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{p1}\n"),
    );
    let mut s = Server::spawn(dir, &["--ini", &ini.to_string_lossy()], false);
    s.port = p1;
    s.wait_for_log("rsgi is ready", Duration::from_secs(20));
    // A new config (one more socket, more workers) with code that does
    // not import.
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{p1}\nhttp-socket = 127.0.0.1:{p2}\nprocesses = 3\n"
        ),
    )
    .unwrap();
    s.dir
        .write("app.py", "def application(environ, start_response:\n");
    s.signal(libc::SIGHUP);
    wait_logged(
        &s,
        "the failure to be logged",
        Duration::from_secs(30),
        || s.log_text().contains("reload failed"),
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p2)).is_err(),
        "the failed config's socket is closed again"
    );
    assert!(
        s.log_text().contains("the running config and sockets stay"),
        "{}",
        s.log_text()
    );
    assert_eq!(version_of(p1).as_deref(), Some("v1"));
    assert_eq!(worker_pids(s.pid()).len(), 1, "processes = 3 not taken");

    // Fixed code: the same config applies now.
    s.dir.write("app.py", &app_code("v2"));
    s.signal(libc::SIGHUP);
    wait_logged(
        &s,
        "both sockets to serve v2",
        Duration::from_secs(30),
        || version_of(p2).as_deref() == Some("v2") && version_of(p1).as_deref() == Some("v2"),
    );
    wait_logged(&s, "3 workers", Duration::from_secs(30), || {
        worker_pids(s.pid()).len() == 3
    });
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
    wait_logged(&s, "the new code to hang", Duration::from_secs(30), || {
        hanging.exists()
    });
    // A reload asked while the first one hangs is folded behind it, and
    // will import fine.
    std::fs::remove_file(&hang).unwrap();
    touch(&file);
    s.wait_for_log("another one will follow it", Duration::from_secs(30));
    assert_eq!(version_of(s.port).as_deref(), Some("v1"));
    s.wait_for_log(
        "the new code did not load within load-timeout",
        Duration::from_secs(30),
    );
    wait_logged(
        &s,
        "the folded reload to serve v2",
        Duration::from_secs(30),
        || version_of(s.port).as_deref() == Some("v2"),
    );
    s.wait_for_log("reload done", Duration::from_secs(30));
}

/// The notifier's server: rsgi under NOTIFY_SOCKET, killed when dropped.
fn notified_server(dir: TempDir, args: &[&str], port: u16) -> (Server, UnixDatagram) {
    let (sock, child) = notified(&dir, args, &[]);
    let log = dir.path().join("rsgi.log");
    (
        Server {
            child,
            port,
            log,
            dir,
        },
        sock,
    )
}

#[test]
fn ready_after_a_reload_waits_for_every_new_worker() {
    let dir = TempDir::new("ready-all");
    dir.write("app.py", &app_code("v1"));
    let port = free_port();
    let ini = dir.write(
        "app.ini",
        &format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{port}\n"),
    );
    let ini_arg = ini.to_string_lossy().into_owned();
    let (s, sock) = notified_server(dir, &["--ini", &ini_arg], port);
    let ready = notification(&sock, Duration::from_secs(20)).expect("READY=1");
    assert!(ready.starts_with("READY=1\nSTATUS=1 workers"), "{ready}");
    std::fs::write(
        &ini,
        format!("[uwsgi]\nwsgi-file = %dapp.py\nhttp-socket = 127.0.0.1:{port}\nprocesses = 4\n"),
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    let reloading = notification(&sock, Duration::from_secs(20)).expect("RELOADING=1");
    assert!(reloading.starts_with("RELOADING=1"), "{reloading}");
    let ready = notification(&sock, Duration::from_secs(20)).expect("READY=1");
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
    let port = free_port();
    let app = dir.path().join("app.py").to_string_lossy().into_owned();
    let listen = format!("127.0.0.1:{port}");
    let (mut s, sock) = notified_server(
        dir,
        &[
            "--wsgi-file",
            &app,
            "--http-socket",
            &listen,
            "--reload-mercy",
            "1",
        ],
        port,
    );
    let ready = notification(&sock, Duration::from_secs(20)).expect("READY=1");
    assert!(ready.starts_with("READY=1"), "{ready}");
    let slow = std::thread::spawn(move || {
        std::panic::catch_unwind(|| {
            request(
                port,
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .is_ok()
    });
    wait_until("the request to be running", Duration::from_secs(10), || {
        marker.exists()
    });
    s.signal(libc::SIGTERM);
    assert_eq!(
        notification(&sock, Duration::from_secs(5)).as_deref(),
        Some("STOPPING=1")
    );
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(
        notification(&sock, Duration::from_millis(200)),
        None,
        "STOPPING=1 is sent once"
    );
    let log = s.log_text();
    assert_eq!(log.matches("after reload-mercy").count(), 1, "{log}");
    assert!(!log.contains("immediate shutdown"), "{log}");
    assert!(log.contains("rsgi stopped (exit status 0)"), "{log}");
    assert!(!slow.join().unwrap(), "the request was cut by the kill");
}
