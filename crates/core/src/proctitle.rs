//! The process name `ps` and `top` show. A worker is a fork of the zygote
//! and inherits its argv, so without this `ps aux` calls every worker
//! "rsgi zygote".
//!
//! The command line is rewritten where the C runtime put argv, found from
//! the pointer it passes to `.init_array` functions (as Rust's std does to
//! read args), not from /proc/self/stat's arg_start: under valgrind that
//! address is valgrind's own arguments, and writing there broke its forks.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use libc::{c_char, c_int};

/// Where the argv strings start, and their length with every NUL,
/// measured before anything overwrites them.
static AREA_START: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static AREA_LEN: AtomicUsize = AtomicUsize::new(0);

/// glibc calls `.init_array` functions with (argc, argv, envp).
#[used]
#[unsafe(link_section = ".init_array")]
static CAPTURE_ARGV: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture_argv;

extern "C" fn capture_argv(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
    let argc = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() || argc == 0 {
        return;
    }
    // SAFETY: the C runtime passed argc valid pointers to NUL-terminated
    // strings, which live (on the initial stack) for the whole process.
    unsafe {
        let start = (*argv).cast::<u8>();
        if start.is_null() {
            return;
        }
        // Through the last string that follows its predecessor directly
        // (the kernel lays them out so).
        let mut end = start;
        for i in 0..argc {
            let s = (*argv.add(i)).cast::<u8>();
            if s != end {
                break;
            }
            end = s.add(libc::strlen(s.cast()) + 1);
        }
        AREA_START.store(start, Ordering::Relaxed);
        AREA_LEN.store(end.offset_from(start).unsigned_abs(), Ordering::Relaxed);
    }
}

/// Set the kernel's 15-byte `comm` (top, pgrep) and the command line (ps).
pub fn set(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
    overwrite_argv(name);
}

/// Write `name` over the argv strings, NUL-padded to their full length.
/// The master execs the zygote with a blank argument so there is room.
fn overwrite_argv(name: &str) {
    let Some(area) = argv_area() else {
        return;
    };
    // Keep the last byte NUL, so the kernel reads no further.
    let n = name.len().min(area.len().saturating_sub(1));
    area[..n].copy_from_slice(&name.as_bytes()[..n]);
    area[n..].fill(0);
}

/// The argv strings, as one slice.
fn argv_area() -> Option<&'static mut [u8]> {
    let start = AREA_START.load(Ordering::Relaxed);
    let len = AREA_LEN.load(Ordering::Relaxed);
    if start.is_null() || len == 0 {
        return None;
    }
    // SAFETY: capture_argv measured these bytes, on the initial stack for
    // the whole process. Nothing else holds a reference into them: Rust's
    // and Python's copies of the arguments were made at start-up.
    Some(unsafe { std::slice::from_raw_parts_mut(start, len) })
}
