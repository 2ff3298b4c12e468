//! The heaptrace C core (firmware/lib/heaptrace) behind safe wrappers.
//!
//! The twin prints every protocol line and every `/api/health` body through
//! this C code — the same code the ESP32 runs — so whatever heaplab parses
//! from a twin it would parse from a board. The `#[repr(C)]` structs mirror
//! the headers field for field; a unit test compares their layout against
//! `sizeof`/`offsetof` computed by the C compiler (`layout_probe.c`).

use std::ffi::{c_char, CString};
use std::mem::MaybeUninit;

/// First buffer size tried for one serial line; the C side reports
/// truncation and the call is retried with a bigger buffer.
const LINE_BUF: usize = 256;
/// First buffer size for a health body (~1.3 KB with every field set).
const HEALTH_BUF: usize = 2048;
/// Upper bound for the retry loop: nothing the twin formats comes close.
const MAX_BUF: usize = 1 << 20;

/// `HT_TASK_NAME_LEN`: a task name fills at most this many bytes.
pub const TASK_NAME_LEN: usize = 24;

/// `ht_snapshot_t`: one heap snapshot (keys as in the serial protocol).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub hf: u32,
    pub hm: u32,
    pub hl: u32,
    pub hi: u32,
    pub hin: u32,
    pub pf: u32,
    pub pm: u32,
    pub pl: u32,
}

/// `ht_task_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct RawTask {
    name: [c_char; TASK_NAME_LEN],
    prio: u32,
    core: i32,
    stack_rem: u32,
}

/// One task's stack margin, as the tripwire's task dump prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub name: String,
    pub prio: u32,
    /// `-1` or `2147483647` when the task has no core affinity.
    pub core: i32,
    /// Stack high-water mark: bytes never used.
    pub stack_rem: u32,
}

/// `ht_window_t`: min/max between two `/api/health` calls.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub samples: u32,
    pub internal_free_min: u32,
    pub internal_free_max: u32,
    pub internal_largest_min: u32,
    pub internal_frag_max: u8,
    pub psram_free_min: u32,
    pub psram_free_max: u32,
    pub psram_largest_min: u32,
    pub psram_frag_max: u8,
}

