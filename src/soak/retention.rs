//! Retention for long runs: the policy. Raw serial lines older than the
//! policy's age are deflated into blocks (or dropped); snapshots older than
//! it are packed into blocks as imports store them (lossless); events and
//! the chart pyramid are always kept. Applied hourly by the server and
//! by `heaplab retention run`; the statements that carry it out are in
//! `store/`.

use super::config::{RetentionConfig, RetentionMode};
use crate::store::{now_us, Result, Store};

/// What one application of the policy did.
pub type RetentionReport = crate::store::CompactionReport;

/// Applies the policy once: lines older than `raw_serial_days` compacted or
/// dropped, snapshots older than it packed.
pub async fn apply(store: &Store, policy: &RetentionConfig) -> Result<RetentionReport> {
    let cutoff = now_us() - (policy.raw_serial_days * 86_400_000_000.0) as i64;
    let mut report = match policy.mode {
        RetentionMode::Compact => store.compact_serial_before(cutoff).await?,
        RetentionMode::Drop => store.drop_serial_before(cutoff).await?,
    };
    let packed = store.pack_snapshots_before(cutoff).await?;
    report.snapshots_packed = packed.snapshots_packed;
    report.snapshot_blocks_written = packed.snapshot_blocks_written;
    Ok(report)
}
