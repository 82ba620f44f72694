//! Commands the master runs on a schedule: `cron`, `unique-cron` and the
//! key=value `cron2` (uWSGI's core/cron.c), and the schedule's matching
//! (uWSGI's `uwsgi_cron_task_needs_execution` in core/master_utils.c),
//! pure so that it is tested here rather than by waiting for a minute.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::daemons::kvlist;
use super::value::Show;

/// One scheduled command. Each field is a value to equal, or negative for
/// "every N" as uWSGI has it: -1 any, -5 every fifth (`*/5` in crontab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cron {
    pub minute: i32,
    pub hour: i32,
    pub day: i32,
    pub month: i32,
    /// Day of the week, 0 (or 7) Sunday.
    pub week: i32,
    /// Run with `/bin/sh -c`.
    pub command: String,
    /// Skip a run while the previous one still runs (`unique-cron`).
    pub unique: bool,
    /// `cron2 harakiri=N`: kill a run after N seconds (0: never, even with
    /// `cron-harakiri`); None: `cron-harakiri` decides.
    pub harakiri: Option<u64>,
}

/// A wall-clock minute in the local time zone, as cron sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilTime {
    pub year: i32,
    /// 1 to 12.
    pub month: i32,
    /// 1 to 31.
    pub day: i32,
    pub hour: i32,
    pub minute: i32,
    /// 0 (Sunday) to 6.
    pub weekday: i32,
}

/// When a cron entry runs: each field a value to equal, or negative for
/// "every N". Cron entries of the config and `@cron` functions of
/// uwsgidecorators both match through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub minute: i32,
    pub hour: i32,
    pub day: i32,
    /// 1 to 12.
    pub month: i32,
    /// 0 (or 7) Sunday to 6.
    pub week: i32,
}

impl Schedule {
    /// Whether the schedule wants a run in minute `t`. As uWSGI (and
    /// crontab): day of the month and day of the week are ORed when both
    /// are given, otherwise every field must match.
    pub fn matches(&self, t: &CivilTime) -> bool {
        let field = |want: i32, have: i32| {
            if want < 0 {
                have % want.abs() == 0
            } else {
                want == have
            }
        };
        let week = if self.week == 7 { 0 } else { self.week };
        let common =
            field(self.minute, t.minute) && field(self.hour, t.hour) && field(self.month, t.month);
        let (day, weekday) = (field(self.day, t.day), field(week, t.weekday));
        if self.day >= 0 && self.week >= 0 {
            common && (day || weekday)
        } else {
            common && day && weekday
        }
    }
}

impl CivilTime {
    /// The local wall-clock minute at `t` (None if the C library cannot
    /// say).
    pub fn local(t: std::time::SystemTime) -> Option<CivilTime> {
        let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let secs = libc::time_t::try_from(secs).ok()?;
        // SAFETY: an all-zero tm is a valid value for localtime_r to fill.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live locals; localtime_r keeps neither.
        if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
            return None;
        }
        Some(CivilTime {
            year: tm.tm_year + 1900,
            month: tm.tm_mon + 1,
            day: tm.tm_mday,
            hour: tm.tm_hour,
            minute: tm.tm_min,
            weekday: tm.tm_wday,
        })
    }
}

impl Cron {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            minute: self.minute,
            hour: self.hour,
            day: self.day,
            month: self.month,
            week: self.week,
        }
    }

    /// Whether the entry runs in minute `t`.
    pub fn matches(&self, t: &CivilTime) -> bool {
        self.schedule().matches(t)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.minute, self.hour, self.day, self.month, self.week, self.command
        )
    }
}

impl Show for Cron {
    fn show(&self) -> String {
        let mut shown = self.to_string();
        if self.unique {
            shown.push_str(" (unique)");
        }
        if let Some(n) = self.harakiri {
            shown.push_str(&format!(" (harakiri {n} s)"));
        }
        shown
    }
}

