//! The harness's derived block (`summary.json` → `derived`), plus the
//! counts heaplab adds (allocation failures, reboots).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HEARTBEAT_TAG;
use crate::protocol::TaskStack;
use crate::store::{EventRow, SnapshotRow};

/// How many of the tightest task stacks a tripwire summary lists.
const WORST_STACKS: usize = 6;

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

pub fn derive(snapshots: &[SnapshotRow], events: &[EventRow]) -> Derived {
    let mut d = Derived {
        snapshots: snapshots.len() as i64,
        ..Default::default()
    };
    for row in snapshots {
        let s = &row.snapshot;
        fold_min(&mut d.hin_min, s.hin);
        fold_min(&mut d.hm_min, s.hm);
        fold_min(&mut d.pf_min, s.pf);
        fold_min(&mut d.pm_min, s.pm);
        fold_max(&mut d.frag_max, s.frag);
        if s.tag == HEARTBEAT_TAG {
            fold_max(&mut d.steady_frag_max, s.frag);
        }
        if !d.tags.iter().any(|t| t == &s.tag) {
            d.tags.push(s.tag.clone());
        }
        d.reboots = d.reboots.max(row.boot);
    }
    for (i, event) in events.iter().enumerate() {
        d.reboots = d.reboots.max(event.boot);
        match event.kind.as_str() {
            "alloc_failed" => d.alloc_failures += 1,
            "tripwire" if !d.tripwire.fired => {
                d.tripwire = TripwireSummary {
                    fired: true,
                    tag: text(&event.data, "tag"),
                    hin: int(&event.data, "hin"),
                    threshold: int(&event.data, "threshold"),
                    worst_stacks: worst_stacks(&events[i + 1..]),
                }
            }
            "crash" if !d.panic.detected => {
                d.panic = PanicSummary {
                    detected: true,
                    kind: text(&event.data, "kind"),
                    line: Some(event.message.clone()),
                    line_no: event.line_no,
                }
            }
            _ => {}
        }
    }
    d
}

/// The task dump right after a tripwire: consecutive `task_dump`/`task`
/// events, tightest stacks first.
fn worst_stacks(after: &[EventRow]) -> Vec<TaskStack> {
    let mut tasks: Vec<TaskStack> = after
        .iter()
        .take_while(|e| matches!(e.kind.as_str(), "task" | "task_dump"))
        .filter(|e| e.kind == "task")
        .filter_map(|e| serde_json::from_value(e.data.clone()).ok())
        .collect();
    tasks.sort_by_key(|t| t.stack_rem.unwrap_or(i64::MAX));
    tasks.truncate(WORST_STACKS);
    tasks
}

fn fold_min(acc: &mut Option<i64>, v: Option<i64>) {
    if let Some(v) = v {
        *acc = Some(acc.map_or(v, |a| a.min(v)));
    }
}

fn fold_max(acc: &mut Option<i64>, v: Option<i64>) {
    if let Some(v) = v {
        *acc = Some(acc.map_or(v, |a| a.max(v)));
    }
}

fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key)?.as_str().map(str::to_owned)
}

fn int(data: &Value, key: &str) -> Option<i64> {
    data.get(key)?.as_i64()
}
