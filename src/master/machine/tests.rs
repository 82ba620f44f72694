//! The state machine's rules, each driven by events with a fake clock:
//! no process is started and nothing sleeps. [`Sim`] plays the zygotes
//! and the workers (as watchexec's `TestChild` plays a child process):
//! it answers spawns with made-up pids and reports what the machine did.

use super::cheaper::Active;
use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn settings(processes: usize) -> Settings {
    Settings {
        processes,
        harakiri: None,
        reload_mercy: Duration::from_secs(60),
        worker_reload_mercy: Duration::from_secs(60),
        load_timeout: Some(Duration::from_secs(60)),
        lazy_apps: false,
        log_reopen: false,
        cheaper: None,
        max_worker_lifetime: None,
        max_worker_lifetime_delta: Duration::ZERO,
        evil_reload_on_rss: 0,
        evil_reload_on_as: 0,
        harakiri_verbose: false,
        exit_on_reload: false,
    }
}

/// A worker the simulation forked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Forked {
    generation: u64,
    slot: usize,
    id: usize,
    pid: i32,
}

struct Sim {
    state: State,
    t0: Instant,
    now: Instant,
    next_pid: i32,
    /// Zygote pid by generation.
    zygotes: Vec<(u64, i32)>,
    /// Spawns asked for and not answered yet.
    asked: Vec<(u64, usize, usize)>,
    /// Every effect so far, in order.
    history: Vec<Effect>,
}

impl Sim {
    fn new(settings: Settings) -> Sim {
        let t0 = Instant::now();
        Sim {
            state: State::new(settings, None, t0),
            t0,
            now: t0,
            next_pid: 100,
            zygotes: Vec::new(),
            asked: Vec::new(),
            history: Vec::new(),
        }
    }

    /// A running master with `processes` workers, all accepting.
    fn booted(processes: usize) -> Sim {
        Sim::booted_with(settings(processes))
    }

    fn booted_with(settings: Settings) -> Sim {
        let processes = settings.processes;
        let mut sim = Sim::new(settings);
        sim.send(Event::Start);
        sim.zygote_ready(1);
        let forked = sim.fork_all();
        assert_eq!(forked.len(), processes);
        for w in forked {
            sim.ready(w);
        }
        assert!(sim.state.announced);
        sim
    }

    fn at(&mut self, since_start: Duration) -> &mut Sim {
        self.now = self.t0 + since_start;
        self
    }

    fn later(&mut self, by: Duration) -> &mut Sim {
        self.now += by;
        self
    }

    /// Feed `event`; answer what a real shell answers at once (zygote
    /// starts succeed with a fresh pid); return every effect.
    fn send(&mut self, event: Event) -> Vec<Effect> {
        let mut all = Vec::new();
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            for effect in self.state.handle(self.now, event) {
                match &effect {
                    Effect::StartZygote { generation, .. } => {
                        let pid = self.pid();
                        self.zygotes.push((*generation, pid));
                        queue.push_back(Event::ZygoteStarted {
                            generation: *generation,
                            pid,
                        });
                    }
                    Effect::SpawnWorker {
                        generation,
                        slot,
                        id,
                    } => self.asked.push((*generation, *slot, *id)),
                    _ => {}
                }
                all.push(effect);
            }
        }
        self.history.extend(all.iter().cloned());
        all
    }

    fn tick(&mut self) -> Vec<Effect> {
        self.send(Event::Tick {
            wall_us: 0,
            busy: Vec::new(),
            load: Load::default(),
        })
    }

    /// One second on, a cycle that reads the workers with ids in `busy`
    /// in a request and `backlog` connections waiting.
    fn cycle(&mut self, busy: &[usize], backlog: u64) -> Vec<Effect> {
        self.later(SECOND);
        let workers = self
            .state
            .workers()
            .iter()
            .filter(|w| w.pid.is_some())
            .map(|w| SlotLoad {
                slot: w.slot,
                busy: busy.contains(&w.id),
                ..SlotLoad::default()
            })
            .collect();
        self.send(Event::Tick {
            wall_us: 0,
            busy: Vec::new(),
            load: Load { workers, backlog },
        })
    }

    /// Fork and make ready every worker asked for.
    fn start_asked(&mut self) -> Vec<Forked> {
        let forked = self.fork_all();
        for w in &forked {
            self.ready(*w);
        }
        forked
    }

    fn pid(&mut self) -> i32 {
        self.next_pid += 1;
        self.next_pid
    }

    fn zygote_pid(&self, generation: u64) -> i32 {
        self.zygotes
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, p)| *p)
            .expect("that zygote was started")
    }

    fn zygote_ready(&mut self, generation: u64) -> Vec<Effect> {
        self.send(Event::Zygote {
            generation,
            reply: Reply::Ready,
        })
    }

    /// Answer every spawn asked so far as the zygote does.
    fn fork_all(&mut self) -> Vec<Forked> {
        let asked = std::mem::take(&mut self.asked);
        asked
            .into_iter()
            .map(|(generation, slot, id)| {
                let pid = self.pid();
                self.send(Event::Zygote {
                    generation,
                    reply: Reply::Spawned { slot, pid },
                });
                Forked {
                    generation,
                    slot,
                    id,
                    pid,
                }
            })
            .collect()
    }

    /// The one spawn asked so far, forked.
    fn fork_one(&mut self) -> Forked {
        let forked = self.fork_all();
        assert_eq!(forked.len(), 1, "one spawn: {forked:?}");
        forked[0]
    }

    fn ready(&mut self, w: Forked) -> Vec<Effect> {
        self.send(Event::Worker(WorkerEvent::Ready {
            slot: w.slot,
            pid: w.pid,
        }))
    }

    fn exit(&mut self, pid: i32, how: Ended) -> Vec<Effect> {
        self.send(Event::Exited { pid, how })
    }

    fn command(&mut self, c: Command) -> Vec<Effect> {
        self.send(Event::Command(c))
    }

    fn touch(&mut self) -> Vec<Effect> {
        self.command(Command::Reload {
            reread: false,
            reason: "touched".into(),
        })
    }

    fn live_pids(&self) -> Vec<i32> {
        self.state.workers().iter().filter_map(|w| w.pid).collect()
    }

    fn pid_of(&self, id: usize) -> i32 {
        self.state
            .workers()
            .iter()
            .find(|w| w.id == id && !w.is_stopping())
            .and_then(|w| w.pid)
            .expect("a serving worker with that id")
    }
}

fn notes(fx: &[Effect]) -> Vec<&Note> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Log(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn signals(fx: &[Effect]) -> Vec<(i32, Sig)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Signal { pid, signal } => Some((*pid, *signal)),
            _ => None,
        })
        .collect()
}