/// `cron MIN HOUR DAY MONTH WEEKDAY CMD`.
pub fn cron(raw: &str) -> Result<Cron, String> {
    let raw = raw.trim();
    let mut rest = raw;
    let mut fields = [0i32; 5];
    for (i, name) in NAMES.iter().enumerate() {
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        fields[i] = word.parse::<i32>().map_err(|_| {
            format!("expected MINUTE HOUR DAY MONTH WEEKDAY COMMAND (numbers, -1 for any), got {raw:?}: the {name} is {word:?}")
        })?;
        rest = tail.trim_start();
    }
    if rest.is_empty() {
        return Err(format!("{raw:?}: the command is missing"));
    }
    checked(Cron {
        minute: fields[0],
        hour: fields[1],
        day: fields[2],
        month: fields[3],
        week: fields[4],
        command: rest.to_string(),
        unique: false,
        harakiri: None,
    })
}

/// `unique-cron`: as `cron`, a run skipped while the previous one runs.
pub fn unique_cron(raw: &str) -> Result<Cron, String> {
    Ok(Cron {
        unique: true,
        ..cron(raw)?
    })
}

/// `cron2 key=value,... COMMAND`: minute, hour, day, month, week (each -1
/// when absent), unique, harakiri.
pub fn cron2(raw: &str) -> Result<Cron, String> {
    let raw = raw.trim();
    let (keys, command) = match raw.split_once(' ') {
        Some((keys, command)) if keys.contains('=') => (keys, command.trim()),
        _ if raw.split(' ').next().is_some_and(|w| w.contains('=')) => {
            return Err(format!("{raw:?}: the command is missing after the keys"));
        }
        _ => ("", raw),
    };
    if command.is_empty() {
        return Err("expected key=value,... COMMAND".into());
    }
    let mut c = Cron {
        minute: -1,
        hour: -1,
        day: -1,
        month: -1,
        week: -1,
        command: command.to_string(),
        unique: false,
        harakiri: None,
    };
    for (key, value) in kvlist(keys)? {
        let number = || {
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| format!("{key}: expected a number, got {value:?}"))
        };
        match key.as_str() {
            "minute" => c.minute = number()?,
            "hour" => c.hour = number()?,
            "day" => c.day = number()?,
            "month" => c.month = number()?,
            "week" => c.week = number()?,
            "unique" => c.unique = number()? != 0,
            "harakiri" => {
                let n = value.trim().parse::<u64>().map_err(|_| {
                    format!("harakiri: expected seconds (0 for none), got {value:?}")
                })?;
                c.harakiri = Some(n);
            }
            "legion" => return Err("the key \"legion\" is not supported by rsgi".into()),
            _ => {
                return Err(format!(
                    "unknown key {key:?} (rsgi has: minute, hour, day, month, week, unique, harakiri)"
                ));
            }
        }
    }
    checked(c)
}

const NAMES: [&str; 5] = ["minute", "hour", "day", "month", "weekday"];

