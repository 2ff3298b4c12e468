//! Retention for long runs. Raw serial lines older than the policy's age
//! are deflated into `serial_blocks` (or dropped); snapshots and events are
//! always kept. Per-minute min/max rollups (`snapshot_rollups`) let a
//! week-long chart read ~10k rows instead of ~600k snapshots while keeping
//! every minute's minimum. Applied hourly by the server and by
//! `heaplab retention run`. This module is the policy (what is old, compact
//! or drop); the statements that carry it out are in `store/`.

use serde::Serialize;

use super::config::{RetentionConfig, RetentionMode};
use crate::store::{now_us, Result, Store};

/// What one application of the policy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    pub cutoff_us: i64,
    pub lines_compacted: u64,
    pub blocks_written: u64,
    pub lines_dropped: u64,
    pub rollup_runs: u64,
    pub rollup_minutes: u64,
}

/// Applies the policy once: lines older than `raw_serial_days` compacted or
/// dropped, rollups brought up to date.
pub async fn apply(store: &Store, policy: &RetentionConfig) -> Result<RetentionReport> {
    let cutoff = now_us() - (policy.raw_serial_days * 86_400_000_000.0) as i64;
    let lines = match policy.mode {
        RetentionMode::Compact => store.compact_serial_before(cutoff).await?,
        RetentionMode::Drop => store.drop_serial_before(cutoff).await?,
    };
    let (rollup_runs, rollup_minutes) = store.update_all_rollups().await?;
    Ok(RetentionReport {
        cutoff_us: lines.cutoff_us,
        lines_compacted: lines.lines_compacted,
        blocks_written: lines.blocks_written,
        lines_dropped: lines.lines_dropped,
        rollup_runs,
        rollup_minutes,
    })
}
