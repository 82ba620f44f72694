//! `daemonize` and `daemonize2`: the launching process exits once rsgi
//! has detached; the daemon (its pid in the pidfile) has no controlling
//! terminal and stdin from /dev/null, serves, logs to FILE, keeps its pid
//! across reloads and stops on SIGTERM. Under an Emperor a vassal only
//! logs to FILE.

use std::path::Path;

use crate::common::*;

const APP: &str = r#"
print("app imported", flush=True)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"daemon says hi"]
"#;

/// The detached master: not our child, so no [`Guard`] holds it. Killed
/// with everything it started if the test ends before it stopped it.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if is_gone(self.0) {
            return;
        }
        let strays = descendants(self.0);
        // SAFETY: kill(2) on the daemon this test started (it is alive,
        // so its pid is still its own) and on its descendants.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
        for p in strays {
            // SAFETY: as above.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
}

fn pid_in(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Fields of /proc/PID/stat after the command: (session, tty_nr).
fn session_and_tty(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    // state ppid pgrp session tty_nr ...
    (
        fields[3].parse().expect("session"),
        fields[4].parse().expect("tty_nr"),
    )
}

/// The daemon's next notification other than a watchdog ping, which must
/// start with `prefix` (the launcher is gone: [`Server::notified`] would
/// take that for rsgi's end).
fn notified(launcher: &Server, prefix: &str) {
    loop {
        match launcher.notify.next(PATIENCE) {
            Some(m) if m == "WATCHDOG=1" || m.starts_with("STATUS=") => {}
            Some(m) => {
                assert!(m.starts_with(prefix), "waiting for {prefix:?}, got {m:?}");
                return;
            }
            None => panic!("no {prefix:?} from the daemon within {PATIENCE:?}"),
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn stop(daemon: &Daemon, log: &Path) {
    // SAFETY: kill(2) on the live daemon this test started.
    unsafe { libc::kill(daemon.0, libc::SIGTERM) };
    wait_until("the daemon to stop on SIGTERM", PATIENCE, || {
        is_gone(daemon.0)
    });
    assert!(
        read(log).contains("rsgi stopped (exit status 0)"),
        "{}",
        read(log)
    );
}

#[test]
fn daemonize_detaches_serves_logs_to_the_file_and_stops_on_sigterm() {
    let dir = TempDir::new("daemonize");
    dir.write("app.py", APP);
    let (log, pidfile) = (dir.path().join("daemon.log"), dir.path().join("rsgi.pid"));
    let mut launcher = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--daemonize",
            "{dir}/daemon.log",
            "--pidfile",
            "{dir}/rsgi.pid",
        ])
        // Not under systemd: the daemon's own log says when it is ready.
        .configure(|c| {
            c.env_remove("NOTIFY_SOCKET");
        })
        .spawn();
    assert_eq!(
        launcher.wait_exit(PATIENCE),
        Some(0),
        "{}",
        launcher.log_text()
    );
    wait_until("the daemon's pidfile", PATIENCE, || {
        pid_in(&pidfile).is_some()
    });
    let daemon = Daemon(pid_in(&pidfile).expect("pid"));
    assert_ne!(daemon.0, launcher.pid());
    assert!(!is_gone(daemon.0), "the pid in the pidfile is not alive");
    let (session, tty) = session_and_tty(daemon.0);
    assert_eq!(tty, 0, "the daemon has a controlling terminal");
    // Not a session leader either, so it can never acquire one.
    assert_ne!(session, daemon.0);
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/fd/0", daemon.0)).expect("fd 0"),
        Path::new("/dev/null")
    );

    wait_until("the daemon to be ready", PATIENCE, || {
        read(&log).contains("rsgi is ready")
    });
    let r = launcher.get("/hello");
    assert_eq!((r.status, r.text()), (200, "daemon says hi".to_string()));
    wait_until("the request line in FILE", PATIENCE, || {
        read(&log).contains("GET /hello")
    });
    let text = read(&log);
    assert!(text.contains("app imported"), "{text}");
    // Nothing after the detach went to the launcher's terminal.
    assert!(
        !launcher.log_text().contains("rsgi is ready"),
        "{}",
        launcher.log_text()
    );
    stop(&daemon, &log);
}

#[test]
fn daemonize2_detaches_once_the_app_has_loaded_and_keeps_its_pid_across_reloads() {
    let dir = TempDir::new("daemonize2");
    dir.write("app.py", APP);
    let (log, pidfile) = (dir.path().join("daemon.log"), dir.path().join("rsgi.pid"));
    // NOTIFY_SOCKET stays set, as under a Type=notify unit: rsgi warns.
    let mut launcher = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--daemonize2",
            "{dir}/daemon.log",
            "--pidfile",
            "{dir}/rsgi.pid",
        ])
        .spawn();
    assert_eq!(
        launcher.wait_exit(PATIENCE),
        Some(0),
        "{}",
        launcher.log_text()
    );
    let daemon =
        Daemon(pid_in(&pidfile).expect("the pidfile is written before the launcher exits"));
    assert_eq!(session_and_tty(daemon.0).1, 0);
    // Loaded before the launcher exits: it serves at once.
    let r = launcher.get("/");
    assert_eq!(r.status, 200);
    // Until the app loaded the log was the terminal: the warning, the
    // startup lines and what the app printed at import are there.
    let terminal = launcher.log_text();
    for line in ["daemonize under systemd", "app loaded", "app imported"] {
        assert!(
            terminal.contains(line),
            "no {line:?} on the terminal:\n{terminal}"
        );
    }
    wait_until("the request line in FILE", PATIENCE, || {
        read(&log).contains("GET / ")
    });
    assert!(!terminal.contains("GET / "), "{terminal}");

    // A reload keeps the detached master; the new workers log to FILE.
    notified(&launcher, "READY=1");
    // SAFETY: kill(2) on the live daemon this test started.
    unsafe { libc::kill(daemon.0, libc::SIGHUP) };
    notified(&launcher, "RELOADING=1");
    notified(&launcher, "READY=1");
    assert_eq!(pid_in(&pidfile), Some(daemon.0));
    assert!(!is_gone(daemon.0));
    assert_eq!(launcher.get("/again").status, 200);
    wait_until("the request after the reload in FILE", PATIENCE, || {
        read(&log).contains("GET /again")
    });
    stop(&daemon, &log);
}