/// `ht_tripwire_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct RawTripwire {
    threshold: u32,
    fired: bool,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct OptI64 {
    set: bool,
    v: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct OptF64 {
    set: bool,
    v: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct OptBool {
    set: bool,
    v: bool,
}

/// Declares `ht_health_t` (as `RawHealth`, in header order), the safe
/// [`HealthFields`] with the same fields, and the copy from one to the other.
/// One list for all three keeps the field order identical by construction.
macro_rules! health_struct {
    (@raw i64) => { OptI64 };
    (@raw f64) => { OptF64 };
    (@raw bool) => { OptBool };
    (@raw str) => { *const c_char };
    (@rust i64) => { Option<i64> };
    (@rust f64) => { Option<f64> };
    (@rust bool) => { Option<bool> };
    (@rust str) => { Option<String> };
    (@set $raw:expr, $val:expr, $keep:ident, i64) => {
        if let Some(v) = $val { $raw = OptI64 { set: true, v }; }
    };
    (@set $raw:expr, $val:expr, $keep:ident, f64) => {
        if let Some(v) = $val { $raw = OptF64 { set: true, v }; }
    };
    (@set $raw:expr, $val:expr, $keep:ident, bool) => {
        if let Some(v) = $val { $raw = OptBool { set: true, v }; }
    };
    (@set $raw:expr, $val:expr, $keep:ident, str) => {
        if let Some(s) = &$val {
            let c = c_string(s);
            // The CString's buffer is on the heap: moving it into `keep`
            // does not move the bytes the pointer refers to.
            $raw = c.as_ptr();
            $keep.push(c);
        }
    };
    ($($name:ident : $kind:ident),* $(,)?) => {
        #[repr(C)]
        #[derive(Debug, Clone, Copy)]
        struct RawHealth {
            $( $name: health_struct!(@raw $kind), )*
        }

        /// The `/api/health` fields the twin sets; `None` is written as
        /// JSON `null`. `snapshot` and `window` are applied first through
        /// `ht_health_set_snapshot` / `ht_health_set_window`, then every
        /// field that is `Some` overrides.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct HealthFields {
            pub snapshot: Option<Snapshot>,
            pub window: Option<WindowStats>,
            $( pub $name: health_struct!(@rust $kind), )*
        }

        impl HealthFields {
            /// Fills `raw` with the `Some` fields; the strings it points to
            /// are owned by `keep` and must outlive the use of `raw`.
            fn apply(&self, raw: &mut RawHealth, keep: &mut Vec<CString>) {
                $( health_struct!(@set raw.$name, self.$name, keep, $kind); )*
            }
        }
    };
}

health_struct! {
    uptime_seconds: i64,
    reset_reason: str,
    cpu_freq: i64,
    cpu_usage: f64,
    cpu_temperature: f64,
    heap_free: i64,
    heap_min: i64,
    heap_size: i64,
    heap_largest: i64,
    heap_internal_free: i64,
    heap_internal_min: i64,
    heap_internal_largest: i64,
    heap_fragmentation: i64,
    psram_free: i64,
    psram_min: i64,
    psram_largest: i64,
    psram_fragmentation: i64,
    heap_internal_free_min_window: i64,
    heap_internal_free_max_window: i64,
    heap_internal_largest_min_window: i64,
    heap_fragmentation_max_window: i64,
    psram_free_min_window: i64,
    psram_free_max_window: i64,
    psram_largest_min_window: i64,
    psram_fragmentation_max_window: i64,
    flash_used: i64,
    flash_total: i64,
    fs_type: str,
    fs_mounted: bool,
    fs_used_bytes: i64,
    fs_total_bytes: i64,
    mqtt_enabled: bool,
    mqtt_publish_enabled: bool,
    mqtt_connected: bool,
    mqtt_last_health_publish_ms: i64,
    mqtt_health_publish_age_ms: i64,
    display_fps: f64,
    display_lv_timer_us: i64,
    display_present_us: i64,
    wifi_rssi: i64,
    wifi_channel: i64,
    ip_address: str,
    hostname: str,
}

extern "C" {
    fn ht_frag_percent(free_bytes: u32, largest_block: u32) -> u8;
    fn ht_fmt_mem(
        buf: *mut c_char,
        cap: usize,
        tag: *const c_char,
        s: *const Snapshot,
        truncated: *mut bool,
    ) -> usize;
    fn ht_fmt_tripwire(
        buf: *mut c_char,
        cap: usize,
        tag: *const c_char,
        s: *const Snapshot,
        threshold: u32,
        truncated: *mut bool,
    ) -> usize;
    fn ht_fmt_task_header(
        buf: *mut c_char,
        cap: usize,
        task_count: u32,
        tag: *const c_char,
        truncated: *mut bool,
    ) -> usize;
    fn ht_fmt_task(buf: *mut c_char, cap: usize, t: *const RawTask, truncated: *mut bool) -> usize;
    fn ht_fmt_alloc_failed(
        buf: *mut c_char,
        cap: usize,
        size: u32,
        caps: u32,
        function: *const c_char,
        truncated: *mut bool,
    ) -> usize;
    fn ht_fmt_async_tcp_watermark(
        buf: *mut c_char,
        cap: usize,
        rem_units: u32,
        unit_bytes: u32,
        stack_size_raw: u32,
        truncated: *mut bool,
    ) -> usize;
    fn ht_fmt_log_suffix(
        buf: *mut c_char,
        cap: usize,
        elapsed_ms: u32,
        truncated: *mut bool,
    ) -> usize;
    fn ht_tasks_sort_by_margin(tasks: *mut RawTask, n: usize);
    fn ht_tripwire_init(t: *mut RawTripwire, threshold: u32);
    fn ht_tripwire_check(t: *mut RawTripwire, s: *const Snapshot) -> bool;
    fn ht_window_reset(w: *mut WindowStats);
    fn ht_window_update(w: *mut WindowStats, s: *const Snapshot);
    fn ht_window_take(w: *mut WindowStats, out: *mut WindowStats) -> bool;
    fn ht_health_init(h: *mut RawHealth);
    fn ht_health_set_snapshot(h: *mut RawHealth, s: *const Snapshot);
    fn ht_health_set_window(h: *mut RawHealth, w: *const WindowStats);
    fn ht_health_json(
        buf: *mut c_char,
        cap: usize,
        h: *const RawHealth,
        truncated: *mut bool,
    ) -> usize;
}

/// A C string for the formatters. An interior NUL would cut the text short
/// on the C side, so it becomes U+FFFD — what heaplab's parser turns a NUL
/// read from serial into anyway.
fn c_string(s: &str) -> CString {
    let clean = if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    };
    CString::new(clean).unwrap_or_default()
}

