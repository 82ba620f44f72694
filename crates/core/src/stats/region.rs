//! The shared stats region: a `memfd` the master creates and maps, handed
//! down to the zygote and the workers as an inherited fd. Each worker
//! process owns one slot and updates it with relaxed atomics on the request
//! path (no lock, no syscall); the master reads every slot for stats,
//! harakiri and recycling decisions without asking the workers.
//!
//! Slots are not worker ids: during a rolling reload the old and the new
//! worker k run side by side, each with its own slot. The master hands out
//! free slots and knows which slot a pid writes to.
//!
//! Layout: `SLOTS` [`Counters`], then `SLOTS` × `cores` [`Core`]s. The
//! number of cores per slot is chosen when the master creates the region
//! (from `threads`) and read back from the memfd's size by every process
//! that maps it, so every Python thread of a worker has a core harakiri
//! and the stats see.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// Worker slots in the region; covers processes × 2 during reloads.
pub const SLOTS: usize = 256;
/// Cores per slot at least, whatever `threads` was at start, so a SIGHUP
/// that raises `threads` up to this needs no restart.
pub const MIN_CORES: usize = 32;
/// Bytes of the request URI kept per core, for harakiri and `req_info`.
pub const URI_LEN: usize = 120;
/// Apps (root + mountpoints) with counters of their own; more share the last.
pub const APPS: usize = 16;

/// What a worker is doing, as uWSGI's stats name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Free = 0,
    Starting = 1,
    Idle = 2,
    Busy = 3,
    Stopping = 4,
}

impl Status {
    fn from_u32(v: u32) -> Status {
        match v {
            1 => Status::Starting,
            2 => Status::Idle,
            3 => Status::Busy,
            4 => Status::Stopping,
            _ => Status::Free,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Free => "cheap",
            Status::Starting => "starting",
            Status::Idle => "idle",
            Status::Busy => "busy",
            Status::Stopping => "stopping",
        }
    }
}

/// One Python thread's state.
#[repr(C)]
pub struct Core {
    pub requests: AtomicU64,
    pub write_errors: AtomicU64,
    pub read_errors: AtomicU64,
    /// Microseconds since the epoch when the running request started; 0 idle.
    pub in_request_since: AtomicU64,
    /// Odd while `uri` is being written (a seqlock for readers).
    uri_seq: AtomicU32,
    uri_len: AtomicU32,
    uri: [AtomicU8; URI_LEN],
}

/// One worker process's counters.
#[repr(C)]
pub struct Counters {
    pub pid: AtomicU32,
    pub status: AtomicU32,
    /// The worker's Python threads (its cores in use), set when it is ready.
    pub threads: AtomicU32,
    /// The worker id (1-based) of the process, set when it is ready; the
    /// master knows it, this lets the workers (`uwsgi.workers()`) see it.
    pub worker_id: AtomicU32,
    pub requests: AtomicU64,
    pub exceptions: AtomicU64,
    pub tx: AtomicU64,
    /// Sum of response times in microseconds (avg_rt = sum / requests).
    pub rt_total_us: AtomicU64,
    /// Requests answered with each class: [1xx, 2xx, 3xx, 4xx, 5xx].
    pub status_classes: [AtomicU64; 5],
    /// Response-time histogram counts, buckets in [`RT_BUCKETS_MS`].
    pub rt_buckets: [AtomicU64; RT_BUCKETS_MS.len() + 1],
    /// Requests and exceptions per app, in config order.
    pub app_requests: [AtomicU64; APPS],
    pub app_exceptions: [AtomicU64; APPS],
}

/// One worker process's slot: its counters and its cores.
#[derive(Clone, Copy)]
pub struct Slot<'a> {
    counters: &'a Counters,
    pub cores: &'a [Core],
}

impl std::ops::Deref for Slot<'_> {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        self.counters
    }
}

