//! Attached daemons, cron commands and worker hook failures, driven like
//! the rest of the machine: a fake clock, made-up pids.

use super::*;
use crate::master::machine::daemons as machine_daemons;
use rsgi_core::config::cron::{self, CivilTime};
use rsgi_core::config::daemons;

fn daemon(raw: &str) -> Daemon {
    daemons::attach(raw).expect("a daemon")
}

/// A master with one worker and these sidecars, before the worker accepts.
fn unready(sidecars: Sidecars) -> (Sim, Forked) {
    let mut sim = Sim::new(settings(1));
    sim.state = State::new(settings(1), None, sim.t0).with_sidecars(sidecars);
    sim.send(Event::Start);
    sim.zygote_ready(1);
    let w = sim.fork_one();
    (sim, w)
}

fn booted(sidecars: Sidecars) -> Sim {
    let (mut sim, w) = unready(sidecars);
    sim.ready(w);
    sim
}

fn with_daemons(daemons: Vec<Daemon>) -> Sidecars {
    Sidecars {
        daemons,
        ..Sidecars::default()
    }
}

fn starts(fx: &[Effect]) -> Vec<usize> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::StartDaemon { index } => Some(*index),
            _ => None,
        })
        .collect()
}

fn group_signals(fx: &[Effect]) -> Vec<(i32, i32)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SignalGroup { pid, signal } => Some((*pid, *signal)),
            _ => None,
        })
        .collect()
}

fn pidfile_reads(fx: &[Effect]) -> Vec<usize> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::ReadPidfile { index } => Some(*index),
            _ => None,
        })
        .collect()
}

fn exits(fx: &[Effect]) -> Vec<u8> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Exit(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn daemons_start_once_every_worker_accepts() {
    let (mut sim, w) = unready(with_daemons(vec![daemon("a"), daemon("b")]));
    assert!(starts(&sim.history).is_empty());
    let fx = sim.ready(w);
    assert_eq!(starts(&fx), [0, 1]);
    // Not again when a worker is replaced later.
    let fx = sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonStarted { pid: 500, .. }
    )));
    let pid = sim.pid_of(1);
    sim.exit(pid, Ended::Signal(9));
    let w = sim.fork_one();
    assert!(starts(&sim.ready(w)).is_empty());
}

#[test]
fn a_dead_daemon_is_started_again_with_backoff() {
    let mut sim = booted(with_daemons(vec![daemon("memcached")]));
    sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    // After a healthy run: at once.
    sim.later(10 * SECOND);
    let fx = sim.exit(500, Ended::Signal(9));
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonDied { pid: 500, .. }
    )));
    assert_eq!(starts(&fx), [0]);
    // Dying at once, again and again: the delay grows.
    sim.send(Event::DaemonStarted { index: 0, pid: 501 });
    assert_eq!(starts(&sim.exit(501, Ended::Code(1))), [0]);
    sim.send(Event::DaemonStarted { index: 0, pid: 502 });
    let fx = sim.exit(502, Ended::Code(1));
    assert!(starts(&fx).is_empty(), "backing off");
    let due = sim.state.next_deadline(sim.now).expect("a restart is due");
    assert_eq!(due - sim.now, Duration::from_millis(100));
    sim.later(Duration::from_millis(100));
    assert_eq!(starts(&sim.tick()), [0]);
}

#[test]
fn a_daemon_that_cannot_start_is_tried_again() {
    let mut sim = booted(with_daemons(vec![daemon("nope")]));
    let fx = sim.send(Event::DaemonNotStarted {
        index: 0,
        error: "no such file".into(),
    });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonNotStarted { .. }
    )));
    assert!(starts(&fx).is_empty());
    sim.later(SECOND);
    assert_eq!(starts(&sim.tick()), [0]);
}