fn spawns(fx: &[Effect]) -> Vec<usize> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SpawnWorker { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn count(fx: &[Effect], pred: impl Fn(&Effect) -> bool) -> usize {
    fx.iter().filter(|e| pred(e)).count()
}

fn has_note(fx: &[Effect], pred: impl Fn(&Note) -> bool) -> bool {
    notes(fx).into_iter().any(pred)
}

fn is_ready_note(n: &Note) -> bool {
    matches!(n, Note::Ready { .. })
}

fn is_reload_done(n: &Note) -> bool {
    matches!(n, Note::ReloadDone { .. })
}

const READY: Effect = Effect::Notify(Notify::Ready);

// ---- start-up ----

#[test]
fn ready_is_announced_once_when_the_last_worker_accepts() {
    let mut sim = Sim::new(settings(3));
    let fx = sim.send(Event::Start);
    assert!(fx.contains(&Effect::StartZygote {
        generation: 1,
        candidate: false
    }));
    assert_eq!(spawns(&sim.zygote_ready(1)), [1, 2, 3]);
    let workers = sim.fork_all();
    for w in &workers[..2] {
        let fx = sim.ready(*w);
        assert!(
            !fx.contains(&READY) && !has_note(&fx, is_ready_note),
            "{fx:?}"
        );
    }
    let fx = sim.ready(workers[2]);
    assert!(
        fx.contains(&READY) && has_note(&fx, is_ready_note),
        "{fx:?}"
    );
    // A respawned worker later does not announce again.
    sim.later(10 * SECOND);
    sim.exit(workers[0].pid, Ended::Signal(9));
    let again = sim.fork_one();
    assert!(sim.ready(again).is_empty());
    assert_eq!(count(&sim.history, |e| *e == READY), 1);
}

#[test]
fn traffic_is_accepted_from_ready_through_reloads_until_a_stop() {
    let mut sim = Sim::new(settings(2));
    sim.send(Event::Start);
    sim.zygote_ready(1);
    let workers = sim.fork_all();
    sim.ready(workers[0]);
    assert!(!sim.state.accepting_traffic(), "one of two workers accepts");
    sim.ready(workers[1]);
    assert!(sim.state.accepting_traffic());
    sim.touch();
    assert!(
        sim.state.accepting_traffic(),
        "old workers serve during a reload"
    );
    sim.command(Command::Stop { graceful: true });
    assert!(!sim.state.accepting_traffic());
}

#[test]
fn a_first_zygote_that_fails_stops_rsgi_with_its_status() {
    let mut sim = Sim::new(settings(2));
    sim.send(Event::Start);
    let fx = sim.exit(sim.zygote_pid(1), Ended::Code(22));
    assert!(has_note(&fx, |n| matches!(n, Note::CannotStart(_))));
    assert_eq!(fx.last(), Some(&Effect::Exit(22)));
    assert!(has_note(&fx, |n| *n == Note::Stopped { status: 22 }));

    let mut sim = Sim::new(settings(2));
    let fx = sim.state.handle(sim.now, Event::Start);
    assert_eq!(fx.len(), 1);
    let fx = sim.send(Event::ZygoteNotStarted {
        generation: 1,
        error: "no python3".into(),
    });
    assert_eq!(fx.last(), Some(&Effect::Exit(EXIT_CONFIG)));
}

#[test]
fn lazy_apps_whose_import_fails_stop_rsgi_with_22() {
    let mut sim = Sim::new(Settings {
        lazy_apps: true,
        ..settings(2)
    });
    sim.send(Event::Start);
    sim.zygote_ready(1);
    let w = sim.fork_all();
    let fx = sim.exit(w[0].pid, Ended::Code(22));
    assert!(has_note(&fx, |n| matches!(n, Note::AppCannotLoad { .. })));
    assert_eq!(
        signals(&fx),
        [(w[1].pid, Sig::Kill), (sim.zygote_pid(1), Sig::Kill)]
    );
    sim.exit(w[1].pid, Ended::Signal(9));
    let fx = sim.exit(sim.zygote_pid(1), Ended::Signal(9));
    assert_eq!(fx.last(), Some(&Effect::Exit(22)));
}

// ---- rolling reloads ----

#[test]
fn a_reload_replaces_one_worker_at_a_time_new_one_accepting_first() {
    let mut sim = Sim::booted(3);
    let old: Vec<i32> = (1..=3).map(|id| sim.pid_of(id)).collect();
    let fx = sim.touch();
    assert!(fx.contains(&Effect::Notify(Notify::Reloading)));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 2,
        candidate: false
    }));
    assert!(spawns(&fx).is_empty(), "nothing until the new code loads");

    let fx = sim.zygote_ready(2);
    // The old zygote is told to stop; one replacement is asked for.
    assert_eq!(signals(&fx), [(sim.zygote_pid(1), Sig::Term)]);
    assert_eq!(spawns(&fx), [1]);
    for id in 1..=3 {
        let new = sim.fork_one();
        assert_eq!((new.id, new.generation), (id, 2));
        // Forked but not accepting yet: the old worker keeps serving.
        let stop_old = Effect::Signal {
            pid: old[id - 1],
            signal: Sig::Term,
        };
        assert!(!sim.history.contains(&stop_old));
        let fx = sim.ready(new);
        assert_eq!(
            signals(&fx),
            [(old[id - 1], Sig::Term)],
            "then the old one stops"
        );
        if id < 3 {
            assert_eq!(spawns(&fx), [id + 1], "and only then the next one");
            assert!(!has_note(&fx, is_reload_done));
        } else {
            assert!(spawns(&fx).is_empty());
            assert!(has_note(&fx, is_reload_done) && fx.contains(&READY));
        }
    }
    assert_eq!(sim.state.reloads(), 1);
}

#[test]
fn reloads_asked_during_a_reload_fold_into_one_more() {
    let mut sim = Sim::booted(1);
    sim.touch();
    for _ in 0..5 {
        let fx = sim.touch();
        assert!(has_note(&fx, |n| matches!(n, Note::ReloadFolded { .. })));
        assert!(!fx.iter().any(|e| matches!(e, Effect::StartZygote { .. })));
    }
    // SIGHUP asks to re-read the config: the folded reload does.
    sim.command(Command::Reload {
        reread: true,
        reason: "SIGHUP".into(),
    });
    sim.zygote_ready(2);
    let new = sim.fork_one();
    let fx = sim.ready(new);
    assert!(has_note(&fx, is_reload_done));
    assert_eq!(
        fx.last(),
        Some(&Effect::LoadConfig),
        "exactly one more reload"
    );
    let fx = sim.send(Event::ConfigLoaded(Ok(settings(1))));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 3,
        candidate: true
    }));
    sim.zygote_ready(3);
    let new = sim.fork_one();
    let fx = sim.ready(new);
    assert!(has_note(&fx, is_reload_done));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::LoadConfig | Effect::StartZygote { .. }))
    );
    assert_eq!(sim.state.reloads(), 2);
}

