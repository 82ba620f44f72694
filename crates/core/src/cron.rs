//! uWSGI's cron rule, for `@cron` of uwsgidecorators: five numbers
//! (minute, hour, day of month, month, day of week), `-1` for any and
//! `-N` for every N-th, checked against the local time once a minute
//! (core/master_utils.c `uwsgi_cron_task_needs_execution`); and which
//! workers run a `@timer` or `@cron` function (uWSGI's signal targets).

/// The workers that run a scheduled function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One worker: uWSGI hands an untargeted signal to one worker, so
    /// rsgi runs it in worker `N` (1 for `''` and `'worker'`).
    Worker(usize),
    /// `'workers'` / `'active-workers'`: each of them.
    Every,
}

impl Target {
    /// uWSGI's target names that mean workers; others (mules, the
    /// spooler) are errors that say what rsgi lacks.
    pub fn parse(name: &str) -> Result<Target, String> {
        match name {
            "" | "worker" => Ok(Target::Worker(1)),
            "workers" | "active-workers" => Ok(Target::Every),
            _ => match name.strip_prefix("worker").map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => Ok(Target::Worker(n)),
                _ => Err(format!(
                    "target {name:?}: rsgi runs timers and crons in workers only \
                     ('', 'worker', 'workers', 'active-workers' or 'workerN'); it has no mules or spooler"
                )),
            },
        }
    }

    pub fn includes(self, worker_id: usize) -> bool {
        match self {
            Target::Worker(n) => n == worker_id,
            Target::Every => true,
        }
    }
}

/// A cron entry as `uwsgi.add_cron` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    pub minute: i32,
    pub hour: i32,
    pub day: i32,
    /// 1 to 12.
    pub month: i32,
    /// 0 (Sunday) to 6; 7 is Sunday too, as in crontab.
    pub week: i32,
}

/// A minute of local time, as cron sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub minute: i32,
    pub hour: i32,
    /// Day of the month, 1 to 31.
    pub day: i32,
    /// 1 to 12.
    pub month: i32,
    /// 0 (Sunday) to 6.
    pub weekday: i32,
}

impl Moment {
    /// The local time of a unix time (None if the C library cannot say).
    pub fn local(unix_secs: u64) -> Option<Moment> {
        let t = libc::time_t::try_from(unix_secs).ok()?;
        // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; localtime_r keeps
        // neither.
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        ok.then_some(Moment {
            minute: tm.tm_min,
            hour: tm.tm_hour,
            day: tm.tm_mday,
            month: tm.tm_mon + 1,
            weekday: tm.tm_wday,
        })
    }
}

impl Cron {
    /// Whether the entry runs in minute `at`. As in uWSGI (and crontab),
    /// when both the day of the month and the day of the week are fixed,
    /// either may match; `-N` matches a field divisible by N.
    pub fn is_due(&self, at: &Moment) -> bool {
        let field = |want: i32, now: i32| {
            if want < 0 {
                now % want.abs() == 0
            } else {
                want == now
            }
        };
        let week = if self.week == 7 { 0 } else { self.week };
        let (day, weekday) = (field(self.day, at.day), field(week, at.weekday));
        let days = if self.day >= 0 && self.week >= 0 {
            day || weekday
        } else {
            day && weekday
        };
        field(self.minute, at.minute)
            && field(self.hour, at.hour)
            && field(self.month, at.month)
            && days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Friday 27 November 2026, 10:30.
    const AT: Moment = Moment {
        minute: 30,
        hour: 10,
        day: 27,
        month: 11,
        weekday: 5,
    };

    #[test]
    fn fields_match_as_uwsgi_matches_them() {
        let cron = |minute, hour, day, month, week| Cron {
            minute,
            hour,
            day,
            month,
            week,
        };
        let table = [
            (cron(-1, -1, -1, -1, -1), true),
            (cron(30, 10, -1, -1, -1), true),
            (cron(31, 10, -1, -1, -1), false),
            (cron(-15, -1, -1, -1, -1), true),
            (cron(-7, -1, -1, -1, -1), false),
            (cron(30, -5, -1, -1, -1), true),
            (cron(30, -3, -1, -1, -1), false),
            (cron(-1, -1, 27, 11, -1), true),
            (cron(-1, -1, 27, 12, -1), false),
            // Both days fixed: either one.
            (cron(-1, -1, 1, -1, 5), true),
            (cron(-1, -1, 27, -1, 0), true),
            (cron(-1, -1, 1, -1, 0), false),
            // One day fixed, the other an interval: both.
            (cron(-1, -1, 1, -1, -1), false),
            (cron(-1, -1, -1, -1, 5), true),
            (cron(-1, -1, -1, -1, 4), false),
        ];
        for (c, want) in table {
            assert_eq!(c.is_due(&AT), want, "{c:?}");
        }
    }

    #[test]
    fn targets_name_workers() {
        let table = [
            ("", Ok(Target::Worker(1))),
            ("worker", Ok(Target::Worker(1))),
            ("worker3", Ok(Target::Worker(3))),
            ("workers", Ok(Target::Every)),
            ("active-workers", Ok(Target::Every)),
        ];
        for (name, want) in table {
            assert_eq!(Target::parse(name), want, "{name:?}");
        }
        for bad in ["worker0", "workerx", "mule", "mule1", "spooler", "farm:x"] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.contains("no mules or spooler"), "{bad}: {e}");
        }
        assert!(Target::Every.includes(7));
        assert!(Target::Worker(2).includes(2) && !Target::Worker(2).includes(1));
    }

    #[test]
    fn seven_is_sunday() {
        let sunday = Moment { weekday: 0, ..AT };
        let c = Cron {
            minute: -1,
            hour: -1,
            day: -1,
            month: -1,
            week: 7,
        };
        assert!(c.is_due(&sunday));
        assert!(!c.is_due(&AT));
    }

    #[test]
    fn local_time_is_a_valid_moment() {
        let m = Moment::local(1_700_000_000).expect("localtime");
        assert!(
            (0..60).contains(&m.minute) && (1..=12).contains(&m.month),
            "{m:?}"
        );
        assert!(
            (0..7).contains(&m.weekday) && (1..=31).contains(&m.day),
            "{m:?}"
        );
    }
}
