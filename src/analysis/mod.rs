//! Pure functions over a run's stored rows: derived metrics (with the
//! harness's names), the verdict against the acceptance criteria, cliffs and
//! run comparisons. No IO, so the CLI, the API, the pages and the tests all
//! get the same numbers.

mod cliffs;
mod compare;
mod derived;
mod verdict;

use serde::Serialize;

pub use cliffs::{find_cliffs, Cliff, Cliffs};
pub use compare::{
    compare_runs, MetricDelta, RunComparison, SnapshotValues, TagDelta, TagPresence,
};
pub use derived::{derive, Derived, PanicSummary, TripwireSummary};
pub use verdict::{judge, AcceptanceCriteria, Check, RunVerdict};

use crate::store::{EventRow, SnapshotRow};

/// Everything analysis says about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub derived: Derived,
    pub verdict: RunVerdict,
    pub cliffs: Cliffs,
}

impl RunReport {
    pub fn build(
        snapshots: &[SnapshotRow],
        events: &[EventRow],
        criteria: &AcceptanceCriteria,
    ) -> Self {
        let derived = derive(snapshots, events);
        let verdict = judge(&derived, criteria);
        RunReport {
            cliffs: find_cliffs(snapshots),
            derived,
            verdict,
        }
    }
}

pub use crate::protocol::HEARTBEAT_TAG;
