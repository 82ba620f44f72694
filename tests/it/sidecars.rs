//! What runs beside the app: attached daemons (restarted after kill -9,
//! after a reload, gone after shutdown), start-up hooks in every phase
//! and their order, a failing hook aborting start-up, and cron. Daemons
//! and cron commands record their pids in files the test reads.

use std::path::Path;

use crate::common::*;

const APP: &str = r#"
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rec"), "a") as f:
    f.write("app imported\n")

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"#;

/// The `call:` targets of the hooks test; each appends a line to `rec`.
const HOOKS: &str = r#"
import os
HERE = os.path.dirname(os.path.abspath(__file__))

def _rec(line):
    with open(os.path.join(HERE, "rec"), "a") as f:
        f.write(line + "\n")

def pre_app():
    _rec("pre-app cwd=" + os.path.basename(os.getcwd()))

def post_app():
    _rec("post-app")

def post_fork():
    _rec("post-fork %d" % os.getpid())

def boom():
    raise RuntimeError("the hook says no")
"#;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Wait until `file` has `n` lines; they are returned.
fn wait_lines(file: &Path, n: usize) -> Vec<String> {
    wait_until(
        &format!("{n} lines in {}", file.display()),
        PATIENCE,
        || lines(file).len() >= n,
    );
    lines(file)
}

fn pid_at(file: &Path, line: usize) -> i32 {
    let all = wait_lines(file, line + 1);
    all[line].trim().parse().expect("a pid")
}

#[test]
fn an_attached_daemon_comes_back_after_kill_9_and_a_reload_and_is_gone_after_shutdown() {
    let dir = TempDir::new("daemon");
    dir.write("app.py", APP);
    let mut server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--attach-daemon",
            "echo $$ >> {dir}/daemon.pids; echo daemon-says-hi; exec sleep 1000",
        ],
    );
    let pids = server.dir.path().join("daemon.pids");
    let first = pid_at(&pids, 0);
    // Its output is in rsgi's log.
    server.wait_for_log("daemon-says-hi", PATIENCE);
    assert!(!is_gone(first));
    assert!(
        descendants(server.pid()).contains(&first),
        "a child of rsgi"
    );
    // SAFETY: kill(2) on the daemon's pid, which rsgi has not reaped.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let second = pid_at(&pids, 1);
    assert_ne!(first, second);
    wait_until("the killed daemon reaped", PATIENCE, || is_gone(first));
    server.wait_for_log("was killed by SIGKILL; starting it again", PATIENCE);
    // A reload restarts it.
    server.reloaded(|| server.signal(libc::SIGHUP));
    let third = pid_at(&pids, 2);
    wait_until("the daemon stopped by the reload", PATIENCE, || {
        is_gone(second)
    });
    assert!(!is_gone(third));
    // Shutdown stops it (SIGTERM to its group) before rsgi exits.
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(PATIENCE), Some(0), "{}", server.log_text());
    assert!(is_gone(third), "the daemon outlived rsgi");
    assert_eq!(lines(&pids).len(), 3, "{}", server.log_text());
}

#[test]
fn a_daemon_that_ignores_its_stop_signal_is_killed_after_reload_mercy() {
    let dir = TempDir::new("daemon-stubborn");
    dir.write("app.py", APP);
    let mut server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--reload-mercy",
            "1",
            "--attach-daemon2",
            "cmd=trap '' TERM; echo $$ >> {dir}/daemon.pids; while :; do sleep 0.1; done,stopsignal=TERM",
        ],
    );
    let pids = server.dir.path().join("daemon.pids");
    let pid = pid_at(&pids, 0);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(PATIENCE), Some(0), "{}", server.log_text());
    assert!(is_gone(pid));
    assert!(
        server
            .log_text()
            .contains("still running after reload-mercy; killing it")
    );
}