#[test]
fn shutdown_stops_daemons_kills_them_after_mercy_and_waits_for_them() {
    let mut d = daemon("worker-queue");
    d.stop_signal = libc::SIGINT;
    let mut sim = booted(with_daemons(vec![d]));
    sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    let fx = sim.command(Command::Stop { graceful: true });
    assert_eq!(group_signals(&fx), [(500, libc::SIGINT)]);
    let worker = sim.live_pids()[0];
    sim.exit(worker, Ended::Code(0));
    let zygote = sim.zygote_pid(1);
    let fx = sim.exit(zygote, Ended::Code(0));
    assert!(exits(&fx).is_empty(), "the daemon still runs");
    sim.later(60 * SECOND);
    let fx = sim.tick();
    assert_eq!(group_signals(&fx), [(500, libc::SIGKILL)]);
    let fx = sim.exit(500, Ended::Signal(9));
    assert!(starts(&fx).is_empty(), "not restarted while stopping");
    assert_eq!(exits(&fx), [0]);
}

#[test]
fn an_immediate_shutdown_stops_daemons_too() {
    let mut sim = booted(with_daemons(vec![daemon("a")]));
    sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    let fx = sim.command(Command::Stop { graceful: false });
    assert_eq!(group_signals(&fx), [(500, libc::SIGTERM)]);
    let worker = sim.live_pids()[0];
    sim.exit(worker, Ended::Signal(9));
    let zygote = sim.zygote_pid(1);
    assert!(exits(&sim.exit(zygote, Ended::Signal(9))).is_empty());
    assert_eq!(exits(&sim.exit(500, Ended::Code(0))), [0]);
}

#[test]
fn a_reload_restarts_plain_daemons_but_not_control_ones() {
    let mut plain = daemon("plain");
    plain.reload_signal = Some(libc::SIGHUP);
    let control = daemons::attach_control("control").expect("a daemon");
    let mut sim = booted(with_daemons(vec![plain, control]));
    sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    sim.send(Event::DaemonStarted { index: 1, pid: 600 });
    let fx = sim.touch();
    assert_eq!(group_signals(&fx), [(500, libc::SIGHUP)]);
    let fx = sim.exit(500, Ended::Code(0));
    assert_eq!(starts(&fx), [0], "started again at once");
    assert!(!has_note(&fx, |n| matches!(n, Note::DaemonDied { .. })));
}

#[test]
fn touching_a_daemons_file_restarts_it() {
    let mut sim = booted(with_daemons(vec![daemon("a")]));
    sim.send(Event::DaemonStarted { index: 0, pid: 500 });
    let touched = Command::RestartDaemon {
        index: 0,
        reason: "/srv/restart was touched".into(),
    };
    let fx = sim.command(touched.clone());
    assert_eq!(group_signals(&fx), [(500, libc::SIGTERM)]);
    assert!(group_signals(&sim.command(touched)).is_empty(), "once");
    let fx = sim.exit(500, Ended::Signal(libc::SIGTERM));
    assert_eq!(starts(&fx), [0]);
    assert!(!has_note(&fx, |n| matches!(n, Note::DaemonDied { .. })));
}

#[test]
fn max_throttle_caps_the_backoff() {
    let mut d = daemon("crashy");
    d.max_throttle = Some(Duration::from_millis(150));
    let mut sim = booted(with_daemons(vec![d]));
    for pid in 500..505 {
        sim.send(Event::DaemonStarted { index: 0, pid });
        sim.exit(pid, Ended::Code(1));
        if let Some(due) = sim.state.next_deadline(sim.now) {
            assert!(due - sim.now <= Duration::from_millis(150));
            sim.now = due;
            sim.tick();
        }
    }
}

#[test]
fn a_control_daemon_that_dies_stops_rsgi() {
    let control = daemons::attach_control("control").expect("a daemon");
    let mut sim = booted(with_daemons(vec![control]));
    sim.send(Event::DaemonStarted { index: 0, pid: 600 });
    let fx = sim.exit(600, Ended::Code(0));
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::ControlDaemonDied { .. }
    )));
    assert!(has_note(&fx, |n| matches!(n, Note::GracefulShutdown)));
    assert!(starts(&fx).is_empty());
}

