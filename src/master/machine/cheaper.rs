//! Adaptive worker count (`cheaper`): the decision, as a pure function of
//! what the master reads each second (which workers are in a request, the
//! time they spent in requests, their memory, the listen queue).
//!
//! The algorithms are uWSGI's (core/master_utils.c: `uwsgi_calc_cheaper`,
//! `uwsgi_cheaper_algo_spare`, `uwsgi_cheaper_algo_backlog`;
//! plugins/cheaper_busyness), evaluated once per master cycle (one second,
//! uWSGI's default `master-interval`). Their counters live here; the
//! machine applies the answer: spawn up to N workers from the zygote, or
//! stop the idle worker that has run longest, gracefully.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rsgi_core::config::{CheaperAlgo, Config};

/// How often the master evaluates the algorithm (uWSGI's master cycle).
pub const CYCLE: Duration = Duration::from_secs(1);

/// The `cheaper*` options.
#[derive(Debug, Clone, PartialEq)]
pub struct CheaperSettings {
    /// Workers always running.
    pub min: usize,
    /// Workers at start.
    pub initial: usize,
    /// Workers spawned at once.
    pub step: usize,
    pub algo: CheaperAlgo,
    /// spare: cycles; backlog: queued connections; busyness: seconds.
    pub overload: u64,
    /// Bytes of RSS (all workers) above which none is spawned; 0: off.
    pub rss_soft: u64,
    /// Bytes of RSS above which one is stopped; 0: off.
    pub rss_hard: u64,
    pub busyness: BusynessSettings,
}

/// The `cheaper-busyness-*` options (a 0 means uWSGI's default, as there).
#[derive(Debug, Clone, PartialEq)]
pub struct BusynessSettings {
    pub max: u64,
    pub min: u64,
    pub multiplier: u64,
    pub penalty: u64,
    pub backlog_alert: u64,
    pub backlog_multiplier: u64,
    pub backlog_step: usize,
    pub backlog_nonzero: Duration,
    pub verbose: bool,
}

impl CheaperSettings {
    /// None when `cheaper` is off (0). The loader checked cheaper <
    /// processes and brought cheaper-initial inside [cheaper, processes].
    pub fn from_config(c: &Config) -> Option<CheaperSettings> {
        if c.cheaper == 0 || c.cheaper >= c.processes {
            return None;
        }
        let or = |v: u64, default: u64| if v == 0 { default } else { v };
        Some(CheaperSettings {
            min: c.cheaper,
            initial: c.cheaper_initial.clamp(c.cheaper, c.processes),
            step: c.cheaper_step.max(1),
            algo: c.cheaper_algo,
            overload: c.cheaper_overload,
            rss_soft: c.cheaper_rss_limit_soft,
            rss_hard: c.cheaper_rss_limit_hard,
            busyness: BusynessSettings {
                max: or(c.cheaper_busyness_max, 50),
                min: or(c.cheaper_busyness_min, 25),
                multiplier: or(c.cheaper_busyness_multiplier, 10),
                penalty: or(c.cheaper_busyness_penalty, 2),
                backlog_alert: or(c.cheaper_busyness_backlog_alert, 33),
                backlog_multiplier: or(c.cheaper_busyness_backlog_multiplier, 3),
                backlog_step: c.cheaper_busyness_backlog_step.max(1),
                backlog_nonzero: Duration::from_secs(or(c.cheaper_busyness_backlog_nonzero, 60)),
                verbose: c.cheaper_busyness_verbose,
            },
        })
    }

    /// Whether the master must read the workers' memory for this.
    pub fn needs_memory(&self) -> bool {
        self.rss_soft > 0
    }
}

/// One running (not cheaped) worker as a cycle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    /// Its process (never reused), so a replaced worker's time restarts.
    pub serial: u64,
    /// In a request now.
    pub busy: bool,
    /// Microseconds spent in requests since it was spawned.
    pub running_us: u64,
    /// Resident set, bytes (0 when not read).
    pub rss: u64,
}