#[test]
fn a_reload_whose_new_code_fails_keeps_the_running_config_and_workers() {
    let mut sim = Sim::booted(2);
    let fx = sim.command(Command::Reload {
        reread: true,
        reason: "SIGHUP".into(),
    });
    assert_eq!(fx, [Effect::LoadConfig]);
    let fx = sim.send(Event::ConfigLoaded(Ok(settings(4))));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 2,
        candidate: true
    }));
    let fx = sim.exit(sim.zygote_pid(2), Ended::Code(22));
    assert!(has_note(&fx, |n| *n
        == Note::ReloadFailed(ReloadFailure::Ended(Ended::Code(22)))));
    assert!(fx.contains(&Effect::DiscardConfig));
    assert!(has_note(&fx, |n| *n == Note::ConfigRolledBack));
    assert!(
        fx.contains(&READY),
        "systemd hears READY=1 after RELOADING=1"
    );
    assert!(!sim.history.contains(&Effect::CommitConfig));
    assert_eq!(sim.state.settings().processes, 2);
    assert!(signals(&fx).is_empty() && spawns(&fx).is_empty());
    // Respawns still come from the running zygote, with the running config.
    sim.later(10 * SECOND);
    sim.exit(sim.pid_of(1), Ended::Signal(9));
    assert_eq!(sim.fork_one().generation, 1);
    // And the next reload runs.
    let fx = sim.touch();
    assert!(fx.contains(&Effect::StartZygote {
        generation: 3,
        candidate: false
    }));
}

#[test]
fn a_rejected_config_starts_no_zygote_and_lets_a_folded_reload_run() {
    let mut sim = Sim::booted(1);
    sim.command(Command::Reload {
        reread: true,
        reason: "SIGHUP".into(),
    });
    sim.touch();
    let fx = sim.send(Event::ConfigLoaded(Err(Rejection::Invalid(
        "app.ini:3: processes: expected a number".into(),
    ))));
    assert!(has_note(&fx, |n| matches!(n, Note::ConfigRejected(_))));
    assert!(!fx.contains(&READY), "RELOADING=1 never went out for it");
    assert!(
        fx.contains(&Effect::StartZygote {
            generation: 2,
            candidate: false
        }),
        "the folded touch reload runs: {fx:?}"
    );
}

#[test]
fn a_re_read_config_is_committed_only_once_its_code_loaded() {
    let mut sim = Sim::booted(2);
    sim.command(Command::Reload {
        reread: true,
        reason: "SIGHUP".into(),
    });
    sim.send(Event::ConfigLoaded(Ok(settings(3))));
    assert_eq!(sim.state.settings().processes, 2);
    let fx = sim.zygote_ready(2);
    assert!(fx.contains(&Effect::CommitConfig));
    assert_eq!(sim.state.settings().processes, 3);
    // Worker 3 (new) starts at once; worker 1 is the first replaced.
    let mut asked = spawns(&fx);
    asked.sort_unstable();
    assert_eq!(asked, [1, 3]);
    let forked = sim.fork_all();
    let (w1, w3) = if forked[0].id == 1 {
        (forked[0], forked[1])
    } else {
        (forked[1], forked[0])
    };
    sim.ready(w1);
    let w2 = sim.fork_one();
    let fx = sim.ready(w2);
    // Every old worker is replaced, but worker 3 does not accept yet:
    // "reload done" (and READY=1) wait for it.
    assert!(
        !has_note(&fx, is_reload_done) && !fx.contains(&READY),
        "{fx:?}"
    );
    let fx = sim.ready(w3);
    assert!(has_note(&fx, is_reload_done) && fx.contains(&READY));
}

#[test]
fn a_reload_whose_zygote_hangs_times_out_and_the_next_one_runs() {
    let mut sim = Sim::booted(2);
    let workers = sim.live_pids();
    sim.at(SECOND);
    sim.touch();
    sim.at(2 * SECOND);
    sim.touch(); // folded behind the hung one
    assert_eq!(
        sim.state.next_deadline(sim.now),
        Some(sim.t0 + SECOND + Duration::from_secs(60))
    );
    sim.at(60 * SECOND);
    assert!(sim.tick().is_empty(), "not yet");
    sim.at(61 * SECOND);
    let fx = sim.tick();
    let hung = sim.zygote_pid(2);
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::ZygoteLoadTimedOut { .. }
    )));
    assert!(has_note(&fx, |n| *n
        == Note::ReloadFailed(ReloadFailure::TimedOut(
            Duration::from_secs(60)
        ))));
    assert_eq!(
        signals(&fx),
        [(hung, Sig::Kill)],
        "the old workers are untouched"
    );
    assert!(fx.contains(&READY));
    assert!(
        fx.contains(&Effect::StartZygote {
            generation: 3,
            candidate: false
        }),
        "the folded reload runs at once: {fx:?}"
    );
    // The killed zygote is reaped quietly; the new reload goes on.
    let fx = sim.exit(hung, Ended::Signal(9));
    assert!(!has_note(&fx, |n| matches!(n, Note::ReloadFailed(_))));
    sim.zygote_ready(3);
    for _ in 0..2 {
        let w = sim.fork_one();
        sim.ready(w);
    }
    assert!(has_note(&sim.history, is_reload_done));
    for pid in workers {
        assert!(signals(&sim.history).contains(&(pid, Sig::Term)));
    }
}

#[test]
fn a_reload_survives_its_zygote_dying_halfway() {
    let mut sim = Sim::booted(2);
    let old2 = sim.pid_of(2);
    sim.touch();
    sim.zygote_ready(2);
    let w1 = sim.fork_one();
    sim.ready(w1);
    // Worker 2's replacement is being forked when the new zygote dies.
    assert_eq!(sim.asked.len(), 1);
    sim.later(10 * SECOND);
    let fx = sim.exit(sim.zygote_pid(2), Ended::Signal(9));
    sim.asked.clear();
    assert!(has_note(&fx, |n| matches!(n, Note::ZygoteDied { .. })));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 3,
        candidate: false
    }));
    assert!(!has_note(&fx, is_reload_done));
    let fx = sim.zygote_ready(3);
    assert_eq!(spawns(&fx), [2], "the replacement is asked again");
    let w2 = sim.fork_one();
    let fx = sim.ready(w2);
    assert_eq!(signals(&fx), [(old2, Sig::Term)]);
    assert!(has_note(&fx, is_reload_done));
}

