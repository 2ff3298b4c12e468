//! The device protocol: serial text lines and `/api/health` JSON in, typed
//! values out; and the app images `POST /api/update` takes ([`app_image`]).
//!
//! Everything here is pure (no IO, no clocks) so the same parser serves the
//! live serial source, the artifact importer, the device twin's contract test
//! and the benchmarks. A line that matches no known kind is still returned
//! (as [`LineKind::Unrecognized`]) because the raw serial log is kept whole.

pub mod app_image;
mod boot;
mod health;
mod kv;
mod line;
mod mem;
mod task;

pub use boot::{BootMarker, CrashKind, CrashMarker};
pub use health::HealthSample;
pub use line::{parse_line, DeviceLine, LineKind};
pub use mem::{AllocFailure, MemSnapshot, Tripwire, HEARTBEAT_TAG, MEM_KEYS};
pub use task::{StackWatermark, TaskDumpHeader, TaskStack};

/// Fragmentation percent as the firmware computes it: how much of the free
/// memory is *not* in the largest block, floor((1 − largest/free) × 100),
/// clamped to 0..=100. No free memory means nothing to fragment (0).
pub fn frag_percent(free: i64, largest: i64) -> i64 {
    if free <= 0 || largest >= free {
        return 0;
    }
    let largest = largest.max(0);
    // Integer form of floor((1 - l/f) * 100) that matches the C core exactly.
    ((free - largest) * 100 / free).clamp(0, 100)
}

#[cfg(test)]
mod tests;
