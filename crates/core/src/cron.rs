//! Which workers run a `@timer` or `@cron` function of uwsgidecorators
//! (uWSGI's signal targets). When a `@cron` runs is `config::cron`'s
//! `Schedule`, the rule cron entries of the config match by too.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
