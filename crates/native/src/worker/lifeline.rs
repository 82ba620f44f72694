//! The worker's end of its lifeline to the master: a pipe whose write end
//! only the master holds, so end-of-file means the master is gone.
//!
//! It is watched from a thread of its own: with one Python thread the app
//! runs on the runtime's thread, which then polls nothing until the
//! request is done, and a worker that kept its listening sockets after
//! its master died kept a restarted rsgi from binding them (exit 30).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Start the watching thread. When the master is gone it lets go of the
/// `listeners` at once, wakes `gone` (the runtime then stops the worker
/// gracefully), and ends the process if a request still runs `mercy`
/// later.
pub fn watch(
    lifeline: OwnedFd,
    listeners: Vec<RawFd>,
    gone: Arc<Notify>,
    mercy: Duration,
) -> std::io::Result<()> {
    // Opened now: after the master died there may be no fd left to open.
    let placeholder = std::fs::File::open("/dev/null")?;
    std::thread::Builder::new()
        .name("lifeline".into())
        .spawn(move || {
            wait_for_eof(&lifeline);
            for fd in listeners {
                // The descriptor number stays taken (the runtime still has it
                // registered; listeners are never closed before exit), but it
                // now names /dev/null: this process no longer holds the
                // socket. Not shutdown(2): that would stop the socket for
                // every holder, systemd's included under socket activation.
                // SAFETY: dup3 onto a descriptor this process owns for life.
                unsafe { libc::dup3(placeholder.as_raw_fd(), fd, libc::O_CLOEXEC) };
            }
            tracing::warn!(
                pid = std::process::id(),
                "the master is gone; this worker stopped listening and exits once its requests finish"
            );
            gone.notify_one();
            std::thread::sleep(mercy + Duration::from_secs(1));
            tracing::warn!(
                pid = std::process::id(),
                "the master is gone and a request still runs after worker-reload-mercy; exiting"
            );
            // SAFETY: ends the process; nothing after this runs.
            unsafe { libc::_exit(1) }
        })?;
    Ok(())
}

/// Block until the pipe reports end-of-file (or fails).
fn wait_for_eof(pipe: &OwnedFd) {
    let mut byte = [0u8; 1];
    loop {
        let mut pfd = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one live pollfd, then read(2) into a local.
        let n = unsafe {
            libc::poll(&mut pfd, 1, -1);
            libc::read(pipe.as_raw_fd(), byte.as_mut_ptr().cast(), 1)
        };
        if n == 0 {
            return;
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) {
                return;
            }
        }
    }
}