/// A value that can never match is refused (uWSGI takes it and never runs
/// the command).
fn checked(c: Cron) -> Result<Cron, String> {
    let ranges = [
        (c.minute, 0, 59),
        (c.hour, 0, 23),
        (c.day, 1, 31),
        (c.month, 1, 12),
        (c.week, 0, 7),
    ];
    for ((value, low, high), name) in ranges.into_iter().zip(NAMES) {
        if value >= 0 && !(low..=high).contains(&value) {
            return Err(format!(
                "the {name} {value} is out of range ({low} to {high}, or negative for every N)"
            ));
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(month: i32, day: i32, hour: i32, minute: i32, weekday: i32) -> CivilTime {
        CivilTime {
            year: 2026,
            month,
            day,
            hour,
            minute,
            weekday,
        }
    }

    fn spec(raw: &str) -> Cron {
        cron(&format!("{raw} true")).expect(raw)
    }

    #[test]
    fn schedules_match_as_uwsgi() {
        // 2026-11-27 is a Friday (weekday 5).
        let fri = |h, m| at(11, 27, h, m, 5);
        let table: &[(&str, CivilTime, bool)] = &[
            ("-1 -1 -1 -1 -1", fri(10, 7), true),
            ("30 -1 -1 -1 -1", fri(10, 30), true),
            ("30 -1 -1 -1 -1", fri(10, 31), false),
            ("-5 -1 -1 -1 -1", fri(10, 35), true),
            ("-5 -1 -1 -1 -1", fri(10, 36), false),
            ("0 -2 -1 -1 -1", fri(10, 0), true),
            ("0 -2 -1 -1 -1", fri(11, 0), false),
            ("0 3 -1 -1 -1", fri(3, 0), true),
            ("0 3 -1 -1 -1", fri(4, 0), false),
            // Day of month and weekday both given: either one.
            ("0 0 1 -1 5", fri(0, 0), true),
            ("0 0 27 -1 1", fri(0, 0), true),
            ("0 0 1 -1 1", fri(0, 0), false),
            // Only the weekday: it must match.
            ("0 0 -1 -1 5", fri(0, 0), true),
            ("0 0 -1 -1 6", fri(0, 0), false),
            // 7 is Sunday, as in crontab.
            ("0 0 -1 -1 7", at(11, 29, 0, 0, 0), true),
            // Months count from 1: -2 is every even month.
            ("0 0 -1 -2 -1", at(12, 1, 0, 0, 2), true),
            ("0 0 -1 -2 -1", at(11, 1, 0, 0, 0), false),
            ("0 0 -1 11 -1", fri(0, 0), true),
        ];
        for (raw, t, want) in table {
            assert_eq!(spec(raw).matches(t), *want, "{raw} at {t:?}");
        }
    }

    #[test]
    fn local_time_is_a_valid_minute() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let m = CivilTime::local(t).expect("localtime");
        assert!(m.year >= 2023 && (1..=12).contains(&m.month), "{m:?}");
        assert!(
            (1..=31).contains(&m.day) && (0..7).contains(&m.weekday),
            "{m:?}"
        );
        assert!(
            (0..24).contains(&m.hour) && (0..60).contains(&m.minute),
            "{m:?}"
        );
    }

    #[test]
    fn cron_lines_parse() {
        let c = cron("  0 -1 -1 -1 -1   /usr/bin/cleanup --all ").expect("parses");
        assert_eq!(
            (c.minute, c.hour, c.day, c.month, c.week),
            (0, -1, -1, -1, -1)
        );
        assert_eq!(c.command, "/usr/bin/cleanup --all");
        assert!(!c.unique && c.harakiri.is_none());
        assert!(unique_cron("0 0 -1 -1 -1 x").expect("parses").unique);
        let table: &[(&str, &str)] = &[
            ("0 0 -1 -1", "the weekday is \"\""),
            ("0 0 -1 -1 -1", "the command is missing"),
            ("* 0 -1 -1 -1 x", "the minute is \"*\""),
            ("60 0 -1 -1 -1 x", "minute 60 is out of range"),
            ("0 24 -1 -1 -1 x", "hour 24"),
            ("0 0 0 -1 -1 x", "day 0"),
            ("0 0 -1 13 -1 x", "month 13"),
            ("0 0 -1 -1 8 x", "weekday 8"),
        ];
        for (raw, want) in table {
            let err = cron(raw).expect_err(raw);
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn cron2_lines_parse() {
        let c = cron2("minute=-5,hour=3,unique=1,harakiri=30 backup.sh --fast").expect("parses");
        assert_eq!(
            (c.minute, c.hour, c.day, c.month, c.week),
            (-5, 3, -1, -1, -1)
        );
        assert_eq!(c.command, "backup.sh --fast");
        assert!(c.unique);
        assert_eq!(c.harakiri, Some(30));
        let c = cron2("echo every minute").expect("parses");
        assert_eq!((c.minute, c.week), (-1, -1));
        assert_eq!(c.command, "echo every minute");
        let table: &[(&str, &str)] = &[
            ("minute=5", "the command is missing"),
            ("minute=x cmd", "minute: expected a number"),
            ("second=5 cmd", "unknown key \"second\""),
            ("legion=a cmd", "not supported"),
            ("hour=25 cmd", "hour 25"),
            ("harakiri=-1 cmd", "harakiri: expected seconds"),
        ];
        for (raw, want) in table {
            let err = cron2(raw).expect_err(raw);
            assert!(err.contains(want), "{raw}: {err}");
        }
    }
}