#[test]
fn a_smart_daemon_already_running_is_adopted_and_left_at_shutdown() {
    let smart = daemons::smart("/run/x.pid redis").expect("a daemon");
    let (mut sim, w) = unready(with_daemons(vec![smart]));
    let fx = sim.ready(w);
    assert_eq!(pidfile_reads(&fx), [0]);
    assert!(starts(&fx).is_empty());
    let fx = sim.send(Event::DaemonPidfile {
        index: 0,
        pid: Some(900),
    });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonAdopted { pid: 900, .. }
    )));
    assert!(starts(&fx).is_empty());
    // Read again every second.
    sim.later(machine_daemons::PIDFILE_POLL);
    assert_eq!(pidfile_reads(&sim.tick()), [0]);
    // Shutdown: not signalled, not waited for.
    let fx = sim.command(Command::Stop { graceful: true });
    assert!(group_signals(&fx).is_empty());
    let worker = sim.live_pids()[0];
    sim.exit(worker, Ended::Code(0));
    let zygote = sim.zygote_pid(1);
    assert_eq!(exits(&sim.exit(zygote, Ended::Code(0))), [0]);
}

#[test]
fn a_smart_daemon_is_started_when_its_pidfile_names_no_live_process() {
    let smart = daemons::smart("/run/x.pid,3 redis").expect("a daemon");
    let mut sim = booted(with_daemons(vec![smart]));
    let fx = sim.send(Event::DaemonPidfile {
        index: 0,
        pid: None,
    });
    assert_eq!(starts(&fx), [0]);
    sim.send(Event::DaemonStarted { index: 0, pid: 901 });
    // Its command daemonizes: the launcher exits 0, not a death.
    let fx = sim.exit(901, Ended::Code(0));
    assert!(notes(&fx).is_empty(), "{fx:?}");
    // It writes the pidfile: watched.
    sim.send(Event::DaemonPidfile {
        index: 0,
        pid: Some(950),
    });
    // It dies (reparented to the master, so reaped here): started again.
    sim.later(10 * SECOND);
    let fx = sim.exit(950, Ended::Signal(9));
    assert_eq!(starts(&fx), [0]);
    sim.send(Event::DaemonStarted { index: 0, pid: 902 });
    sim.exit(902, Ended::Code(0));
    // No pidfile within `freq` reads (3): started again.
    for _ in 0..2 {
        let fx = sim.send(Event::DaemonPidfile {
            index: 0,
            pid: None,
        });
        assert!(starts(&fx).is_empty());
    }
    let fx = sim.send(Event::DaemonPidfile {
        index: 0,
        pid: None,
    });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonPidfileMissing { .. }
    )));
    assert_eq!(starts(&fx), [0]);
}

#[test]
fn a_smart_daemon_that_never_daemonizes_is_reported_not_doubled() {
    let smart = daemons::smart("/run/x.pid,2 redis").expect("a daemon");
    let mut sim = booted(with_daemons(vec![smart]));
    sim.send(Event::DaemonPidfile {
        index: 0,
        pid: None,
    });
    sim.send(Event::DaemonStarted { index: 0, pid: 901 });
    sim.send(Event::DaemonPidfile {
        index: 0,
        pid: None,
    });
    let fx = sim.send(Event::DaemonPidfile {
        index: 0,
        pid: None,
    });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::DaemonDidNotDaemonize { .. }
    )));
    assert!(starts(&fx).is_empty());
}

fn minute(hour: i32, minute: i32) -> CivilTime {
    CivilTime {
        year: 2026,
        month: 11,
        day: 27,
        hour,
        minute,
        weekday: 5,
    }
}

fn runs(fx: &[Effect]) -> Vec<usize> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::RunCron { index } => Some(*index),
            _ => None,
        })
        .collect()
}

fn with_crons(crons: Vec<Cron>, harakiri: Option<Duration>) -> Sidecars {
    Sidecars {
        crons,
        cron_harakiri: harakiri,
        ..Sidecars::default()
    }
}

#[test]
fn cron_runs_matching_entries_once_a_minute() {
    let every5 = cron::cron("-5 -1 -1 -1 -1 every5").expect("a cron");
    let at_ten = cron::cron("0 10 -1 -1 -1 at-ten").expect("a cron");
    let mut sim = booted(with_crons(vec![every5, at_ten], None));
    assert_eq!(runs(&sim.send(Event::Minute(minute(10, 0)))), [0, 1]);
    // The same minute again (an early wake-up): nothing.
    assert!(runs(&sim.send(Event::Minute(minute(10, 0)))).is_empty());
    assert!(runs(&sim.send(Event::Minute(minute(10, 1)))).is_empty());
    assert_eq!(runs(&sim.send(Event::Minute(minute(10, 5)))), [0]);
    sim.send(Event::CronStarted { index: 0, pid: 700 });
    let fx = sim.exit(700, Ended::Code(0));
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::CronFinished { pid: 700, .. }
    )));
    assert!(!has_note(&fx, |n| matches!(n, Note::Reaped { .. })));
}