#[test]
fn daemonize2_reports_a_load_error_on_the_terminal_and_exits_non_zero() {
    let dir = TempDir::new("daemonize2-fail");
    let log = dir.path().join("daemon.log");
    let mut launcher = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/missing.py",
            "--daemonize2",
            "{dir}/daemon.log",
        ])
        .configure(|c| {
            c.env_remove("NOTIFY_SOCKET");
        })
        .spawn();
    assert_eq!(
        launcher.wait_exit(PATIENCE),
        Some(1),
        "{}",
        launcher.log_text()
    );
    let terminal = launcher.log_text();
    assert!(terminal.contains("missing.py does not exist"), "{terminal}");
    assert!(terminal.contains("exited before it detached"), "{terminal}");
    assert!(!read(&log).contains("does not exist"), "{}", read(&log));
}

#[test]
fn a_log_file_that_cannot_be_opened_fails_the_launch() {
    let dir = TempDir::new("daemonize-nofile");
    dir.write("app.py", APP);
    let mut launcher = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--daemonize",
            "{dir}/no/such/dir/d.log",
        ])
        .spawn();
    assert_eq!(
        launcher.wait_exit(PATIENCE),
        Some(1),
        "{}",
        launcher.log_text()
    );
    assert!(
        launcher
            .log_text()
            .contains("cannot daemonize: cannot open the log file"),
        "{}",
        launcher.log_text()
    );
}

#[test]
fn a_vassal_does_not_detach_it_logs_to_the_file() {
    let dir = TempDir::new("daemonize-vassal");
    let vassals = dir.path().join("vassals");
    std::fs::create_dir_all(&vassals).expect("mkdir");
    dir.write("app.py", APP);
    let d = dir.path().display().to_string();
    let stats = Listener::tcp();
    let vd = vassals.to_string_lossy().into_owned();
    let s = Launch::new(dir)
        .args(&["--emperor", &vd])
        .socket("--emperor-stats", &stats)
        .no_http()
        .spawn();
    let socket = s.dir.path().join("app.sock");
    let log = s.dir.path().join("vassal.log");
    std::fs::write(
        vassals.join("app.ini"),
        format!(
            "[uwsgi]\nhttp-socket = {}\nwsgi-file = {d}/app.py\ndaemonize = {}\n",
            socket.display(),
            log.display()
        ),
    )
    .expect("vassal config");
    wait_until("the vassal to serve", PATIENCE, || {
        ok_body(&socket).is_some()
    });
    wait_until("the vassal's log in its file", PATIENCE, || {
        read(&log).contains("rsgi is ready")
    });
    // Still the Emperor's child, started once: not detached and respawned.
    let vassal = stats_from(stats.port())["vassals"][0].clone();
    let pid = vassal["pid"].as_i64().expect("pid") as i32;
    assert!(descendants(s.pid()).contains(&pid), "{vassal}");
    assert_eq!(vassal["respawns"], 0, "{vassal}");
}