#[test]
fn a_spawn_without_a_free_slot_is_said_and_retried_and_the_reload_waits() {
    let slots = rsgi_core::stats::region::SLOTS;
    let mut sim = Sim::booted(slots);
    sim.touch();
    let fx = sim.zygote_ready(2);
    assert!(has_note(&fx, |n| *n
        == Note::CannotSpawn {
            id: 1,
            why: Blocked::NoSlot
        }));
    assert!(!has_note(&fx, is_reload_done));
    // One worker less frees a slot once it has exited.
    let last = sim.pid_of(slots);
    assert_eq!(
        signals(&sim.command(Command::RemoveWorker)),
        [(last, Sig::Term)]
    );
    sim.exit(last, Ended::Code(0));
    sim.later(SECOND);
    assert_eq!(spawns(&sim.tick()), [1]);
    assert!(!has_note(&sim.history, is_reload_done));
}

#[test]
fn removing_the_worker_a_reload_waits_for_lets_the_reload_finish() {
    let mut sim = Sim::booted(2);
    sim.touch();
    sim.zygote_ready(2);
    let w1 = sim.fork_one();
    sim.ready(w1);
    let w2 = sim.fork_one();
    assert_eq!(w2.id, 2);
    // Worker 2's replacement is starting when SIGTTOU removes worker 2.
    let fx = sim.command(Command::RemoveWorker);
    assert!(has_note(&fx, is_reload_done), "{fx:?}");
    let mut stopped: Vec<i32> = signals(&fx).into_iter().map(|(p, _)| p).collect();
    stopped.sort_unstable();
    assert!(stopped.contains(&w2.pid));
}

// ---- recycling, scaling ----

#[test]
fn a_recycled_worker_stops_once_its_replacement_accepts() {
    let mut sim = Sim::booted(2);
    let old = sim.pid_of(1);
    let slot = sim.state.workers()[0].slot;
    let recycle = || {
        Event::Worker(WorkerEvent::Recycle {
            slot,
            reason: "max-requests (50 requests)".into(),
        })
    };
    let fx = sim.send(recycle());
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::Recycling { id: 1, .. }
    )));
    assert_eq!(spawns(&fx), [1]);
    assert!(sim.send(recycle()).is_empty(), "asked twice, replaced once");
    let new = sim.fork_one();
    assert_eq!(signals(&sim.ready(new)), [(old, Sig::Term)]);
}

#[test]
fn sigttin_adds_a_worker_and_sigttou_removes_one_but_never_the_last() {
    let mut sim = Sim::booted(1);
    assert_eq!(spawns(&sim.command(Command::AddWorker)), [2]);
    let w2 = sim.fork_one();
    sim.ready(w2);
    assert_eq!(
        signals(&sim.command(Command::RemoveWorker)),
        [(w2.pid, Sig::Term)]
    );
    sim.exit(w2.pid, Ended::Code(0));
    assert!(sim.command(Command::RemoveWorker).is_empty());
    assert_eq!(sim.state.workers().len(), 1);
}

// ---- deaths ----

#[test]
fn a_worker_that_keeps_dying_at_start_up_is_respawned_later_and_later() {
    let mut sim = Sim::booted(1);
    sim.later(10 * SECOND);
    let mut pid = sim.pid_of(1);
    // A death after a healthy run: respawned at once.
    assert_eq!(spawns(&sim.exit(pid, Ended::Code(1))), [1]);
    let mut waits = Vec::new();
    for _ in 0..5 {
        pid = sim.fork_one().pid;
        sim.later(Duration::from_millis(10));
        let fx = sim.exit(pid, Ended::Code(1));
        if !spawns(&fx).is_empty() {
            waits.push(Duration::ZERO);
            continue;
        }
        let at = sim.state.next_deadline(sim.now).expect("a respawn is due");
        waits.push(at - sim.now);
        sim.now = at;
        assert_eq!(spawns(&sim.tick()), [1]);
    }
    let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 100, 200, 400, 800]);
    assert!(has_note(&sim.history, |n| matches!(
        n,
        Note::BackingOff { failures: 3, .. }
    )));
    // Accepting clears the failures.
    let w = sim.fork_one();
    sim.ready(w);
    sim.later(Duration::from_millis(10));
    assert_eq!(spawns(&sim.exit(w.pid, Ended::Code(1))), [1]);
}

#[test]
fn a_zygote_that_keeps_dying_is_restarted_with_backoff() {
    let mut sim = Sim::booted(1);
    sim.later(10 * SECOND);
    let fx = sim.exit(sim.zygote_pid(1), Ended::Signal(9));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 2,
        candidate: false
    }));
    // Dying before it loaded: a first failure restarts at once…
    sim.later(Duration::from_millis(10));
    let fx = sim.exit(sim.zygote_pid(2), Ended::Code(1));
    assert!(fx.contains(&Effect::StartZygote {
        generation: 3,
        candidate: false
    }));
    // …the next ones later and later.
    sim.later(Duration::from_millis(10));
    let fx = sim.exit(sim.zygote_pid(3), Ended::Code(1));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::StartZygote { .. })),
        "{fx:?}"
    );
    let at = sim.state.next_deadline(sim.now).expect("a restart is due");
    assert_eq!(at - sim.now, Duration::from_millis(100));
    sim.now = at;
    assert!(sim.tick().contains(&Effect::StartZygote {
        generation: 4,
        candidate: false
    }));
}

#[test]
fn a_worker_that_never_accepts_is_killed_after_load_timeout() {
    let mut sim = Sim::booted(1);
    sim.command(Command::AddWorker);
    let w = sim.fork_one();
    sim.later(Duration::from_secs(60));
    let fx = sim.tick();
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::WorkerLoadTimedOut { id: 2, .. }
    )));
    assert_eq!(signals(&fx), [(w.pid, Sig::Kill)]);
    assert!(sim.tick().is_empty(), "killed once");
    sim.exit(w.pid, Ended::Signal(9));
    assert_eq!(spawns(&sim.history[sim.history.len() - 2..]), [2]);
}

#[test]
fn the_first_start_is_not_bounded_by_load_timeout() {
    let mut sim = Sim::new(settings(1));
    sim.send(Event::Start);
    sim.later(Duration::from_secs(600));
    let fx = sim.tick();
    assert!(
        !has_note(&fx, |n| matches!(n, Note::ZygoteLoadTimedOut { .. })),
        "a slow first import is waited for: {fx:?}"
    );
    assert!(signals(&fx).is_empty());
}