#[test]
fn a_smart_daemon_is_watched_through_its_pidfile_and_left_running_at_shutdown() {
    let dir = TempDir::new("smart-daemon");
    dir.write("app.py", APP);
    let mut server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--smart-attach-daemon2",
            // `exec`: dash's `sh -c` stays the parent of its command, and
            // the pidfile names the shell rsgi started.
            "{dir}/smart.pid exec sleep 1000",
        ],
    );
    let pidfile = server.dir.path().join("smart.pid");
    let first = pid_at(&pidfile, 0);
    // Whatever happens below, the daemon dies with the test: it outlives
    // rsgi by design. Each leads its own session, so its group goes too.
    struct Reap(Vec<i32>);
    impl Drop for Reap {
        fn drop(&mut self) {
            for pid in &self.0 {
                // SAFETY: kill(2) on pids (and their groups) this test saw
                // in the pidfile.
                unsafe {
                    libc::kill(-*pid, libc::SIGKILL);
                    libc::kill(*pid, libc::SIGKILL);
                }
            }
        }
    }
    let mut reap = Reap(vec![first]);
    // SAFETY: as above.
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_until("a new pid in the pidfile", PATIENCE, || {
        lines(&pidfile)
            .first()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .is_some_and(|p| p != first)
    });
    let second = pid_at(&pidfile, 0);
    reap.0.push(second);
    assert!(!is_gone(second));
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(PATIENCE), Some(0), "{}", server.log_text());
    // As uWSGI: a smart daemon outlives the master.
    assert!(!is_gone(second), "{}", server.log_text());
}

#[test]
fn hooks_run_in_every_phase_in_order() {
    let dir = TempDir::new("hooks");
    dir.write("app.py", APP);
    dir.write("hooks.py", HOOKS);
    std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
    let server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--pythonpath",
            "{dir}",
            "--processes",
            "2",
            "--hook-asap",
            "appendn:{dir}/rec asap",
            "--exec-asap",
            "echo exec-asap >> {dir}/rec",
            "--hook-as-root",
            "appendn:{dir}/rec as-root",
            "--exec-as-root",
            "echo exec-as-root >> {dir}/rec",
            "--hook-as-user",
            "appendn:{dir}/rec as-user",
            "--exec-as-user",
            "echo exec-as-user >> {dir}/rec",
            "--hook-master-start",
            "write:{dir}/written hello",
            "--hook-master-start",
            "appendn:{dir}/rec master-start",
            "--hook-pre-app",
            "mkdir:{dir}/made",
            "--hook-pre-app",
            "create:{dir}/doomed",
            "--hook-pre-app",
            "chdir:{dir}/elsewhere",
            "--hook-pre-app",
            "call:hooks.pre_app",
            "--exec-pre-app",
            "echo exec-pre-app >> {dir}/rec",
            "--hook-post-app",
            "call:hooks.post_app",
            "--hook-post-app",
            "unlink:{dir}/doomed",
            "--exec-post-app",
            "echo exec-post-app >> {dir}/rec",
            "--hook-post-fork",
            "call:hooks.post_fork",
            "--hook-accepting",
            "exec:echo accepting $PPID >> {dir}/rec",
            "--hook-accepting1",
            "appendn:{dir}/rec accepting1",
        ],
    );
    let d = server.dir.path();
    let rec = lines(&d.join("rec"));
    let master_and_zygote = [
        "asap",
        "exec-asap",
        "as-root",
        "exec-as-root",
        "as-user",
        "exec-as-user",
        "master-start",
        "pre-app cwd=elsewhere",
        "exec-pre-app",
        "app imported",
        "post-app",
        "exec-post-app",
    ];
    assert!(rec.len() > master_and_zygote.len(), "{rec:?}");
    assert_eq!(rec[..master_and_zygote.len()], master_and_zygote, "{rec:?}");
    // Then each worker: post-fork before accepting; accepting1 once.
    let workers = &rec[master_and_zygote.len()..];
    assert_eq!(workers.len(), 5, "{workers:?}");
    let mut worker_pids = Vec::new();
    for line in workers {
        if let Some(pid) = line.strip_prefix("post-fork ") {
            worker_pids.push(pid.to_string());
        }
    }
    assert_eq!(worker_pids.len(), 2, "{workers:?}");
    for pid in &worker_pids {
        let fork = workers
            .iter()
            .position(|l| *l == format!("post-fork {pid}"));
        let accept = workers
            .iter()
            .position(|l| *l == format!("accepting {pid}"));
        assert!(
            matches!((fork, accept), (Some(f), Some(a)) if f < a),
            "{workers:?}"
        );
    }
    assert_eq!(
        workers.iter().filter(|l| *l == "accepting1").count(),
        1,
        "{workers:?}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("written")).expect("written"),
        "hello"
    );
    assert!(d.join("made").is_dir());
    assert!(!d.join("doomed").exists());
}

