//! Cliffs: the biggest drops between consecutive snapshots. They answer
//! "which step ate the heap" (the plan's "min dropped between
//! http_macros_post_parsed → http_macros_post_saved").

use serde::{Deserialize, Serialize};

use super::RunSummary;
use crate::store::SnapshotRow;

/// How many cliffs per metric a report lists.
pub(super) const CLIFFS_PER_METRIC: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cliff {
    pub metric: String,
    /// Bytes lost between the two snapshots (positive).
    pub drop: i64,
    pub before: i64,
    pub after: i64,
    pub tag_before: String,
    pub tag_after: String,
    pub seq_before: i64,
    pub seq_after: i64,
    pub line_no: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cliffs {
    pub hi: Vec<Cliff>,
    pub hin: Vec<Cliff>,
}

/// The largest drops of `hi` and of `hin`, biggest first. Pairs that span a
/// reboot are skipped: a reboot resets the heap, it does not consume it.
pub fn find_cliffs(snapshots: &[SnapshotRow]) -> Cliffs {
    RunSummary::from_rows(snapshots, &[]).cliffs
}
