//! Processes a test starts: each leads its own process group, is killed
//! with everything it started and reaped when its [`Guard`] drops (on
//! every path, a panic included), and dies with the test binary.

use std::io::{Read, Write};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A started process, killed and reaped when dropped.
pub struct Guard {
    child: Child,
    /// Reaped by [`Guard::wait_exit`]: its pid may belong to another
    /// process by now, so /proc is not walked from it again.
    reaped: bool,
}

impl Guard {
    /// Start `cmd` as the leader of a new process group. Each `(fd, as)`
    /// in `inherit` is open in the child as descriptor `as` across exec;
    /// everything else the test holds stays close-on-exec (std's default),
    /// so no other child (another test's server) inherits it.
    pub fn spawn(cmd: &mut Command, inherit: &[(RawFd, RawFd)]) -> std::io::Result<Guard> {
        let inherit = inherit.to_vec();
        cmd.process_group(0);
        // SAFETY: the closure runs in the child between fork and exec, where
        // only async-signal-safe calls are allowed: it calls dup2, fcntl and
        // prctl on integers it owns, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &(fd, target) in &inherit {
                    // dup2 leaves the new descriptor open across exec; on
                    // itself it changes nothing, so clear the flag there.
                    let rc = if fd == target {
                        libc::fcntl(fd, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, target)
                    };
                    if rc == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                // If the test binary dies without dropping the guard (a CI
                // timeout kills it), this process goes with it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Ok(Guard {
            child: cmd.spawn()?,
            reaped: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn signal(&self, sig: i32) {
        assert!(!self.reaped, "signal {sig} to a process already reaped");
        // SAFETY: kill(2) on our own child, which is not reaped, so its
        // pid is still its own.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Wait up to `within` for it to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pid = self.pid();
        // Children that left the group (none do today) are found while the
        // pid is still this process's: it is not reaped yet.
        let strays = if self.reaped {
            Vec::new()
        } else {
            descendants(pid)
        };
        // SAFETY: kill(2) has no memory effects. The group is the one this
        // process leads; its id cannot name another group while any member
        // lives, and once none does the call finds nothing.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        for p in strays {
            // SAFETY: as above, on descendants of our unreaped child.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `cmd` to its end (within `within`, else kill it and panic), with
/// `input` on its stdin; its output.
pub fn run(cmd: &mut Command, input: &[u8], within: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(cmd, &[]).unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let child = guard.child();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let Some(status) = guard.wait_exit(within) else {
        panic!("{cmd:?} did not finish within {within:?}");
    };
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Every descendant of `pid`, from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// The descendants of `pid` whose name (comm) is `name` or starts with
/// it, sorted.
pub fn named_descendants(pid: i32, name: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = descendants(pid)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(name))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Worker pids: the master's children that are not the zygote.
pub fn worker_pids(master: i32) -> Vec<i32> {
    named_descendants(master, "rsgi worker")
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
pub fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}