#[test]
fn a_failing_hook_aborts_start_up_and_says_which() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--hook-as-root", "unlink:{dir}/missing"],
            "hook-as-root = unlink:",
        ),
        (
            &["--exec-pre-app", "exit 7"],
            "exec-pre-app = exec:exit 7 failed: the command exited with status 7",
        ),
        (
            &[
                "--pythonpath",
                "{dir}",
                "--hook-post-app",
                "call:hooks.boom",
            ],
            "RuntimeError: the hook says no",
        ),
        (
            &[
                "--pythonpath",
                "{dir}",
                "--hook-post-fork",
                "call:hooks.boom",
            ],
            "hook-post-fork = call:hooks.boom failed",
        ),
        (
            &["--hook-master-start", "call:hooks.boom"],
            "the master that runs this phase has no Python",
        ),
    ];
    for (args, said) in cases {
        let dir = TempDir::new("hook-fails");
        dir.write("app.py", APP);
        dir.write("hooks.py", HOOKS);
        let mut all = vec!["--wsgi-file", "{dir}/app.py"];
        all.extend_from_slice(args);
        let mut server = Server::spawn(dir, &all, true);
        assert_eq!(
            server.wait_exit(PATIENCE),
            Some(1),
            "{args:?}: {}",
            server.log_text()
        );
        let log = server.log_text();
        assert!(log.contains(said), "{args:?}: no {said:?} in\n{log}");
        assert!(!log.contains("rsgi is ready"), "{args:?}:\n{log}");
    }
}

#[test]
fn a_cron_entry_for_every_minute_runs_in_the_minute_rsgi_starts() {
    let dir = TempDir::new("cron");
    dir.write("app.py", APP);
    let server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--cron",
            "-1 -1 -1 -1 -1 echo $$ >> {dir}/cron.pids",
            "--cron2",
            "minute=-1,unique=1 echo unique >> {dir}/cron2.log",
            "--cron",
            "-1 -1 -1 -1 -1 echo cron-says-hi",
        ],
    );
    let d = server.dir.path();
    // uWSGI runs a matching entry in the minute it starts: no waiting
    // for the next minute here (that firing is the machine's unit test).
    wait_lines(&d.join("cron.pids"), 1);
    wait_lines(&d.join("cron2.log"), 1);
    server.wait_for_log("cron: \"echo unique", PATIENCE);
    server.wait_for_log("\ncron-says-hi", PATIENCE);
}

#[test]
fn unix_signal_makes_sigint_graceful_and_atexit_hooks_run_at_the_end() {
    // uWSGI configs (tiangolo's images, Galaxy, OpenStack) carry this line
    // to make a stop signal graceful.
    let dir = TempDir::new("unix-signal");
    dir.write("app.py", APP);
    let mut server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--hook-master-start",
            "unix_signal:2 gracefully_kill_them_all",
            "--hook-master-start",
            "unix_signal:15 gracefully_kill_them_all",
            "--hook-as-user-atexit",
            "appendn:{dir}/atexit bye",
            "--exec-as-user-atexit",
            "echo exec-bye >> {dir}/atexit",
        ],
    );
    let atexit = server.dir.path().join("atexit");
    assert!(!atexit.exists());
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(PATIENCE), Some(0), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("graceful shutdown"), "{log}");
    assert!(!log.contains("immediate shutdown"), "{log}");
    assert_eq!(lines(&atexit), ["bye", "exec-bye"]);
}

