//! A small tmpfs for tests that fill a disk (a full log disk), unmounted
//! when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{PATIENCE, run};

pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// A tmpfs of `size` (mount's `size=`), or None, with a note on
    /// stderr, where this test may not mount (run as root to test).
    pub fn mount(tag: &str, size: &str) -> Option<Tmpfs> {
        let at = std::env::temp_dir().join(format!("rsgi-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&at).ok()?;
        let out = run(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&at),
            b"",
            PATIENCE,
        );
        if !out.status.success() {
            let _ = std::fs::remove_dir(&at);
            eprintln!(
                "SKIPPED (the full disk part): cannot mount a tmpfs here ({}); run as root to test it",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(at))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Fill the disk: a file until no block is left, then `log` byte by
    /// byte up to the end of its last block. Returns the filler's path.
    pub fn fill(&self, log: &Path) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .expect("the log");
        while log.write_all(b"\n").is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the server may still hold the log open if the test failed.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
