//! Processes the master runs beside the app (uWSGI's core/daemons.c):
//! `attach-daemon CMD`, `attach-control-daemon CMD`,
//! `smart-attach-daemon PIDFILE CMD`, `smart-attach-daemon2 PIDFILE CMD`
//! and the key=value `attach-daemon2`. Parsed here; the master's machine
//! decides when they start and stop, its shell spawns them.
//!
//! uWSGI's three kinds, kept:
//! - a plain daemon stays in the foreground; the master sees it die and
//!   starts it again;
//! - a smart daemon (a pidfile) daemonizes itself and writes the pidfile;
//!   the master watches the pid in it, starts the command when the pidfile
//!   names no live process, and leaves it running at shutdown;
//! - `smart-attach-daemon2` (or `daemonize=1`): the master daemonizes it
//!   and writes the pidfile for it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::value::Show;

/// uWSGI's default: pidfile checks (one a second) before a smart daemon
/// that never wrote its pidfile is started again.
const DEFAULT_FREQ: u32 = 10;

/// One attached daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daemon {
    /// Run with `/bin/sh -c`, as uWSGI does.
    pub command: String,
    /// A smart daemon: the pidfile names its process.
    pub pidfile: Option<PathBuf>,
    /// Smart daemons: seconds to wait for the pidfile before starting again.
    pub freq: u32,
    /// The master daemonizes it and writes `pidfile` for it.
    pub daemonize: bool,
    /// Its death stops the whole instance (`attach-control-daemon`,
    /// `control=1`); a reload leaves it running.
    pub control: bool,
    /// Sent to its process group at shutdown (default SIGTERM).
    pub stop_signal: i32,
    /// Sent instead of `stop_signal` when a reload restarts it.
    pub reload_signal: Option<i32>,
    /// Keep the master's stdin; by default it reads /dev/null.
    pub stdin: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chdir: Option<PathBuf>,
    /// Smart daemons: signal it at shutdown too (uWSGI leaves them).
    pub notify_pid: bool,
    /// Files whose touching restarts it (`touch=a;b`).
    pub touch: Vec<PathBuf>,
    /// Caps the delay before starting it again after quick deaths.
    pub max_throttle: Option<std::time::Duration>,
}

impl Daemon {
    fn new(command: &str) -> Daemon {
        Daemon {
            command: command.to_string(),
            pidfile: None,
            freq: DEFAULT_FREQ,
            daemonize: false,
            control: false,
            stop_signal: libc::SIGTERM,
            reload_signal: None,
            stdin: false,
            uid: None,
            gid: None,
            chdir: None,
            notify_pid: false,
            touch: Vec::new(),
            max_throttle: None,
        }
    }

    /// Whether the master watches a pidfile rather than its own child.
    pub fn is_smart(&self) -> bool {
        self.pidfile.is_some()
    }
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.command)
    }
}

impl Show for Daemon {
    fn show(&self) -> String {
        match &self.pidfile {
            Some(p) => format!("{} (pidfile {})", self.command, p.display()),
            None => self.command.clone(),
        }
    }
}

fn command(raw: &str) -> Result<&str, String> {
    let cmd = raw.trim();
    if cmd.is_empty() {
        return Err("expected a command to run".into());
    }
    Ok(cmd)
}

/// `attach-daemon CMD`.
pub fn attach(raw: &str) -> Result<Daemon, String> {
    Ok(Daemon::new(command(raw)?))
}

/// `attach-control-daemon CMD`.
pub fn attach_control(raw: &str) -> Result<Daemon, String> {
    Ok(Daemon {
        control: true,
        ..Daemon::new(command(raw)?)
    })
}

/// `smart-attach-daemon PIDFILE[,FREQ] CMD`.
pub fn smart(raw: &str) -> Result<Daemon, String> {
    smart_with(raw, false)
}

/// `smart-attach-daemon2 PIDFILE[,FREQ] CMD`: the master daemonizes it.
pub fn smart2(raw: &str) -> Result<Daemon, String> {
    smart_with(raw, true)
}

fn smart_with(raw: &str, daemonize: bool) -> Result<Daemon, String> {
    let raw = raw.trim();
    let Some((pidfile, cmd)) = raw.split_once(' ') else {
        return Err(format!("expected PIDFILE COMMAND, got {raw:?}"));
    };
    let (pidfile, freq) = match pidfile.split_once(',') {
        Some((p, f)) => (p, positive(f, "the pidfile check count")?),
        None => (pidfile, DEFAULT_FREQ),
    };
    Ok(Daemon {
        pidfile: Some(PathBuf::from(pidfile)),
        freq,
        daemonize,
        ..Daemon::new(command(cmd)?)
    })
}