/// What one cycle sees.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub active: &'a [Active],
    /// Connections waiting in the listen queues.
    pub backlog: u64,
    /// Worker ids that could still be spawned (max minus running).
    pub cheaped: usize,
}

/// Why the count changes; `notes` words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// spare: every worker was busy for this many cycles.
    AllBusy { cycles: u64 },
    /// spare: more than one worker idle for cheaper-overload cycles.
    Idle,
    /// backlog: connections waiting, against cheaper-overload.
    Backlog { queued: u64 },
    /// busyness: the average over the last sample.
    Busyness { percent: u64, seconds: u64 },
    /// busyness: the listen queue passed backlog-alert.
    Emergency { queued: u64 },
    /// busyness: connections waited for this long in a row.
    BacklogNonzero { seconds: u64 },
    /// The workers' RSS reached cheaper-rss-limit-hard.
    RssHard { rss: u64 },
}

/// A cycle's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Hold,
    /// Spawn up to this many.
    Spawn(usize, Why),
    /// Stop one idle worker.
    Cheap(Why),
}

/// What a cycle wants logged besides its decision (busyness' chatter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remark {
    /// cheaper-busyness-verbose: the sample.
    Sample {
        seconds: u64,
        percent: u64,
        workers: usize,
    },
    /// The multiplier changed (up: a stopped worker was needed back soon).
    Multiplier { value: u64, up: bool },
    /// Load wants more workers but all `processes` run.
    AtMaximum { workers: usize },
}

/// The algorithms' memory between cycles.
#[derive(Debug, Clone, Default)]
pub struct Cheaper {
    /// spare: cycles with every worker busy (decremented by a free one).
    overload_count: u64,
    /// spare: cycles since the last overload.
    idle_count: u64,
    busyness: Option<Busyness>,
}

#[derive(Debug, Clone)]
struct Busyness {
    last_sample: Instant,
    /// Running time at the last sample, by worker serial.
    last_running: HashMap<u64, u64>,
    /// Cycles each worker was seen in a request since the last sample.
    was_busy: HashMap<u64, u32>,
    next_cheap: Instant,
    last_cheaped: Option<Instant>,
    multiplier: u64,
    /// The last thing done: Some(true) spawned, Some(false) cheaped.
    last_spawned: Option<bool>,
    tolerance: u64,
    emergency: usize,
    backlog_nonzero_since: Option<Instant>,
}

impl Cheaper {
    /// One cycle: uWSGI's `uwsgi_calc_cheaper` and the chosen algorithm.
    pub fn decide(
        &mut self,
        s: &CheaperSettings,
        now: Instant,
        sample: Sample<'_>,
        remarks: &mut Vec<Remark>,
    ) -> Decision {
        let mut can_spawn = true;
        if s.rss_soft > 0 {
            let rss: u64 = sample.active.iter().map(|a| a.rss).sum();
            if s.rss_hard > 0 && sample.active.len() > 1 && rss >= s.rss_hard {
                return Decision::Cheap(Why::RssHard { rss });
            }
            can_spawn = rss < s.rss_soft;
        }
        let decision = match s.algo {
            CheaperAlgo::Spare => self.spare(s, sample, can_spawn),
            CheaperAlgo::Backlog => backlog(s, sample, can_spawn),
            CheaperAlgo::Busyness => self.busyness(s, now, sample, can_spawn, remarks),
        };
        match decision {
            Decision::Spawn(n, why) if n > 0 && can_spawn => Decision::Spawn(n, why),
            Decision::Cheap(why) if sample.active.len() > s.min => Decision::Cheap(why),
            _ => Decision::Hold,
        }
    }