#[test]
fn accepting_once_hooks_run_at_a_workers_first_start_only() {
    let dir = TempDir::new("accepting-once");
    dir.write("app.py", APP);
    let server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--hook-accepting",
            "appendn:{dir}/every x",
            "--hook-accepting-once",
            "appendn:{dir}/once x",
            "--hook-accepting1-once",
            "appendn:{dir}/once1 x",
        ],
    );
    let d = server.dir.path().to_path_buf();
    assert_eq!(lines(&d.join("once")).len(), 1);
    assert_eq!(lines(&d.join("once1")).len(), 1);
    let worker = worker_pids(server.pid())[0];
    // SAFETY: kill(2) on rsgi's worker.
    unsafe { libc::kill(worker, libc::SIGKILL) };
    wait_until("the killed worker reaped", PATIENCE, || is_gone(worker));
    // Served only once the respawned worker has run its hooks.
    assert_eq!(server.get("/").status, 200);
    assert_eq!(lines(&d.join("every")).len(), 2);
    assert_eq!(lines(&d.join("once")).len(), 1, "not at a respawn");
    assert_eq!(lines(&d.join("once1")).len(), 1);
    // A reload starts over, as uWSGI's re-exec does.
    server.reloaded(|| server.signal(libc::SIGHUP));
    assert_eq!(lines(&d.join("once")).len(), 2);
    assert_eq!(lines(&d.join("once1")).len(), 2);
}

#[test]
fn touching_a_daemons_touch_file_restarts_it() {
    let dir = TempDir::new("daemon-touch");
    dir.write("app.py", APP);
    let server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--attach-daemon2",
            "cmd=echo $$ >> {dir}/daemon.pids; exec sleep 1000,touch={dir}/restart",
        ],
    );
    let d = server.dir.path();
    let pids = d.join("daemon.pids");
    let first = pid_at(&pids, 0);
    std::fs::write(d.join("restart"), "").expect("touch");
    let second = pid_at(&pids, 1);
    assert_ne!(first, second);
    wait_until("the touched daemon gone", PATIENCE, || is_gone(first));
    server.wait_for_log("restarting daemon", PATIENCE);
}

#[test]
fn a_smart_daemon_already_running_is_adopted_then_started_when_it_dies() {
    let dir = TempDir::new("smart-adopt");
    dir.write("app.py", APP);
    // A memcached already running when rsgi starts, as after an rsgi
    // restart (uWSGI adopts it too).
    let mut running =
        Guard::spawn(std::process::Command::new("sleep").arg("1000"), &[]).expect("start sleep");
    let pidfile = dir.path().join("smart.pid");
    std::fs::write(&pidfile, format!("{}\n", running.pid())).expect("pidfile");
    let server = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--smart-attach-daemon",
            // Daemonizes itself: the shell leaves, its child writes the pidfile.
            "{dir}/smart.pid sh -c 'sleep 1000 & echo $! > {dir}/smart.pid'",
        ],
    );
    server.wait_for_log("already runs (its pidfile names a live process)", PATIENCE);
    assert!(!server.log_text().contains("smart.pid'\" started"));
    running.signal(libc::SIGKILL);
    running.wait_exit(PATIENCE).expect("sleep killed");
    let old = running.pid();
    wait_until("a new pid in the pidfile", PATIENCE, || {
        lines(&pidfile)
            .first()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .is_some_and(|p| p != old)
    });
    let new = pid_at(&pidfile, 0);
    assert!(!is_gone(new));
    // The daemon may write its pidfile before the master logs its start.
    server.wait_for_log("smart.pid'\" started", PATIENCE);
    // Reparented to rsgi (a child subreaper): it dies with the test's
    // cleanup of rsgi's descendants.
    assert!(
        descendants(server.pid()).contains(&new),
        "{}",
        server.log_text()
    );
}