/// `attach-daemon2 key=value,...`: uWSGI's keys, with `cmd` (or `command`,
/// `exec`) required. A key rsgi does not have is refused rather than
/// ignored, so a daemon never runs differently from what its line says.
pub fn attach2(raw: &str) -> Result<Daemon, String> {
    let mut daemon = Daemon::new("");
    let mut has_command = false;
    for (key, value) in kvlist(raw)? {
        let on = || !value.is_empty() && value != "0";
        match key.as_str() {
            "cmd" | "command" | "exec" => {
                daemon.command = command(&value)?.to_string();
                has_command = true;
            }
            "pidfile" => daemon.pidfile = Some(PathBuf::from(value)),
            "freq" => daemon.freq = positive(&value, "freq")?,
            "daemonize" | "daemon" => daemon.daemonize = on(),
            "control" => daemon.control = on(),
            "stopsignal" | "stop_signal" => daemon.stop_signal = signal(&value)?,
            "reloadsignal" | "reload_signal" => daemon.reload_signal = Some(signal(&value)?),
            "stdin" => daemon.stdin = on(),
            "uid" => daemon.uid = Some(id(&value, "uid")?),
            "gid" => daemon.gid = Some(id(&value, "gid")?),
            "chdir" => daemon.chdir = Some(PathBuf::from(value)),
            "notifypid" => daemon.notify_pid = on(),
            "touch" => daemon.touch.extend(
                value
                    .split(';')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| PathBuf::from(p.trim())),
            ),
            "max_throttle" => {
                let secs = positive(&value, "max_throttle")?;
                daemon.max_throttle = Some(std::time::Duration::from_secs(u64::from(secs)));
            }
            "ns_pid" | "legion" => {
                return Err(format!("the key {key:?} is not supported by rsgi"));
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} (rsgi has: cmd, pidfile, freq, daemonize, control, \
                     stopsignal, reloadsignal, stdin, uid, gid, chdir, notifypid, touch, \
                     max_throttle)"
                ));
            }
        }
    }
    if !has_command {
        return Err("needs a cmd= key: the command to run".into());
    }
    if daemon.daemonize && daemon.pidfile.is_none() {
        return Err("daemonize needs a pidfile= key to write the daemon's pid to".into());
    }
    Ok(daemon)
}

/// uWSGI's kvlist: `k=v,k=v`, where `\,` is a comma inside a value.
pub(crate) fn kvlist(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => current.push(next),
                None => current.push('\\'),
            },
            ',' => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(format!("expected key=value items, got {item:?}")),
        })
        .collect()
}

fn positive(raw: &str, what: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{what}: expected a positive number, got {raw:?}"))
}

fn id(raw: &str, what: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .map_err(|_| format!("{what}: expected a number, got {raw:?}"))
}

/// A signal by number (uWSGI's form) or name (`TERM`, `SIGTERM`).
fn signal(raw: &str) -> Result<i32, String> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|s| s as i32)
            .map_err(|_| format!("{n} is not a signal number"));
    }
    let name = if raw.to_ascii_uppercase().starts_with("SIG") {
        raw.to_ascii_uppercase()
    } else {
        format!("SIG{}", raw.to_ascii_uppercase())
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| format!("expected a signal number or name, got {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_control_daemons() {
        let d = attach("  memcached -p 11311 ").expect("parses");
        assert_eq!(d.command, "memcached -p 11311");
        assert!(!d.is_smart() && !d.control);
        assert_eq!(d.stop_signal, libc::SIGTERM);
        assert!(attach_control("x").expect("parses").control);
        assert!(attach(" ").is_err());
    }

    #[test]
    fn smart_daemons_take_a_pidfile_and_a_frequency() {
        let d = smart("/run/x.pid redis-server /etc/redis.conf").expect("parses");
        assert_eq!(
            d.pidfile.as_deref(),
            Some(std::path::Path::new("/run/x.pid"))
        );
        assert_eq!(d.command, "redis-server /etc/redis.conf");
        assert_eq!((d.freq, d.daemonize), (10, false));
        let d = smart2("/run/x.pid,3 sleep 100").expect("parses");
        assert_eq!((d.freq, d.daemonize), (3, true));
        assert!(smart("/run/only.pid").is_err());
        assert!(smart("/run/x.pid,zero cmd").is_err());
    }

    #[test]
    fn attach_daemon2_keys() {
        let d = attach2(
            "cmd=my cmd --a\\,b,pidfile=/p,daemonize=1,control=1,stopsignal=15,\
             reloadsignal=HUP,stdin=1,uid=1000,gid=1000,chdir=/srv,freq=5,notifypid=1,\
             touch=/a;/b,max_throttle=3",
        )
        .expect("parses");
        assert_eq!(d.command, "my cmd --a,b");
        assert_eq!(d.pidfile, Some(PathBuf::from("/p")));
        assert!(d.daemonize && d.control && d.stdin && d.notify_pid);
        assert_eq!(d.stop_signal, 15);
        assert_eq!(d.reload_signal, Some(libc::SIGHUP));
        assert_eq!((d.uid, d.gid), (Some(1000), Some(1000)));
        assert_eq!(d.chdir, Some(PathBuf::from("/srv")));
        assert_eq!(d.freq, 5);
        assert_eq!(d.touch, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(d.max_throttle, Some(std::time::Duration::from_secs(3)));
        let d = attach2("exec=x,stop_signal=SIGINT,control=0").expect("parses");
        assert_eq!((d.stop_signal, d.control), (libc::SIGINT, false));
    }

    #[test]
    fn attach_daemon2_refuses_what_it_cannot_honour() {
        let table: &[(&str, &str)] = &[
            ("pidfile=/p", "needs a cmd= key"),
            ("cmd=x,colour=red", "unknown key \"colour\""),
            ("cmd=x,ns_pid=1", "not supported by rsgi"),
            ("cmd=x,legion=l", "not supported by rsgi"),
            ("cmd=x,stopsignal=NOPE", "signal number or name"),
            ("cmd=x,stopsignal=99", "not a signal number"),
            ("cmd=x,uid=bob", "uid: expected a number"),
            ("cmd=x,daemonize=1", "needs a pidfile"),
            ("cmd", "key=value"),
        ];
        for (raw, want) in table {
            let err = attach2(raw).expect_err(raw);
            assert!(err.contains(want), "{raw}: {err}");
        }
    }
}
