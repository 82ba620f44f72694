//! The process name `ps` and `top` show. A worker is a fork of the zygote
//! and inherits its argv, so without this `ps aux` calls every worker
//! "rsgi zygote".
//!
//! The command line is rewritten where the C runtime put argv, found from
//! the pointer it passes to `.init_array` functions (as Rust's std does to
//! read args), not from /proc/self/stat's arg_start: under valgrind that
//! address is valgrind's own arguments, and writing there broke its forks.
//! A short command line (`rsgi app.ini`) leaves little room, so a process
//! may also [`claim_environ`]: the environment strings that follow argv
//! are copied to the heap and their space joins the title's, as nginx's
//! `ngx_setproctitle` and uWSGI's `uwsgi_set_processname` do.
//!
//! [`Names`] is what each process is called: rsgi's own names, or with
//! `auto-procname` and the `procname*` options, uWSGI's.

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

/// Give the environment strings that directly follow argv to the title:
/// each is copied to the heap and `environ` pointed at the copy, so
/// `getenv` reads the same values. Call it first thing in `main`, before
/// any thread starts and before anything keeps a pointer into the
/// environment. The zygote does not: its command line is long, and a
/// Python process may hold such pointers.
pub fn claim_environ() {
    unsafe extern "C" {
        static mut environ: *mut *mut c_char;
    }
    let start = AREA_START.load(Ordering::Relaxed);
    let len = AREA_LEN.load(Ordering::Relaxed);
    if start.is_null() || len == 0 {
        return;
    }
    // SAFETY: single-threaded at the start of main (the caller's promise):
    // nothing reads or writes `environ` meanwhile. Each entry is a
    // NUL-terminated string; one that lies right after the area is copied
    // (strdup) before its bytes join the area, and the copy is never freed.
    unsafe {
        let env = *std::ptr::addr_of!(environ);
        if env.is_null() {
            return;
        }
        let mut end = start.add(len);
        let mut i = 0;
        loop {
            let s = *env.add(i);
            if s.is_null() || s.cast::<u8>() != end {
                break;
            }
            let n = libc::strlen(s) + 1;
            let copy = libc::strdup(s);
            if copy.is_null() {
                break;
            }
            *env.add(i) = copy;
            end = end.add(n);
            i += 1;
        }
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

/// The name of each kind of process, from `auto-procname` and the
/// `procname*` options, as uWSGI names them (core/utils.c
/// `uwsgi_set_processname`, core/master.c): any `procname*` option turns
/// `auto-procname` on; then the master is `procname-master`, else
/// `procname`, else "uWSGI master"; a worker is `procname`, else "uWSGI
/// worker N"; every name is `procname-prefix` + name + `procname-append`.
/// uWSGI has no zygote; rsgi's gets the worker's rule, "uWSGI zygote".
/// Without these options the master keeps its command line and the
/// others are "rsgi zygote" and "rsgi worker N".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub auto: bool,
    pub prefix: Option<String>,
    pub append: Option<String>,
    /// `procname`: every process's name.
    pub all: Option<String>,
    /// `procname-master`.
    pub master: Option<String>,
}

impl Names {
    fn auto(&self) -> bool {
        self.auto
            || self.prefix.is_some()
            || self.append.is_some()
            || self.all.is_some()
            || self.master.is_some()
    }

    fn decorate(&self, name: &str) -> String {
        let (prefix, append) = (
            self.prefix.as_deref().unwrap_or(""),
            self.append.as_deref().unwrap_or(""),
        );
        format!("{prefix}{name}{append}")
    }

    /// Like `name` in auto mode: `procname`, else `default`.
    fn named(&self, default: &str) -> Option<String> {
        self.auto()
            .then(|| self.decorate(self.all.as_deref().unwrap_or(default)))
    }

    /// The master's name; None: keep its command line.
    pub fn master(&self) -> Option<String> {
        match &self.master {
            Some(m) => Some(self.decorate(m)),
            None => self.named("uWSGI master"),
        }
    }

    /// The Emperor's name (uWSGI forks it as "uWSGI Emperor"); None: keep
    /// its command line.
    pub fn emperor(&self) -> Option<String> {
        self.named("uWSGI Emperor")
    }

    pub fn zygote(&self) -> String {
        self.named("uWSGI zygote")
            .unwrap_or_else(|| "rsgi zygote".to_string())
    }

    pub fn worker(&self, id: usize) -> String {
        self.named(&format!("uWSGI worker {id}"))
            .unwrap_or_else(|| format!("rsgi worker {id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_uwsgi() {
        let s = |v: &str| Some(v.to_string());
        let plain = Names::default();
        let auto = Names {
            auto: true,
            ..Names::default()
        };
        let spaced = Names {
            prefix: s("myapp "),
            ..Names::default()
        };
        let all = Names {
            all: s("app"),
            append: s(" [prod]"),
            ..Names::default()
        };
        let master = Names {
            master: s("boss"),
            all: s("app"),
            prefix: s("x-"),
            ..Names::default()
        };
        // (names) -> (master, emperor, zygote, worker 2)
        type Case<'a> = (
            &'a Names,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            &'a str,
        );
        let cases: [Case<'_>; 5] = [
            (&plain, None, None, "rsgi zygote", "rsgi worker 2"),
            (
                &auto,
                Some("uWSGI master"),
                Some("uWSGI Emperor"),
                "uWSGI zygote",
                "uWSGI worker 2",
            ),
            (
                &spaced,
                Some("myapp uWSGI master"),
                Some("myapp uWSGI Emperor"),
                "myapp uWSGI zygote",
                "myapp uWSGI worker 2",
            ),
            (
                &all,
                Some("app [prod]"),
                Some("app [prod]"),
                "app [prod]",
                "app [prod]",
            ),
            (&master, Some("x-boss"), Some("x-app"), "x-app", "x-app"),
        ];
        for (names, m, e, z, w) in cases {
            assert_eq!(names.master().as_deref(), m, "{names:?}");
            assert_eq!(names.emperor().as_deref(), e, "{names:?}");
            assert_eq!(names.zygote(), z, "{names:?}");
            assert_eq!(names.worker(2), w, "{names:?}");
        }
    }
}
