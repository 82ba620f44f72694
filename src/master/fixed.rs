//! Options the master acts on once, at start, and that a reload (SIGHUP)
//! therefore cannot change: the log file, the pidfile, the watched touch
//! files and FIFOs, the stats and metrics sockets, the user and group it
//! dropped to, the attached daemons and cron entries. Everything else a reload re-reads applies to the new
//! zygote and workers.

use rsgi_core::config::Config;

use super::machine::Sidecars;

type Same = fn(&Config, &Config) -> bool;

/// Each option by its canonical name, and whether two configs agree on it.
const FIXED_AT_START: &[(&str, Same)] = &[
    ("logto", |a, b| a.logto == b.logto),
    ("pidfile", |a, b| a.pidfile == b.pidfile),
    ("touch-reload", |a, b| a.touch_reload == b.touch_reload),
    ("master-fifo", |a, b| a.master_fifo == b.master_fifo),
    ("stats", |a, b| a.stats == b.stats),
    ("metrics", |a, b| a.metrics == b.metrics),
    ("uid", |a, b| a.uid == b.uid),
    ("gid", |a, b| a.gid == b.gid),
    ("vacuum", |a, b| a.vacuum == b.vacuum),
    // Attached daemons and cron entries are set up once, together.
    ("attach-daemon", |a, b| {
        Sidecars::from_config(a).daemons == Sidecars::from_config(b).daemons
    }),
    ("cron", |a, b| {
        let (a, b) = (Sidecars::from_config(a), Sidecars::from_config(b));
        a.crons == b.crons && a.cron_harakiri == b.cron_harakiri
    }),
];

/// The options `new` changes that only a restart applies.
pub fn changed_needing_restart(running: &Config, new: &Config) -> Vec<&'static str> {
    FIXED_AT_START
        .iter()
        .filter(|(_, same)| !same(running, new))
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsgi_core::config::OPTIONS;

    #[test]
    fn names_are_options() {
        for (name, _) in FIXED_AT_START {
            assert!(OPTIONS.iter().any(|o| o.name == *name), "{name}");
        }
    }

    #[test]
    fn only_the_changed_fixed_options_are_named() {
        let running = Config::default();
        assert!(changed_needing_restart(&running, &running.clone()).is_empty());
        let mut new = running.clone();
        new.logto = Some("/var/log/app.log".into());
        new.master_fifo = vec!["/run/app.fifo".into()];
        new.processes = running.processes + 3;
        assert_eq!(
            changed_needing_restart(&running, &new),
            ["logto", "master-fifo"]
        );
    }
}
