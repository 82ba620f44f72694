//! The OS side of attached daemons and cron commands: starting them,
//! reading pidfiles, signalling process groups, and cron's clock (the
//! local wall-clock minute). The machine (`machine::daemons`,
//! `machine::crons`) decides when; this only does.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rsgi_core::config::cron::Cron;
use rsgi_core::config::daemons::Daemon;

/// Start `daemon` with `/bin/sh -c`, as uWSGI does, in its own session
/// (so a signal to its process group reaches what the shell started),
/// stdin from /dev/null unless asked, stdout and stderr into rsgi's log.
/// Returns the pid of what was started: the daemon itself, or for
/// `daemonize` the short-lived parent of the daemon, which writes the
/// pidfile.
pub fn spawn_daemon(daemon: &Daemon, honour_stdin: bool) -> io::Result<i32> {
    let mut cmd = shell(&daemon.command);
    if !(daemon.stdin || honour_stdin) {
        cmd.stdin(Stdio::null());
    }
    if let Some(dir) = &daemon.chdir {
        cmd.current_dir(dir);
    }
    if let Some(gid) = daemon.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = daemon.uid {
        cmd.uid(uid);
    }
    let pidfile = match (&daemon.pidfile, daemon.daemonize) {
        (Some(p), true) => Some(CString::new(p.as_os_str().as_bytes())?),
        _ => None,
    };
    // A plain daemon dies with the master, as in uWSGI; a smart one is
    // meant to outlive it.
    let die_with_master = !daemon.is_smart();
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (setsid, prctl, close_range/fcntl,
    // fork, getpid, open, write, close, _exit) on data prepared before
    // the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if die_with_master {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            close_inherited_fds();
            if let Some(pidfile) = &pidfile {
                daemonize(pidfile)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id() as i32)
}

/// Run a cron command: `/bin/sh -c`, its own session (harakiri kills the
/// group), stdin /dev/null, output into rsgi's log.
pub fn run_cron(cron: &Cron) -> io::Result<i32> {
    let mut cmd = shell(&cron.command);
    cmd.stdin(Stdio::null());
    // SAFETY: as in `spawn_daemon`: async-signal-safe calls only.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            close_inherited_fds();
            Ok(())
        });
    }
    Ok(cmd.spawn()?.id() as i32)
}

fn shell(command: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// The listening sockets, the stats region and the lifeline are the
/// workers', not a daemon's: one holding a socket would keep its port
/// bound after rsgi stops. Every fd above stderr closes at exec.
fn close_inherited_fds() {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only marks fds.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if !done {
        // Kernels before 5.11: mark them one by one.
        for fd in 3..4096 {
            // SAFETY: fcntl on a number that may not be an open fd fails
            // harmlessly with EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// `smart-attach-daemon2`: fork once more, the parent leaves, the child
/// writes its pid to the pidfile and goes on to exec (uWSGI's
/// `daemon_spawn`).
fn daemonize(pidfile: &CString) -> io::Result<()> {
    // SAFETY: async-signal-safe calls only (see `spawn_daemon`).
    unsafe {
        match libc::fork() {
            -1 => return Err(io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        let fd = libc::open(
            pidfile.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 16];
        let text = decimal(libc::getpid(), &mut buf);
        let written = libc::write(fd, text.as_ptr().cast(), text.len());
        libc::close(fd);
        if written < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `n` and a newline in `buf`, without allocating.
fn decimal(n: i32, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = b'\n';
    let mut n = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The pid a pidfile names, if that process is alive (uWSGI's
/// `uwsgi_check_pidfile`: kill(pid, 0) succeeds).
pub fn live_pid(pidfile: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid = text.trim().parse::<i32>().ok().filter(|p| *p > 0)?;
    // SAFETY: signal 0 only checks that the process exists.
    (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// Signal the process group `pid` leads.
pub fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; the group is a daemon's or a
    // cron command's, each started in its own session.
    unsafe { libc::kill(-pid, signal) };
}

/// How long from `t` until the next minute begins (a little after, so
/// the wake-up reads the new minute).
pub fn until_next_minute(t: SystemTime) -> Duration {
    let into = t
        .duration_since(UNIX_EPOCH)
        .map(|d| Duration::from_nanos((d.as_nanos() % 60_000_000_000) as u64))
        .unwrap_or_default();
    Duration::from_secs(60).saturating_sub(into) + Duration::from_millis(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_without_allocating() {
        let mut buf = [0u8; 16];
        assert_eq!(decimal(0, &mut buf), b"0\n");
        assert_eq!(decimal(4194304, &mut buf), b"4194304\n");
        assert_eq!(decimal(i32::MAX, &mut buf), b"2147483647\n");
    }

    #[test]
    fn the_next_minute_is_after_the_boundary() {
        let t = UNIX_EPOCH + Duration::from_secs(60 * 1000 + 59);
        assert_eq!(until_next_minute(t), Duration::from_millis(1005));
        let t = UNIX_EPOCH + Duration::from_secs(60 * 1000);
        assert_eq!(until_next_minute(t), Duration::from_millis(60_005));
    }

    #[test]
    fn a_pidfile_names_a_live_process_or_nothing() {
        let dir = std::env::temp_dir().join(format!("rsgi-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("pid");
        std::fs::write(&p, format!("{}\n", std::process::id())).expect("write");
        assert_eq!(live_pid(&p), Some(std::process::id() as i32));
        std::fs::write(&p, "garbage").expect("write");
        assert_eq!(live_pid(&p), None);
        std::fs::write(&p, "0").expect("write");
        assert_eq!(live_pid(&p), None);
        assert_eq!(live_pid(&dir.join("missing")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