/// Runs a heaptrace formatter into a growing buffer until it fits.
fn format_with(
    initial: usize,
    mut write: impl FnMut(*mut c_char, usize, &mut bool) -> usize,
) -> String {
    let mut cap = initial.max(16);
    loop {
        let mut buf = vec![0u8; cap];
        let mut truncated = false;
        let len = write(buf.as_mut_ptr().cast(), cap, &mut truncated);
        if !truncated || cap >= MAX_BUF {
            buf.truncate(len.min(cap.saturating_sub(1)));
            return String::from_utf8_lossy(&buf).into_owned();
        }
        cap *= 2;
    }
}

/// `ht_frag_percent`: floor((1 − largest/free) × 100), 0..=100.
pub fn frag_percent(free_bytes: u32, largest_block: u32) -> u8 {
    // SAFETY: pure function on two integers.
    unsafe { ht_frag_percent(free_bytes, largest_block) }
}

/// `[Mem] <tag> hf=… … pl=…`
pub fn fmt_mem(tag: &str, s: &Snapshot) -> String {
    let tag = c_string(tag);
    // SAFETY: buf/cap come from format_with; tag and s outlive the call.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_mem(buf, cap, tag.as_ptr(), s, tr)
    })
}

/// `[Mem] TRIPWIRE fired tag=<tag> hin=…B < <threshold>B (…)`
pub fn fmt_tripwire(tag: &str, s: &Snapshot, threshold: u32) -> String {
    let tag = c_string(tag);
    // SAFETY: as in fmt_mem.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_tripwire(buf, cap, tag.as_ptr(), s, threshold, tr)
    })
}

/// `[Mem] Task dump (<n> tasks, sorted by stack margin) tag=<tag>`
pub fn fmt_task_header(task_count: u32, tag: &str) -> String {
    let tag = c_string(tag);
    // SAFETY: as in fmt_mem.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_task_header(buf, cap, task_count, tag.as_ptr(), tr)
    })
}

/// `[Task] name=<name> prio=… core=… stack_rem=…B`. Names longer than
/// [`TASK_NAME_LEN`] bytes are cut (at a character boundary), as FreeRTOS
/// does.
pub fn fmt_task(task: &TaskInfo) -> String {
    let raw = raw_task(task);
    // SAFETY: raw is a valid ht_task_t on the stack.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_task(buf, cap, &raw, tr)
    })
}

/// `[Mem] ALLOC_FAILED size=… caps=0x… fn=…`
pub fn fmt_alloc_failed(size: u32, caps: u32, function: &str) -> String {
    let function = c_string(function);
    // SAFETY: as in fmt_mem.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_alloc_failed(buf, cap, size, caps, function.as_ptr(), tr)
    })
}

/// `[Portal] AsyncTCP stack watermark: task=async_tcp rem=… units (… B), …`
pub fn fmt_async_tcp_watermark(rem_units: u32, unit_bytes: u32, stack_size_raw: u32) -> String {
    // SAFETY: only integers cross.
    format_with(LINE_BUF, |buf, cap, tr| unsafe {
        ht_fmt_async_tcp_watermark(buf, cap, rem_units, unit_bytes, stack_size_raw, tr)
    })
}

/// ` (<N>ms)`: the logger's elapsed-time suffix.
pub fn fmt_log_suffix(elapsed_ms: u32) -> String {
    // SAFETY: only integers cross.
    format_with(32, |buf, cap, tr| unsafe {
        ht_fmt_log_suffix(buf, cap, elapsed_ms, tr)
    })
}

