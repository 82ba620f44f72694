//! Starting a zygote with fork+exec (the app's interpreter running rsgi's
//! extension, see [`python`]) and talking to it over its control socket. Its stdout/stderr are the master's (so the app's import errors
//! and tracebacks reach the user's log).

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Child;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use rsgi_core::config::Config;
use rsgi_core::ipc::control::Command as ZygoteCommand;
use rsgi_core::ipc::handoff::{self, Handoff};

use super::python;

/// A line a zygote sent, tagged with its generation.
#[derive(Debug)]
pub struct ZygoteLine {
    pub generation: u64,
    pub line: String,
}

pub struct ZygoteHandle {
    pub pid: i32,
    pub generation: u64,
    control: OwnedWriteHalf,
    /// Reaped by the master's SIGCHLD loop, not by `Child::wait`.
    _child: Child,
}

impl ZygoteHandle {
    /// Start a zygote for `handoff` (whose `control_fd` is filled in here).
    pub fn start(
        mut handoff: Handoff<Config>,
        natives: &python::Natives,
        lines: mpsc::UnboundedSender<ZygoteLine>,
    ) -> std::io::Result<ZygoteHandle> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        handoff.control_fd = theirs.as_raw_fd();
        let mut inherit = handoff.fds();
        let env = handoff.to_env().map_err(std::io::Error::other)?;
        let python = python::choose(
            &handoff.config,
            &std::env::current_exe()?,
            std::env::var_os("PATH"),
        )
        .map_err(std::io::Error::other)?;
        let (native_fds, builds) = natives.inherited();
        inherit.extend(native_fds);
        let mut cmd = python::zygote_command(&python, &builds, &handoff.config);
        cmd.env(handoff::ENV, env);
        // SAFETY: the closure runs between fork and exec in the child and
        // calls only async-signal-safe functions (fcntl, prctl).
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    }
                }
                // A zygote must not outlive its master.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        ours.set_nonblocking(true)?;
        let (read, write) = UnixStream::from_std(ours)?.into_split();
        let generation = handoff.generation;
        tokio::spawn(async move {
            let mut reader = BufReader::new(read).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if lines.send(ZygoteLine { generation, line }).is_err() {
                    return;
                }
            }
        });
        Ok(ZygoteHandle {
            pid: child.id() as i32,
            generation,
            control: write,
            _child: child,
        })
    }

    /// Send `command` on the control socket.
    pub async fn send(&mut self, command: ZygoteCommand) -> std::io::Result<()> {
        self.control.write_all(command.encode().as_bytes()).await
    }
}