    /// uWSGI's spare: count cycles in which every worker was busy; at
    /// cheaper-overload of them spawn cheaper-step workers. With no
    /// overload left and more than one worker free, stop one every
    /// cheaper-overload cycles.
    fn spare(&mut self, s: &CheaperSettings, sample: Sample<'_>, can_spawn: bool) -> Decision {
        let overload = s.overload.max(1);
        if sample.active.iter().any(|a| !a.busy) {
            self.overload_count = self.overload_count.saturating_sub(1);
        } else {
            self.overload_count += 1;
            self.idle_count = 0;
        }
        if can_spawn && self.overload_count >= overload {
            let cycles = self.overload_count;
            self.overload_count = 0;
            return Decision::Spawn(s.step.min(sample.cheaped), Why::AllBusy { cycles });
        }
        if self.overload_count == 0 {
            let busy = sample.active.iter().filter(|a| a.busy).count();
            // One spare worker is the stable state.
            if sample.active.len() == busy + 1 {
                return Decision::Hold;
            }
            self.idle_count += 1;
            if sample.active.len() > s.min && self.idle_count.is_multiple_of(overload) {
                return Decision::Cheap(Why::Idle);
            }
        }
        Decision::Hold
    }

    /// uWSGI's busyness plugin: every cheaper-overload seconds, the share
    /// of that time the workers spent in requests; above the max spawn,
    /// below the min stop one once it stayed low for overload ×
    /// multiplier seconds. A queue over backlog-alert (or non-empty for
    /// backlog-nonzero seconds) spawns emergency workers at once.
    fn busyness(
        &mut self,
        s: &CheaperSettings,
        now: Instant,
        sample: Sample<'_>,
        can_spawn: bool,
        remarks: &mut Vec<Remark>,
    ) -> Decision {
        let b = &s.busyness;
        let period = Duration::from_secs(s.overload.max(1));
        let st = self.busyness.get_or_insert_with(|| Busyness {
            last_sample: now,
            last_running: sample
                .active
                .iter()
                .map(|a| (a.serial, a.running_us))
                .collect(),
            was_busy: HashMap::new(),
            next_cheap: now + period * u32::try_from(b.multiplier).unwrap_or(u32::MAX),
            last_cheaped: None,
            multiplier: b.multiplier,
            last_spawned: None,
            tolerance: 0,
            emergency: 0,
            backlog_nonzero_since: None,
        });
        for a in sample.active {
            *st.was_busy.entry(a.serial).or_default() += u32::from(a.busy);
        }
        let active = sample.active.len();
        let room = sample.cheaped;
        if now.saturating_duration_since(st.last_sample) >= period {
            st.last_sample = now;
            let period_us = period.as_micros().max(1) as u64;
            let mut total = 0;
            for a in sample.active {
                let last = st.last_running.get(&a.serial).copied().unwrap_or(0);
                let ran = a.running_us.saturating_sub(last);
                let was_busy = st.was_busy.get(&a.serial).copied().unwrap_or(0);
                // A request longer than the period completes none in it:
                // seen busy, it counts as fully busy (as uWSGI does).
                let percent = if ran == 0 && was_busy > 0 {
                    100
                } else {
                    (ran * 100 / period_us).min(100)
                };
                total += percent;
            }
            st.last_running = sample
                .active
                .iter()
                .map(|a| (a.serial, a.running_us))
                .collect();
            st.was_busy.clear();
            let avg = total.checked_div(active as u64).unwrap_or(0);
            let seconds = period.as_secs();
            if b.verbose {
                remarks.push(Remark::Sample {
                    seconds,
                    percent: avg,
                    workers: active,
                });
            }
            let why = Why::Busyness {
                percent: avg,
                seconds,
            };
            if avg > b.max {
                st.tolerance = 0;
                let n = if can_spawn { s.step.min(room) } else { 0 };
                if n == 0 {
                    remarks.push(Remark::AtMaximum { workers: active });
                    return Decision::Hold;
                }
                st.last_spawned = Some(true);
                // Stopped and needed back within the multiplier's time:
                // wait longer before stopping one next time.
                let soon = st.last_cheaped.is_some_and(|at| {
                    now.saturating_duration_since(at).as_secs() / seconds.max(1) <= st.multiplier
                });
                if soon {
                    st.multiplier += b.penalty;
                    remarks.push(Remark::Multiplier {
                        value: st.multiplier,
                        up: true,
                    });
                } else {
                    st.lower_multiplier(b, remarks);
                }
                st.set_next_cheap(now, period, b);
                return Decision::Spawn(n, why);
            }
            if can_spawn && sample.backlog > b.backlog_alert && room > 0 {
                return st.emergency(now, period, b, room, sample.backlog);
            }
            if avg < b.min {
                if active <= 1 {
                    return Decision::Hold;
                }
                st.tolerance = 0;
                if active > s.min && now >= st.next_cheap {
                    if st.last_spawned == Some(false) {
                        st.lower_multiplier(b, remarks);
                    }
                    st.set_next_cheap(now, period, b);
                    st.last_cheaped = Some(now);
                    st.last_spawned = Some(false);
                    st.emergency = st.emergency.saturating_sub(1);
                    return Decision::Cheap(why);
                }
                return Decision::Hold;
            }
            if active <= 1 {
                return Decision::Hold;
            }
            st.emergency = st.emergency.saturating_sub(1);
            // Between min and max: three such samples in a row restart
            // the wait before a stop; fewer only push it back by one.
            st.tolerance += 1;
            if st.tolerance >= 3 {
                st.set_next_cheap(now, period, b);
            } else {
                st.next_cheap += period;
            }
            return Decision::Hold;
        }
        if can_spawn && sample.backlog > b.backlog_alert && room > 0 {
            return st.emergency(now, period, b, room, sample.backlog);
        }
        if sample.backlog > 0 {
            match st.backlog_nonzero_since {
                Some(since)
                    if can_spawn
                        && room > 0
                        && now.saturating_duration_since(since) >= b.backlog_nonzero =>
                {
                    let seconds = now.saturating_duration_since(since).as_secs();
                    st.backlog_nonzero_since = Some(now);
                    if let Decision::Spawn(n, _) =
                        st.emergency(now, period, b, room, sample.backlog)
                    {
                        return Decision::Spawn(n, Why::BacklogNonzero { seconds });
                    }
                }
                Some(_) => {}
                None => st.backlog_nonzero_since = Some(now),
            }
        } else {
            st.backlog_nonzero_since = None;
        }
        Decision::Hold
    }
}