// ---- harakiri ----

#[test]
fn harakiri_prints_the_stacks_then_kills_and_replaces_the_worker() {
    let mut sim = Sim::booted_with(Settings {
        harakiri: Some(Duration::from_secs(2)),
        ..settings(1)
    });
    let (pid, slot) = (sim.pid_of(1), sim.state.workers()[0].slot);
    let busy = |since_us| Event::Tick {
        wall_us: 10_000_000,
        busy: vec![Busy {
            slot,
            since_us,
            uri: "/slow".into(),
        }],
        load: Load::default(),
    };
    assert!(sim.send(busy(8_000_000)).is_empty(), "2 s is allowed");
    let fx = sim.send(busy(7_000_000));
    assert!(has_note(&fx, |n| *n
        == Note::Harakiri {
            id: 1,
            pid,
            uri: "/slow".into(),
            seconds: 3
        }));
    assert_eq!(signals(&fx), [(pid, Sig::Traceback)]);
    assert_eq!(spawns(&fx), [1], "its replacement is asked for at once");
    assert_eq!(sim.state.pool().harakiri[&1], 1);
    sim.later(Duration::from_millis(100));
    assert!(signals(&sim.send(busy(7_000_000))).is_empty(), "not twice");
    sim.later(Duration::from_millis(200));
    assert_eq!(signals(&sim.tick()), [(pid, Sig::Kill)]);
    let fx = sim.exit(pid, Ended::Signal(9));
    assert!(spawns(&fx).is_empty(), "already replaced");
}

// ---- stopping ----

#[test]
fn graceful_shutdown_waits_for_requests_then_reload_mercy_kills_once() {
    let mut sim = Sim::booted(2);
    let pids = sim.live_pids();
    let zygote = sim.zygote_pid(1);
    let fx = sim.command(Command::Stop { graceful: true });
    assert!(has_note(&fx, |n| *n == Note::GracefulShutdown));
    assert_eq!(count(&fx, |e| *e == Effect::Notify(Notify::Stopping)), 1);
    let mut sent = signals(&fx);
    sent.sort_unstable();
    assert_eq!(
        sent,
        [
            (zygote, Sig::Term),
            (pids[0], Sig::Term),
            (pids[1], Sig::Term)
        ]
    );
    // Worker 1 finishes; worker 2 is still busy when mercy runs out.
    sim.exit(pids[0], Ended::Code(0));
    sim.exit(zygote, Ended::Code(0));
    assert_eq!(
        sim.state.next_deadline(sim.now),
        Some(sim.t0 + Duration::from_secs(60))
    );
    sim.at(Duration::from_secs(60));
    let fx = sim.tick();
    assert!(has_note(&fx, |n| *n == Note::MercyExpired));
    assert_eq!(signals(&fx), [(pids[1], Sig::Kill)]);
    for ms in [100, 200, 300] {
        sim.at(Duration::from_secs(60) + Duration::from_millis(ms));
        assert!(sim.tick().is_empty(), "once: no more logs, no STOPPING=1");
    }
    assert_eq!(
        count(&sim.history, |e| *e == Effect::Notify(Notify::Stopping)),
        1
    );
    assert!(!has_note(&sim.history, |n| *n == Note::ImmediateShutdown));
    let fx = sim.exit(pids[1], Ended::Signal(9));
    assert_eq!(
        fx[fx.len() - 2..],
        [Effect::Log(Note::Stopped { status: 0 }), Effect::Exit(0)]
    );
}

#[test]
fn immediate_shutdown_kills_everything_once() {
    let mut sim = Sim::booted(2);
    let mut all = sim.live_pids();
    all.push(sim.zygote_pid(1));
    let fx = sim.command(Command::Stop { graceful: false });
    assert!(has_note(&fx, |n| *n == Note::ImmediateShutdown));
    let mut killed: Vec<i32> = signals(&fx)
        .into_iter()
        .map(|(p, s)| {
            assert_eq!(s, Sig::Kill);
            p
        })
        .collect();
    killed.sort_unstable();
    all.sort_unstable();
    assert_eq!(killed, all);
    assert!(sim.command(Command::Stop { graceful: false }).is_empty());
    assert!(sim.command(Command::Stop { graceful: true }).is_empty());
    for pid in all {
        sim.exit(pid, Ended::Signal(9));
    }
    assert_eq!(sim.history.last(), Some(&Effect::Exit(0)));
    assert_eq!(count(&sim.history, |e| matches!(e, Effect::Exit(_))), 1);
}

#[test]
fn sigint_during_a_graceful_shutdown_makes_it_immediate() {
    let mut sim = Sim::booted(1);
    let pid = sim.pid_of(1);
    sim.command(Command::Stop { graceful: true });
    let fx = sim.command(Command::Stop { graceful: false });
    assert!(has_note(&fx, |n| *n == Note::ImmediateShutdown));
    assert!(signals(&fx).contains(&(pid, Sig::Kill)));
    assert!(
        !fx.contains(&Effect::Notify(Notify::Stopping)),
        "STOPPING=1 went out already"
    );
}

#[test]
fn a_stop_while_a_worker_is_forked_stops_that_worker_too() {
    for ready_first in [false, true] {
        let mut sim = Sim::booted(1);
        let (zygote, w1) = (sim.zygote_pid(1), sim.pid_of(1));
        sim.command(Command::AddWorker);
        assert_eq!(sim.asked.len(), 1, "worker 2 is being forked");
        let fx = sim.command(Command::Stop { graceful: true });
        assert_eq!(
            signals(&fx),
            [(w1, Sig::Term)],
            "the zygote is not stopped mid-fork"
        );
        let (generation, slot, _) = sim.asked[0];
        let pid = 999;
        let mut fx = Vec::new();
        if ready_first {
            fx.extend(sim.send(Event::Worker(WorkerEvent::Ready { slot, pid })));
        }
        fx.extend(sim.send(Event::Zygote {
            generation,
            reply: Reply::Spawned { slot, pid },
        }));
        let mut sent = signals(&fx);
        sent.sort_unstable();
        assert_eq!(
            sent,
            [(zygote, Sig::Term), (pid, Sig::Term)],
            "ready first: {ready_first}"
        );
        for p in [w1, pid, zygote] {
            sim.exit(p, Ended::Code(0));
        }
        assert_eq!(sim.history.last(), Some(&Effect::Exit(0)));
    }
}

