//! The harness's derived block (`summary.json` → `derived`), plus the
//! counts heaplab adds (allocation failures, reboots).

use serde::{Deserialize, Serialize};

use super::RunSummary;
use crate::protocol::TaskStack;
use crate::store::{EventRow, SnapshotRow};

/// How many of the tightest task stacks a tripwire summary lists.
pub(super) const WORST_STACKS: usize = 6;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    pub hin_min: Option<i64>,
    pub hm_min: Option<i64>,
    pub pf_min: Option<i64>,
    pub pm_min: Option<i64>,
    pub frag_max: Option<i64>,
    /// Distinct snapshot tags in the order they first appeared.
    pub tags: Vec<String>,
    pub tripwire: TripwireSummary,
    pub panic: PanicSummary,
    pub alloc_failures: i64,
    pub reboots: i64,
    /// Highest fragmentation among steady-state (`hb`) snapshots: what the
    /// acceptance criterion is about, since transient peaks during a request
    /// are expected.
    pub steady_frag_max: Option<i64>,
    pub snapshots: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TripwireSummary {
    pub fired: bool,
    pub tag: Option<String>,
    pub hin: Option<i64>,
    pub threshold: Option<i64>,
    /// The tightest stacks from the task dump that followed, worst first.
    pub worst_stacks: Vec<TaskStack>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PanicSummary {
    pub detected: bool,
    pub kind: Option<String>,
    /// The first crash marker line.
    pub line: Option<String>,
    pub line_no: Option<i64>,
}

/// The derived block of a run, as its [`RunSummary`] folds it (events of
/// other kinds than [`super::SUMMARY_EVENT_KINDS`] are passed over).
pub fn derive(snapshots: &[SnapshotRow], events: &[EventRow]) -> Derived {
    RunSummary::from_rows(snapshots, events).derived
}