fn raw_task(task: &TaskInfo) -> RawTask {
    let mut name = [0 as c_char; TASK_NAME_LEN];
    let mut end = task.name.len().min(TASK_NAME_LEN);
    while !task.name.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, byte) in name.iter_mut().zip(task.name[..end].bytes()) {
        // A NUL would end the name early on the C side.
        *slot = if byte == 0 {
            b'?' as c_char
        } else {
            byte as c_char
        };
    }
    RawTask {
        name,
        prio: task.prio,
        core: task.core,
        stack_rem: task.stack_rem,
    }
}

fn task_from_raw(raw: &RawTask) -> TaskInfo {
    let bytes: Vec<u8> = raw
        .name
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    TaskInfo {
        name: String::from_utf8_lossy(&bytes).into_owned(),
        prio: raw.prio,
        core: raw.core,
        stack_rem: raw.stack_rem,
    }
}

/// Sorts tightest stack first with the firmware's stable sort
/// (`ht_tasks_sort_by_margin`). Names pass through `ht_task_t`, so they come
/// back cut to [`TASK_NAME_LEN`] bytes.
pub fn sort_tasks_by_margin(tasks: &mut Vec<TaskInfo>) {
    let mut raw: Vec<RawTask> = tasks.iter().map(raw_task).collect();
    // SAFETY: raw holds raw.len() initialised tasks.
    unsafe { ht_tasks_sort_by_margin(raw.as_mut_ptr(), raw.len()) };
    *tasks = raw.iter().map(task_from_raw).collect();
}

/// The once-per-boot low internal heap tripwire (`ht_tripwire_t`).
#[derive(Debug, Clone)]
pub struct Tripwire(RawTripwire);

impl Tripwire {
    pub fn new(threshold: u32) -> Self {
        let mut raw = RawTripwire {
            threshold: 0,
            fired: false,
        };
        // SAFETY: raw is a valid, exclusively borrowed ht_tripwire_t.
        unsafe { ht_tripwire_init(&mut raw, threshold) };
        Tripwire(raw)
    }

    /// True exactly once: the first time `s.hin` is below the threshold.
    pub fn check(&mut self, s: &Snapshot) -> bool {
        // SAFETY: both pointers are valid for the call.
        unsafe { ht_tripwire_check(&mut self.0, s) }
    }

    pub fn threshold(&self) -> u32 {
        self.0.threshold
    }

    pub fn fired(&self) -> bool {
        self.0.fired
    }
}

/// The health window (`ht_window_t`): sampled every 200 ms, taken (and
/// reset) by each `/api/health` call.
#[derive(Debug, Clone)]
pub struct Window(WindowStats);

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}

impl Window {
    pub fn new() -> Self {
        let mut w = WindowStats::default();
        // SAFETY: w is a valid, exclusively borrowed ht_window_t.
        unsafe { ht_window_reset(&mut w) };
        Window(w)
    }

    pub fn update(&mut self, s: &Snapshot) {
        // SAFETY: both pointers are valid for the call.
        unsafe { ht_window_update(&mut self.0, s) };
    }

    /// The window since the previous take (`None` without samples); resets.
    pub fn take(&mut self) -> Option<WindowStats> {
        let mut out = WindowStats::default();
        // SAFETY: both pointers are valid for the call.
        let had = unsafe { ht_window_take(&mut self.0, &mut out) };
        had.then_some(out)
    }
}

/// The `/api/health` JSON object, written by `ht_health_json`.
pub fn health_json(fields: &HealthFields) -> String {
    let mut raw = MaybeUninit::<RawHealth>::uninit();
    // SAFETY: ht_health_init writes every field (copy of a zeroed static),
    // after which the struct is initialised: NULL pointers and unset options.
    let mut raw = unsafe {
        ht_health_init(raw.as_mut_ptr());
        raw.assume_init()
    };
    if let Some(s) = &fields.snapshot {
        // SAFETY: valid pointers for the call.
        unsafe { ht_health_set_snapshot(&mut raw, s) };
    }
    if let Some(w) = &fields.window {
        // SAFETY: valid pointers for the call.
        unsafe { ht_health_set_window(&mut raw, w) };
    }
    let mut keep = Vec::new();
    fields.apply(&mut raw, &mut keep);
    // SAFETY: raw's string pointers point into `keep`, alive until return.
    format_with(HEALTH_BUF, |buf, cap, tr| unsafe {
        ht_health_json(buf, cap, &raw, tr)
    })
}

#[cfg(test)]
mod tests;