#[test]
fn an_immediate_stop_kills_a_worker_forked_after_it() {
    let mut sim = Sim::booted(1);
    sim.command(Command::AddWorker);
    let (generation, slot, _) = sim.asked[0];
    sim.command(Command::Stop { graceful: false });
    let fx = sim.send(Event::Zygote {
        generation,
        reply: Reply::Spawned { slot, pid: 999 },
    });
    assert_eq!(signals(&fx), [(999, Sig::Kill)]);
}

#[test]
fn a_zygote_that_dies_mid_fork_does_not_keep_the_master_waiting() {
    let mut sim = Sim::booted(1);
    let zygote = sim.zygote_pid(1);
    let w1 = sim.pid_of(1);
    sim.command(Command::AddWorker);
    sim.command(Command::Stop { graceful: false });
    sim.exit(w1, Ended::Signal(9));
    let fx = sim.exit(zygote, Ended::Signal(9));
    assert_eq!(fx.last(), Some(&Effect::Exit(0)), "{fx:?}");
}

#[test]
fn a_worker_being_replaced_gets_worker_reload_mercy_then_one_kill() {
    let mut sim = Sim::booted(1);
    let old = sim.pid_of(1);
    sim.touch();
    sim.zygote_ready(2);
    let new = sim.fork_one();
    sim.ready(new);
    sim.later(Duration::from_secs(60));
    let fx = sim.tick();
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::WorkerMercyExpired { id: 1, .. }
    )));
    assert_eq!(signals(&fx), [(old, Sig::Kill)]);
    sim.later(Duration::from_millis(100));
    assert!(sim.tick().is_empty());
}

// ---- logs and views ----

#[test]
fn sigusr2_reopens_the_log_only_with_log_reopen() {
    let mut sim = Sim::booted(2);
    assert!(sim.send(Event::ReopenLogs).is_empty());
    let mut sim = Sim::booted_with(Settings {
        log_reopen: true,
        ..settings(2)
    });
    let fx = sim.send(Event::ReopenLogs);
    assert_eq!(fx[0], Effect::ReopenLogFile);
    assert_eq!(
        signals(&fx),
        sim.live_pids()
            .into_iter()
            .map(|p| (p, Sig::Usr2))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_watchdog_is_pinged_on_its_interval() {
    let t0 = Instant::now();
    let mut state = State::new(settings(1), Some(Duration::from_millis(500)), t0);
    assert_eq!(
        state.next_deadline(t0),
        Some(t0 + Duration::from_millis(500))
    );
    let tick = || Event::Tick {
        wall_us: 0,
        busy: Vec::new(),
        load: Load::default(),
    };
    assert!(
        state
            .handle(t0 + Duration::from_millis(499), tick())
            .is_empty()
    );
    assert_eq!(
        state.handle(t0 + Duration::from_millis(500), tick()),
        [Effect::Notify(Notify::Watchdog)]
    );
}

#[test]
fn a_late_ready_of_a_dead_worker_is_not_taken_for_its_slots_next_worker() {
    let mut sim = Sim::booted(1);
    let (old, slot) = (sim.pid_of(1), sim.state.workers()[0].slot);
    sim.later(10 * SECOND);
    assert_eq!(spawns(&sim.exit(old, Ended::Code(1))), [1]);
    assert_eq!(sim.asked[0].1, slot, "the slot is reused");
    // The dead worker's ready message was still queued.
    sim.send(Event::Worker(WorkerEvent::Ready { slot, pid: old }));
    let w = &sim.state.workers()[0];
    assert_eq!((w.pid, w.state), (None, WorkerState::Spawning));
    let new = sim.fork_one();
    sim.ready(new);
    assert_eq!(sim.state.workers()[0].state, WorkerState::Ready);
}

#[test]
fn unknown_and_stale_messages_change_nothing() {
    let mut sim = Sim::booted(2);
    let before = sim.live_pids();
    for event in [
        Event::Worker(WorkerEvent::Ready { slot: 200, pid: 5 }),
        Event::Zygote {
            generation: 9,
            reply: Reply::Spawned { slot: 0, pid: 5 },
        },
        Event::Zygote {
            generation: 9,
            reply: Reply::Ready,
        },
        Event::Zygote {
            generation: 1,
            reply: Reply::Failed { slot: 0 },
        },
        Event::Worker(WorkerEvent::Recycle {
            slot: 200,
            reason: String::new(),
        }),
        Event::ConfigLoaded(Ok(settings(1))),
    ] {
        let fx = sim.send(event.clone());
        assert!(
            fx.iter().all(|e| matches!(e, Effect::DiscardConfig)),
            "{event:?} → {fx:?}"
        );
    }
    assert!(has_note(&sim.exit(4242, Ended::Code(0)), |n| matches!(
        n,
        Note::Reaped { .. }
    )));
    assert_eq!(sim.live_pids(), before);
}

// ---- cheaper ----

fn cheaper_settings(processes: usize, min: usize, initial: usize) -> Settings {
    let mut config = rsgi_core::config::Config {
        processes,
        cheaper: min,
        cheaper_initial: initial,
        cheaper_overload: 2,
        ..Default::default()
    };
    config.cheaper_step = 1;
    Settings {
        cheaper: CheaperSettings::from_config(&config),
        ..settings(processes)
    }
}

/// A master with cheaper on, its initial workers accepting.
fn cheaper_booted(settings: Settings) -> Sim {
    let mut sim = Sim::new(settings);
    sim.send(Event::Start);
    sim.zygote_ready(1);
    sim.start_asked();
    assert!(sim.state.announced);
    sim
}

#[test]
fn cheaper_starts_the_initial_count_and_lists_the_rest_as_cheap() {
    let mut sim = Sim::new(cheaper_settings(4, 1, 2));
    sim.send(Event::Start);
    assert_eq!(spawns(&sim.zygote_ready(1)), [1, 2]);
    let forked = sim.start_asked();
    assert_eq!(forked.len(), 2);
    assert!(has_note(&sim.history, |n| *n == Note::Ready { workers: 2 }));
    assert_eq!(sim.state.cheaped().collect::<Vec<_>>(), [3, 4]);
    assert_eq!(sim.state.target(), 2);
}

#[test]
fn spare_spawns_after_overload_busy_cycles_and_stops_idle_workers_down_to_the_minimum() {
    let mut sim = cheaper_booted(cheaper_settings(3, 1, 1));
    assert!(spawns(&sim.cycle(&[1], 0)).is_empty(), "one busy cycle");
    let fx = sim.cycle(&[1], 0);
    assert_eq!(spawns(&fx), [2], "cheaper-overload (2) busy cycles");
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::CheaperSpawning { ids, why: cheaper::Why::AllBusy { cycles: 2 }, running: 2 } if ids == &[2]
    )));
    sim.start_asked();
    sim.cycle(&[1, 2], 0);
    assert_eq!(spawns(&sim.cycle(&[1, 2], 0)), [3]);
    sim.start_asked();
    assert!(spawns(&sim.cycle(&[1, 2, 3], 0)).is_empty());
    assert!(
        spawns(&sim.cycle(&[1, 2, 3], 0)).is_empty(),
        "processes is the maximum"
    );
    assert_eq!(sim.state.target(), 3);

    // Load goes: one idle worker is the stable state...
    for _ in 0..4 {
        assert!(signals(&sim.cycle(&[1, 2], 0)).is_empty());
    }
    // ...more than one idle: one stopped every cheaper-overload cycles,
    // the idle one that ran longest, gracefully; never a busy one.
    let (pid1, pid2, pid3) = (sim.pid_of(1), sim.pid_of(2), sim.pid_of(3));
    let mut stopped = Vec::new();
    for _ in 0..6 {
        stopped.extend(signals(&sim.cycle(&[1], 0)));
    }
    assert_eq!(stopped, [(pid2, Sig::Term)], "then one spare: stable");
    for _ in 0..6 {
        stopped.extend(signals(&sim.cycle(&[], 0)));
    }
    assert_eq!(stopped, [(pid2, Sig::Term), (pid1, Sig::Term)]);
    assert_eq!(sim.state.target(), 1, "never below cheaper");
    assert_eq!(sim.state.cheaped().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(sim.pid_of(3), pid3);
    // A stopped worker's exit is not a death: nothing is respawned.
    for (pid, _) in stopped {
        assert!(spawns(&sim.exit(pid, Ended::Code(0))).is_empty());
    }
}