/// Upper bounds (ms) of the response-time histogram buckets; one more
/// bucket holds everything slower.
pub const RT_BUCKETS_MS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// A mapping of the region.
pub struct Region {
    ptr: NonNull<u8>,
    /// Cores per slot.
    cores: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is only accessed through atomics, which are Sync.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

/// Bytes before the cores: every slot's counters.
const COUNTERS_SIZE: usize = SLOTS * std::mem::size_of::<Counters>();

/// The region's size with `cores` cores per slot.
fn size_for(cores: usize) -> Option<usize> {
    SLOTS
        .checked_mul(cores)?
        .checked_mul(std::mem::size_of::<Core>())?
        .checked_add(COUNTERS_SIZE)
}

/// Cores per slot of a region of `size` bytes, if it is one.
fn cores_for(size: usize) -> Option<usize> {
    let per_core_row = SLOTS * std::mem::size_of::<Core>();
    let cores_bytes = size.checked_sub(COUNTERS_SIZE)?;
    (cores_bytes % per_core_row == 0 && cores_bytes > 0).then_some(cores_bytes / per_core_row)
}

impl Region {
    /// Create a fresh, zeroed region (master) for workers of `threads`
    /// Python threads (at least [`MIN_CORES`] are tracked).
    pub fn create(threads: usize) -> io::Result<Region> {
        let cores = threads.max(MIN_CORES);
        let size = size_for(cores)
            .ok_or_else(|| io::Error::other(format!("{threads} threads is too many to track")))?;
        let fd =
            nix::sys::memfd::memfd_create(c"rsgi-stats", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .map_err(io::Error::from)?;
        let file = File::from(fd);
        file.set_len(size as u64)?;
        Region::map(OwnedFd::from(file))
    }

    /// Map a region inherited as `fd` (zygote, worker).
    ///
    /// # Safety
    /// `fd` must be the region's memfd, open and owned by nobody else.
    pub unsafe fn from_raw_fd(fd: RawFd) -> io::Result<Region> {
        // SAFETY: the caller hands over ownership of an open fd.
        Region::map(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn map(fd: OwnedFd) -> io::Result<Region> {
        let size = usize::try_from(nix::sys::stat::fstat(&fd).map_err(io::Error::from)?.st_size)
            .map_err(|_| io::Error::other("the stats region has a negative size"))?;
        let cores = cores_for(size).ok_or_else(|| {
            io::Error::other(format!(
                "a stats region of {size} bytes is not one rsgi made"
            ))
        })?;
        let len =
            std::num::NonZeroUsize::new(size).ok_or_else(|| io::Error::other("empty region"))?;
        // SAFETY: a fresh shared mapping of a file we hold, of its whole
        // size; all access goes through atomics.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                len,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )
        }
        .map_err(io::Error::from)?;
        Ok(Region {
            ptr: ptr.cast(),
            cores,
            fd,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Python threads per worker this region tracks.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Requests served by every worker of the region.
    pub fn total_requests(&self) -> u64 {
        (0..SLOTS)
            .map(|i| self.slot(i).requests.load(Relaxed))
            .sum()
    }

    /// The slot `index` (< SLOTS).
    pub fn slot(&self, index: usize) -> Slot<'_> {
        assert!(index < SLOTS, "stats slot {index} out of range");
        let base = self.ptr.as_ptr();
        // SAFETY: both ranges lie inside the mapping (index < SLOTS; the
        // mapping holds SLOTS counters then SLOTS × cores cores, and its
        // size was checked in `map`); both types are 8-byte aligned and
        // COUNTERS_SIZE is a multiple of 8; the memory is zero-initialised
        // by the kernel, a valid bit pattern for atomics.
        unsafe {
            let counters = &*base.cast::<Counters>().add(index);
            let first_core = base
                .add(COUNTERS_SIZE)
                .cast::<Core>()
                .add(index * self.cores);
            Slot {
                counters,
                cores: std::slice::from_raw_parts(first_core, self.cores),
            }
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let size = size_for(self.cores).unwrap_or(0);
        // SAFETY: unmapping exactly what `map` mapped.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), size) };
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Slot<'_> {
    /// Reset for a new process (master, before spawning into it).
    pub fn reset(&self, pid: u32) {
        self.pid.store(pid, Relaxed);
        self.status.store(Status::Starting as u32, Relaxed);
        self.threads.store(0, Relaxed);
        self.worker_id.store(0, Relaxed);
        for c in [
            &self.requests,
            &self.exceptions,
            &self.tx,
            &self.rt_total_us,
        ] {
            c.store(0, Relaxed);
        }
        let per_app = self.app_requests.iter().chain(self.app_exceptions.iter());
        for c in self
            .status_classes
            .iter()
            .chain(self.rt_buckets.iter())
            .chain(per_app)
        {
            c.store(0, Relaxed);
        }
        for core in self.cores {
            for c in [
                &core.requests,
                &core.write_errors,
                &core.read_errors,
                &core.in_request_since,
            ] {
                c.store(0, Relaxed);
            }
            core.uri_len.store(0, Relaxed);
        }
    }

    pub fn status(&self) -> Status {
        Status::from_u32(self.status.load(Relaxed))
    }

    pub fn set_status(&self, s: Status) {
        self.status.store(s as u32, Relaxed);
    }

    /// The cores the worker's Python threads use (at least core 0, which
    /// also counts the errors of requests that never reached one).
    pub fn cores_in_use(&self) -> &[Core] {
        let threads = (self.threads.load(Relaxed) as usize).clamp(1, self.cores.len());
        &self.cores[..threads]
    }

    /// A request started on `core`.
    pub fn begin(&self, core: usize, uri: &[u8]) {
        let Some(c) = self.cores.get(core) else {
            return;
        };
        c.set_uri(uri);
        c.in_request_since.store(now_us(), Relaxed);
        self.status.store(Status::Busy as u32, Relaxed);
    }

    /// A request ended on `core`.
    pub fn end(&self, core: usize, app: usize, status: u16, tx: u64, rt_us: u64, exception: bool) {
        let app = app.min(APPS - 1);
        self.app_requests[app].fetch_add(1, Relaxed);
        if exception {
            self.app_exceptions[app].fetch_add(1, Relaxed);
        }
        if let Some(c) = self.cores.get(core) {
            c.in_request_since.store(0, Relaxed);
            c.requests.fetch_add(1, Relaxed);
            if self
                .cores_in_use()
                .iter()
                .all(|c| c.in_request_since.load(Relaxed) == 0)
            {
                self.status.store(Status::Idle as u32, Relaxed);
            }
        }
        self.requests.fetch_add(1, Relaxed);
        self.tx.fetch_add(tx, Relaxed);
        self.rt_total_us.fetch_add(rt_us, Relaxed);
        if exception {
            self.exceptions.fetch_add(1, Relaxed);
        }
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.status_classes[class].fetch_add(1, Relaxed);
        let ms = rt_us / 1000;
        let bucket = RT_BUCKETS_MS
            .iter()
            .position(|&b| ms < b)
            .unwrap_or(RT_BUCKETS_MS.len());
        self.rt_buckets[bucket].fetch_add(1, Relaxed);
    }

    /// Microseconds since the epoch at which the oldest running request
    /// started, with its core; None when idle.
    pub fn oldest_request(&self) -> Option<(usize, u64)> {
        self.cores
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.in_request_since.load(Relaxed) {
                0 => None,
                t => Some((i, t)),
            })
            .min_by_key(|&(_, t)| t)
    }
}

impl Core {
    fn set_uri(&self, uri: &[u8]) {
        let n = uri.len().min(URI_LEN);
        self.uri_seq
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for (dst, &b) in self.uri.iter().zip(&uri[..n]) {
            dst.store(b, Relaxed);
        }
        self.uri_len.store(n as u32, Relaxed);
        self.uri_seq
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The URI of the current (or last) request; empty if it was being
    /// rewritten while we read.
    pub fn uri(&self) -> String {
        let before = self.uri_seq.load(std::sync::atomic::Ordering::Acquire);
        let n = (self.uri_len.load(Relaxed) as usize).min(URI_LEN);
        let bytes: Vec<u8> = self.uri[..n].iter().map(|b| b.load(Relaxed)).collect();
        let after = self.uri_seq.load(std::sync::atomic::Ordering::Acquire);
        if before % 2 == 1 || before != after {
            return String::new();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_between_mappings() {
        let a = Region::create(1).expect("memfd");
        let dup = nix::unistd::dup(&a.fd).expect("dup");
        // SAFETY: `dup` is a fresh fd we own.
        let b =
            unsafe { Region::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(dup)) }.expect("map");
        a.slot(3).reset(42);
        b.slot(3).begin(0, b"/slow?x=1");
        assert_eq!(a.slot(3).status(), Status::Busy);
        assert_eq!(a.slot(3).cores[0].uri(), "/slow?x=1");
        assert!(a.slot(3).oldest_request().is_some());
        b.slot(3).end(0, 1, 200, 13, 1500, false);
        assert_eq!(a.slot(3).app_requests[1].load(Relaxed), 1);
        assert_eq!(a.slot(3).requests.load(Relaxed), 1);
        assert_eq!(a.slot(3).tx.load(Relaxed), 13);
        assert_eq!(a.slot(3).status(), Status::Idle);
        assert_eq!(a.slot(3).status_classes[1].load(Relaxed), 1);
        assert_eq!(a.slot(3).rt_buckets[1].load(Relaxed), 1);
        assert!(a.slot(3).oldest_request().is_none());
    }

    #[test]
    fn every_thread_has_a_core_and_mappings_agree_on_how_many() {
        for (threads, cores) in [(1, MIN_CORES), (32, 32), (33, 33), (300, 300)] {
            let a = Region::create(threads).expect("memfd");
            assert_eq!(a.cores(), cores);
            let dup = nix::unistd::dup(&a.fd).expect("dup");
            // SAFETY: `dup` is a fresh fd we own.
            let b = unsafe { Region::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(dup)) }
                .expect("map");
            assert_eq!(b.cores(), cores);
            // The last core of the last slot is the region's last byte.
            let last = SLOTS - 1;
            b.slot(last).reset(7);
            b.slot(last).begin(cores - 1, b"/last");
            assert_eq!(
                a.slot(last).oldest_request().map(|(c, _)| c),
                Some(cores - 1)
            );
            assert_eq!(a.slot(last).cores[cores - 1].uri(), "/last");
            // Slots do not overlap.
            assert!(a.slot(last - 1).oldest_request().is_none());
        }
    }

    #[test]
    fn a_file_of_the_wrong_size_is_not_mapped() {
        for size in [0, COUNTERS_SIZE, COUNTERS_SIZE + 1] {
            let fd = nix::sys::memfd::memfd_create(c"t", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .expect("memfd");
            let file = File::from(fd);
            file.set_len(size as u64).expect("size");
            assert!(Region::map(OwnedFd::from(file)).is_err(), "{size} bytes");
        }
    }
}
