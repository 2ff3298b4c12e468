//! A counting global allocator: per thread, the live bytes and their peak
//! during one fuzz case, so a case whose memory grows beyond its bound
//! fails (see `docs/fuzzing.md` for the bound).
//!
//! Counters are per thread so the targets can run in parallel (the test
//! harness gives each `#[test]` its own thread); the code under test is
//! synchronous, so a case's allocations happen on its thread.
//!
//! One allocation larger than [`HARD_CAP`] during a case is refused outright
//! (the process then aborts, as Rust does on allocation failure): before
//! that, the case's input is written to its failure file with plain
//! `open`/`write` calls, because an allocator may not allocate or unwind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// No input of a fuzz case (≤ 1 MiB) may need one allocation this large.
pub const HARD_CAP: usize = 1 << 30;

pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// The current case's input and its failure file (a NUL-terminated
    /// path), kept as raw parts so the allocator can write them out
    /// without allocating.
    static INPUT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
    static DUMP_PATH: Cell<*const libc::c_char> = const { Cell::new(std::ptr::null()) };
}

/// What one case allocated: peak live bytes above the start, and the
/// largest single request.
#[derive(Debug, Clone, Copy)]
pub struct CaseAlloc {
    pub peak: usize,
    pub largest: usize,
}

/// Starts counting a case. `input` and `dump_path` must outlive the case.
pub fn begin_case(input: &[u8], dump_path: &std::ffi::CStr) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    LARGEST.with(|l| l.set(0));
    INPUT.with(|i| i.set((input.as_ptr(), input.len())));
    DUMP_PATH.with(|d| d.set(dump_path.as_ptr()));
    IN_CASE.with(|c| c.set(true));
}

pub fn end_case() -> CaseAlloc {
    IN_CASE.with(|c| c.set(false));
    INPUT.with(|i| i.set((std::ptr::null(), 0)));
    CaseAlloc {
        peak: PEAK.with(Cell::get).max(0) as usize,
        largest: LARGEST.with(Cell::get),
    }
}

fn grow(size: usize) {
    let _ = IN_CASE.try_with(|c| {
        if !c.get() {
            return;
        }
        let live = LIVE.with(Cell::get).saturating_add(size as isize);
        LIVE.with(|l| l.set(live));
        PEAK.with(|p| p.set(p.get().max(live)));
        LARGEST.with(|l| l.set(l.get().max(size)));
        if size > HARD_CAP {
            dump_input();
        }
    });
}

fn shrink(size: usize) {
    let _ = IN_CASE.try_with(|c| {
        if c.get() {
            LIVE.with(|l| l.set(l.get().saturating_sub(size as isize)));
        }
    });
}

/// Writes the case's input to its failure file and says so on stderr,
/// with system calls only.
fn dump_input() {
    let (ptr, len) = INPUT.with(Cell::get);
    let path = DUMP_PATH.with(Cell::get);
    let msg = b"fuzz: an allocation above HARD_CAP; input saved to the target's -alloc.bin\n";
    // SAFETY: `path` is a NUL-terminated string and `ptr..ptr+len` the
    // case's input, both kept alive by the engine for the whole case.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        if path.is_null() || ptr.is_null() {
            return;
        }
        let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
        if fd >= 0 {
            libc::write(fd, ptr.cast(), len);
            libc::close(fd);
        }
    }
}

fn refused(size: usize) -> bool {
    size > HARD_CAP && IN_CASE.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded to `System` unchanged (or refused with a
// null pointer, which the `GlobalAlloc` contract allows); the counters are
// plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new block then a free of the old one: a moving
        // realloc briefly holds both.
        grow(new_size);
        if refused(new_size) {
            shrink(new_size);
            return std::ptr::null_mut();
        }
        let out = System.realloc(ptr, layout, new_size);
        if out.is_null() {
            shrink(new_size);
        } else {
            shrink(layout.size());
        }
        out
    }
}