#[test]
fn backlog_spawns_while_connections_wait_and_stops_when_they_do_not() {
    let mut s = cheaper_settings(3, 1, 1);
    if let Some(c) = &mut s.cheaper {
        c.algo = rsgi_core::config::CheaperAlgo::Backlog;
    }
    let mut sim = cheaper_booted(s);
    assert!(spawns(&sim.cycle(&[], 2)).is_empty(), "2 is not over 2");
    assert_eq!(spawns(&sim.cycle(&[], 3)), [2]);
    sim.start_asked();
    assert!(signals(&sim.cycle(&[], 2)).is_empty(), "2 holds");
    assert_eq!(signals(&sim.cycle(&[], 0)).len(), 1, "empty: one stopped");
    assert!(signals(&sim.cycle(&[], 0)).is_empty(), "down to cheaper");
}

#[test]
fn cheaper_keeps_its_count_across_a_reload_and_waits_for_it() {
    let mut sim = cheaper_booted(cheaper_settings(4, 1, 2));
    sim.touch();
    // No decision while the reload runs, however busy.
    sim.cycle(&[1, 2], 0);
    assert!(spawns(&sim.cycle(&[1, 2], 0)).is_empty());
    let mut replaced = spawns(&sim.zygote_ready(2));
    loop {
        let forked = sim.fork_all();
        if forked.is_empty() {
            break;
        }
        for w in forked {
            replaced.extend(spawns(&sim.ready(w)));
        }
    }
    assert_eq!(replaced, [1, 2], "the running two, not processes");
    assert!(has_note(&sim.history, is_reload_done));
}

#[test]
fn the_hard_rss_limit_stops_one_and_the_soft_one_blocks_spawns() {
    let mut s = cheaper_settings(3, 1, 2);
    if let Some(c) = &mut s.cheaper {
        c.rss_soft = 100;
        c.rss_hard = 200;
    }
    let mut sim = cheaper_booted(s);
    let load = |sim: &Sim, rss: u64| Load {
        workers: sim
            .state
            .workers()
            .iter()
            .map(|w| SlotLoad {
                slot: w.slot,
                busy: rss < 100,
                rss,
                ..SlotLoad::default()
            })
            .collect(),
        backlog: 0,
    };
    for _ in 0..4 {
        sim.later(SECOND);
        let l = load(&sim, 60);
        let fx = sim.send(Event::Tick {
            wall_us: 0,
            busy: Vec::new(),
            load: l,
        });
        assert!(spawns(&fx).is_empty(), "120 bytes ≥ soft: none spawned");
    }
    sim.later(SECOND);
    let l = load(&sim, 100);
    let fx = sim.send(Event::Tick {
        wall_us: 0,
        busy: Vec::new(),
        load: l,
    });
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::Cheaping {
            why: cheaper::Why::RssHard { rss: 200 },
            ..
        }
    )));
}

#[test]
fn busyness_spawns_above_max_and_stops_after_multiplier_samples_below_min() {
    let mut config = rsgi_core::config::Config {
        processes: 3,
        cheaper: 1,
        cheaper_initial: 1,
        cheaper_overload: 2,
        cheaper_algo: rsgi_core::config::CheaperAlgo::Busyness,
        cheaper_busyness_multiplier: 2,
        ..Default::default()
    };
    config.cheaper_step = 1;
    let s = CheaperSettings::from_config(&config).expect("cheaper is on");
    let mut c = Cheaper::default();
    let t0 = Instant::now();
    let mut remarks = Vec::new();
    let one = |running_us, busy| Active {
        serial: 1,
        busy,
        running_us,
        rss: 0,
    };
    let mut decide = |c: &mut Cheaper, at: u64, active: &[Active], cheaped| {
        c.decide(
            &s,
            t0 + Duration::from_secs(at),
            cheaper::Sample {
                active,
                backlog: 0,
                cheaped,
            },
            &mut remarks,
        )
    };
    assert_eq!(decide(&mut c, 0, &[one(0, false)], 2), Decision::Hold);
    assert_eq!(decide(&mut c, 1, &[one(900_000, true)], 2), Decision::Hold);
    // 1.5 s of requests in the 2 s sample: 75% > 50%.
    assert_eq!(
        decide(&mut c, 2, &[one(1_500_000, true)], 2),
        Decision::Spawn(
            1,
            cheaper::Why::Busyness {
                percent: 75,
                seconds: 2
            }
        )
    );
    // Two idle workers: 0% < 25%, but a stop waits overload × multiplier
    // (4 s) after the spawn.
    let two = |r1, r2| {
        [
            one(r1, false),
            Active {
                serial: 2,
                busy: false,
                running_us: r2,
                rss: 0,
            },
        ]
    };
    assert_eq!(decide(&mut c, 4, &two(1_500_000, 0), 1), Decision::Hold);
    assert_eq!(
        decide(&mut c, 6, &two(1_500_000, 0), 1),
        Decision::Cheap(cheaper::Why::Busyness {
            percent: 0,
            seconds: 2
        })
    );
    // A request longer than the sample completes none: seen busy, 100%.
    let mut c = Cheaper::default();
    decide(&mut c, 0, &[one(0, true)], 2);
    assert!(matches!(
        decide(&mut c, 2, &[one(0, true)], 2),
        Decision::Spawn(1, cheaper::Why::Busyness { percent: 100, .. })
    ));
}

