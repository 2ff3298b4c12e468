//! Pure functions over a run's stored rows: derived metrics (with the
//! harness's names), the verdict against the acceptance criteria, cliffs and
//! run comparisons. No IO, so the CLI, the API, the pages and the tests all
//! get the same numbers.

mod cliffs;
mod compare;
mod derived;
mod summary;
mod verdict;

use serde::Serialize;

pub use cliffs::{find_cliffs, Cliff, Cliffs};
pub use compare::{
    compare_runs, MetricDelta, RunComparison, SnapshotValues, TagDelta, TagPresence,
};
pub use derived::{derive, Derived, PanicSummary, TripwireSummary};
pub use summary::{RunSummary, TagSummary, TaskMargin, SUMMARY_EVENT_KINDS, SUMMARY_VERSION};
pub use verdict::{judge, AcceptanceCriteria, Check, RunVerdict};

use crate::store::{EventRow, SnapshotRow};

/// Everything analysis says about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub derived: Derived,
    pub verdict: RunVerdict,
    pub cliffs: Cliffs,
    /// Per tag, in order of first appearance: count, last and worst values.
    pub per_tag: Vec<TagSummary>,
    /// The tightest stack margin seen per task, tightest first.
    pub task_stacks: Vec<TaskMargin>,
    /// All `[Task]` lines of the run (listed, paged, by the events API).
    pub task_lines: i64,
    /// Host time of the latest snapshot.
    pub last_snapshot_us: Option<i64>,
}

impl RunReport {
    /// From every row of a run (a summary folded on the spot).
    pub fn build(
        snapshots: &[SnapshotRow],
        events: &[EventRow],
        criteria: &AcceptanceCriteria,
    ) -> Self {
        Self::from_summary(RunSummary::from_rows(snapshots, events), criteria)
    }

    /// From a run's summary: what the pages and the API read.
    pub fn from_summary(summary: RunSummary, criteria: &AcceptanceCriteria) -> Self {
        let verdict = judge(&summary.derived, criteria);
        RunReport {
            verdict,
            derived: summary.derived,
            cliffs: summary.cliffs,
            per_tag: summary.tags,
            task_stacks: summary.stacks,
            task_lines: summary.task_lines,
            last_snapshot_us: summary.last_snapshot_us,
        }
    }
}

pub use crate::protocol::HEARTBEAT_TAG;