/// uWSGI's backlog: spawn while more than cheaper-overload connections
/// wait; stop one while fewer do.
fn backlog(s: &CheaperSettings, sample: Sample<'_>, can_spawn: bool) -> Decision {
    let queued = sample.backlog;
    if can_spawn && queued > s.overload {
        Decision::Spawn(s.step.min(sample.cheaped), Why::Backlog { queued })
    } else if queued < s.overload && sample.active.len() > s.min {
        Decision::Cheap(Why::Backlog { queued })
    } else {
        Decision::Hold
    }
}

impl Busyness {
    /// When a stop is allowed next: overload × multiplier seconds on,
    /// or × backlog-multiplier while emergency workers run.
    fn set_next_cheap(&mut self, now: Instant, period: Duration, b: &BusynessSettings) {
        let multiplier = if self.emergency > 0 {
            b.backlog_multiplier
        } else {
            self.multiplier
        };
        self.next_cheap = now + period * u32::try_from(multiplier).unwrap_or(u32::MAX);
    }

    fn lower_multiplier(&mut self, b: &BusynessSettings, remarks: &mut Vec<Remark>) {
        if self.multiplier > b.multiplier {
            self.multiplier -= 1;
            remarks.push(Remark::Multiplier {
                value: self.multiplier,
                up: false,
            });
        }
    }

    fn emergency(
        &mut self,
        now: Instant,
        period: Duration,
        b: &BusynessSettings,
        room: usize,
        queued: u64,
    ) -> Decision {
        self.multiplier = b.multiplier;
        self.last_spawned = Some(true);
        let n = b.backlog_step.min(room);
        self.emergency += n;
        self.set_next_cheap(now, period, b);
        Decision::Spawn(n, Why::Emergency { queued })
    }
}
