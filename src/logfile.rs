//! `logto`: every process's stdout and stderr go to one file opened with
//! O_APPEND, so each line (one `write`) lands whole whoever writes it —
//! the master's events, the request lines, and whatever the app prints.

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open `path` for appending and make it this process's stdout and stderr.
/// Called again after logrotate moved the file (`log-reopen`, SIGUSR2).
pub fn redirect(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto the standard descriptors; `file` stays open
        // for the call and is closed (our copy only) when dropped.
        if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
