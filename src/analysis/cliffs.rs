//! Cliffs: the biggest drops between consecutive snapshots. They answer
//! "which step ate the heap" (the plan's "min dropped between
//! http_macros_post_parsed → http_macros_post_saved").

use serde::{Deserialize, Serialize};

use crate::store::SnapshotRow;

/// How many cliffs per metric a report lists.
const CLIFFS_PER_METRIC: usize = 5;

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
    Cliffs {
        hi: top_drops(snapshots, "hi", |r| r.snapshot.hi),
        hin: top_drops(snapshots, "hin", |r| r.snapshot.hin),
    }
}

fn top_drops(
    snapshots: &[SnapshotRow],
    metric: &str,
    value: impl Fn(&SnapshotRow) -> Option<i64>,
) -> Vec<Cliff> {
    let mut drops: Vec<Cliff> = snapshots
        .windows(2)
        .filter(|w| w[0].boot == w[1].boot)
        .filter_map(|w| {
            let (before, after) = (value(&w[0])?, value(&w[1])?);
            (after < before).then(|| Cliff {
                metric: metric.to_owned(),
                drop: before - after,
                before,
                after,
                tag_before: w[0].snapshot.tag.clone(),
                tag_after: w[1].snapshot.tag.clone(),
                seq_before: w[0].seq,
                seq_after: w[1].seq,
                line_no: w[1].line_no,
            })
        })
        .collect();
    // Stable sort: equal drops keep their order in the run.
    drops.sort_by_key(|c| std::cmp::Reverse(c.drop));
    drops.truncate(CLIFFS_PER_METRIC);
    drops
}