// ---- lifetime, evil reloads, exit-on-reload, harakiri-verbose ----

#[test]
fn max_worker_lifetime_recycles_each_worker_gracefully_at_its_own_time() {
    let mut sim = Sim::booted_with(Settings {
        max_worker_lifetime: Some(10 * SECOND),
        max_worker_lifetime_delta: 5 * SECOND,
        ..settings(2)
    });
    let (old1, old2) = (sim.pid_of(1), sim.pid_of(2));
    assert_eq!(sim.state.next_deadline(sim.now), Some(sim.t0 + 10 * SECOND));
    let fx = sim.at(10 * SECOND).tick();
    assert_eq!(spawns(&fx), [1], "worker 1 after the lifetime");
    assert!(signals(&fx).is_empty(), "the old one serves until then");
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::Recycling { id: 1, .. }
    )));
    let new1 = sim.fork_one();
    assert_eq!(signals(&sim.ready(new1)), [(old1, Sig::Term)]);
    assert_eq!(
        sim.state.next_deadline(sim.now),
        Some(sim.t0 + 15 * SECOND),
        "worker 2: lifetime + 1 × delta"
    );
    assert_eq!(spawns(&sim.at(15 * SECOND).tick()), [2]);
    let new2 = sim.fork_one();
    assert_eq!(signals(&sim.ready(new2)), [(old2, Sig::Term)]);
}

#[test]
fn evil_reload_kills_a_worker_over_the_limit_and_replaces_it() {
    let mut sim = Sim::booted_with(Settings {
        evil_reload_on_rss: 1000,
        ..settings(2)
    });
    let pid = sim.pid_of(2);
    sim.later(SECOND);
    let workers = sim
        .state
        .workers()
        .iter()
        .map(|w| SlotLoad {
            slot: w.slot,
            rss: if w.id == 2 { 1000 } else { 999 },
            ..SlotLoad::default()
        })
        .collect();
    let fx = sim.send(Event::Tick {
        wall_us: 0,
        busy: Vec::new(),
        load: Load {
            workers,
            backlog: 0,
        },
    });
    assert_eq!(signals(&fx), [(pid, Sig::Kill)]);
    assert_eq!(spawns(&fx), [2]);
    assert!(has_note(&fx, |n| matches!(
        n,
        Note::EvilReload {
            id: 2,
            address_space: false,
            bytes: 1000,
            ..
        }
    )));
    assert!(spawns(&sim.exit(pid, Ended::Signal(9))).is_empty());
}

#[test]
fn exit_on_reload_turns_a_reload_into_a_graceful_stop_with_status_0() {
    let mut sim = Sim::booted_with(Settings {
        exit_on_reload: true,
        ..settings(2)
    });
    let pids = sim.live_pids();
    let fx = sim.touch();
    assert!(has_note(&fx, |n| matches!(n, Note::ExitOnReload { .. })));
    assert!(!fx.iter().any(|e| matches!(e, Effect::StartZygote { .. })));
    assert_eq!(signals(&fx).len(), 3, "both workers and the zygote: {fx:?}");
    for pid in pids {
        sim.exit(pid, Ended::Code(0));
    }
    let fx = sim.exit(sim.zygote_pid(1), Ended::Code(0));
    assert_eq!(fx.last(), Some(&Effect::Exit(0)));
}

#[test]
fn harakiri_verbose_asks_for_the_kernel_state_first() {
    let mut sim = Sim::booted_with(Settings {
        harakiri: Some(SECOND),
        harakiri_verbose: true,
        ..settings(1)
    });
    let (pid, slot) = (sim.pid_of(1), sim.state.workers()[0].slot);
    let fx = sim.send(Event::Tick {
        wall_us: 5_000_000,
        busy: vec![Busy {
            slot,
            since_us: 1,
            uri: "/slow".into(),
        }],
        load: Load::default(),
    });
    let at = |want: &Effect| fx.iter().position(|e| e == want);
    let kernel = at(&Effect::LogKernelState { pid }).expect("asked");
    let traceback = at(&Effect::Signal {
        pid,
        signal: Sig::Traceback,
    });
    assert!(traceback.is_some_and(|t| kernel < t), "{fx:?}");
}
#[test]
fn busyness_spawns_emergency_workers_for_a_long_or_growing_listen_queue() {
    let mut config = rsgi_core::config::Config {
        processes: 4,
        cheaper: 1,
        cheaper_initial: 1,
        cheaper_overload: 10,
        cheaper_algo: rsgi_core::config::CheaperAlgo::Busyness,
        cheaper_busyness_backlog_alert: 5,
        cheaper_busyness_backlog_nonzero: 3,
        ..Default::default()
    };
    config.cheaper_step = 1;
    let s = CheaperSettings::from_config(&config).expect("cheaper is on");
    let t0 = Instant::now();
    let active = [Active {
        serial: 1,
        busy: true,
        running_us: 0,
        rss: 0,
    }];
    let mut remarks = Vec::new();
    let mut decide = |c: &mut Cheaper, at: u64, backlog| {
        c.decide(
            &s,
            t0 + Duration::from_secs(at),
            cheaper::Sample {
                active: &active,
                backlog,
                cheaped: 3,
            },
            &mut remarks,
        )
    };
    // Over backlog-alert: at once, between busyness samples.
    let mut c = Cheaper::default();
    assert_eq!(decide(&mut c, 0, 0), Decision::Hold);
    assert_eq!(
        decide(&mut c, 1, 6),
        Decision::Spawn(1, cheaper::Why::Emergency { queued: 6 })
    );
    // A short queue that does not drain for backlog-nonzero seconds.
    let mut c = Cheaper::default();
    assert_eq!(decide(&mut c, 0, 0), Decision::Hold);
    assert_eq!(decide(&mut c, 1, 2), Decision::Hold, "starts the clock");
    assert_eq!(decide(&mut c, 3, 2), Decision::Hold);
    assert_eq!(
        decide(&mut c, 4, 2),
        Decision::Spawn(1, cheaper::Why::BacklogNonzero { seconds: 3 })
    );
    assert_eq!(decide(&mut c, 5, 0), Decision::Hold, "drained: reset");
    assert_eq!(decide(&mut c, 6, 2), Decision::Hold);
}

mod sidecars;