#[test]
fn a_unique_cron_skips_while_its_last_run_goes_on() {
    let unique = cron::unique_cron("-1 -1 -1 -1 -1 slow").expect("a cron");
    let plain = cron::cron("-1 -1 -1 -1 -1 fast").expect("a cron");
    let mut sim = booted(with_crons(vec![unique, plain], None));
    assert_eq!(runs(&sim.send(Event::Minute(minute(10, 0)))), [0, 1]);
    sim.send(Event::CronStarted { index: 0, pid: 700 });
    sim.send(Event::CronStarted { index: 1, pid: 701 });
    let fx = sim.send(Event::Minute(minute(10, 1)));
    assert_eq!(runs(&fx), [1], "only the plain one overlaps");
    assert!(has_note(&fx, |n| matches!(n, Note::CronSkipped { .. })));
    sim.exit(700, Ended::Code(0));
    assert_eq!(runs(&sim.send(Event::Minute(minute(10, 2)))), [0, 1]);
}

#[test]
fn cron_harakiri_kills_a_run_that_takes_too_long() {
    let own = cron::cron2("harakiri=5 own").expect("a cron");
    let global = cron::cron("-1 -1 -1 -1 -1 global").expect("a cron");
    let never = cron::cron2("harakiri=0 never").expect("a cron");
    let mut sim = booted(with_crons(vec![own, global, never], Some(30 * SECOND)));
    sim.send(Event::Minute(minute(10, 0)));
    sim.send(Event::CronStarted { index: 0, pid: 700 });
    sim.send(Event::CronStarted { index: 1, pid: 701 });
    sim.send(Event::CronStarted { index: 2, pid: 702 });
    let due = sim.state.next_deadline(sim.now).expect("a harakiri is due");
    assert_eq!(due - sim.now, 5 * SECOND);
    sim.later(5 * SECOND);
    assert_eq!(group_signals(&sim.tick()), [(700, libc::SIGKILL)]);
    sim.later(25 * SECOND);
    let fx = sim.tick();
    assert_eq!(group_signals(&fx), [(701, libc::SIGKILL)]);
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::CronHarakiri { pid: 701, .. }
    )));
    sim.later(600 * SECOND);
    assert!(group_signals(&sim.tick()).is_empty());
}

#[test]
fn no_cron_runs_once_stopping() {
    let every = cron::cron("-1 -1 -1 -1 -1 x").expect("a cron");
    let mut sim = booted(with_crons(vec![every], None));
    sim.command(Command::Stop { graceful: true });
    assert!(runs(&sim.send(Event::Minute(minute(10, 0)))).is_empty());
}

#[test]
fn a_worker_hook_failure_stops_rsgi_with_status_1() {
    // A worker respawned after rsgi was ready, failing before it accepts.
    let mut sim = Sim::booted(2);
    let old = sim.pid_of(1);
    sim.exit(old, Ended::Signal(9));
    let w = sim.fork_one();
    let fx = sim.exit(w.pid, Ended::Code(i32::from(EXIT_HOOK)));
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::WorkerHookFailed { id: 1, .. }
    )));
    assert!(has_note(&fx, |n| matches!(n, Note::ImmediateShutdown)));
    assert!(spawns(&fx).is_empty());
    for pid in sim.live_pids() {
        sim.exit(pid, Ended::Signal(9));
    }
    let zygote = sim.zygote_pid(1);
    assert_eq!(exits(&sim.exit(zygote, Ended::Signal(9))), [EXIT_CONFIG]);
}

#[test]
fn an_app_exiting_with_the_hook_status_after_it_accepted_is_only_respawned() {
    let mut sim = Sim::booted(1);
    let pid = sim.pid_of(1);
    let fx = sim.exit(pid, Ended::Code(i32::from(EXIT_HOOK)));
    assert!(has_note(&fx, |n| matches!(n, Note::WorkerDied { .. })));
    assert_eq!(spawns(&fx), [1]);
}
