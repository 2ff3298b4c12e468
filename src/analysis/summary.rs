//! A run's aggregates, folded one row at a time: the derived metrics, the
//! per-tag table, the top cliffs and the worst stack margin per task.
//!
//! This is the one place those numbers are computed. The recorder folds
//! every row it writes and stores the summary in the same transaction as
//! the rows, so a page of a week-long run reads one row instead of 600,000;
//! [`RunSummary::from_rows`] folds a whole run and must give the same
//! summary (the property tests check it for any split into batches).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cliffs::{Cliff, Cliffs, CLIFFS_PER_METRIC};
use super::compare::SnapshotValues;
use super::derived::{Derived, PanicSummary, TripwireSummary, WORST_STACKS};
use crate::protocol::{TaskStack, HEARTBEAT_TAG};
use crate::store::{EventKind, EventRow, SnapshotRow};

/// Bumped whenever what a summary holds changes; a stored summary of
/// another version is recomputed from the rows.
pub const SUMMARY_VERSION: u32 = 1;

/// The event kinds that change a summary; every other kind (status, ip,
/// http steps, notes) passes through without effect, also between a
/// tripwire and its task dump.
pub const SUMMARY_EVENT_KINDS: [EventKind; 6] = [
    EventKind::Tripwire,
    EventKind::Task,
    EventKind::TaskDump,
    EventKind::Crash,
    EventKind::AllocFailed,
    EventKind::Boot,
];

/// One tag's snapshots in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSummary {
    pub tag: String,
    pub count: usize,
    pub last: SnapshotValues,
    /// The snapshot with the lowest `hin` (the first on ties; the first
    /// snapshot when none has `hin`).
    pub min: SnapshotValues,
    pub hin_min: Option<i64>,
    pub frag_max: Option<i64>,
    pub pf_min: Option<i64>,
}

/// The tightest stack margin seen for one task, and where: the run page's
/// task table (one row per task, not one per `[Task]` line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMargin {
    #[serde(flatten)]
    pub task: TaskStack,
    /// The tag of the task dump it was printed in.
    pub dump_tag: Option<String>,
    pub line_no: Option<i64>,
    /// `[Task]` lines seen for this task.
    pub lines: i64,
}

/// The previous snapshot, for the cliff between it and the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastSnapshot {
    boot: i64,
    seq: i64,
    tag: String,
    hi: Option<i64>,
    hin: Option<i64>,
}

/// Everything a run page, the run API and a comparison need, kept current
/// row by row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub version: u32,
    pub derived: Derived,
    /// In order of first appearance.
    pub tags: Vec<TagSummary>,
    pub cliffs: Cliffs,
    /// The lowest `stack_rem` seen per task name, tightest first.
    pub stacks: Vec<TaskMargin>,
    /// `[Task]` lines in the run (the run page links to them, paged).
    pub task_lines: i64,
    /// Events folded (of [`SUMMARY_EVENT_KINDS`]), for progress and checks.
    pub events: i64,
    /// Host time of the latest snapshot (a run's recorded span ends here).
    pub last_snapshot_us: Option<i64>,
    last: Option<LastSnapshot>,
    /// Collecting the task dump that follows the first tripwire.
    dump_open: bool,
    dump: Vec<TaskStack>,
}

impl Default for RunSummary {
    fn default() -> Self {
        RunSummary {
            version: SUMMARY_VERSION,
            derived: Derived::default(),
            tags: Vec::new(),
            cliffs: Cliffs::default(),
            stacks: Vec::new(),
            task_lines: 0,
            events: 0,
            last_snapshot_us: None,
            last: None,
            dump_open: false,
            dump: Vec::new(),
        }
    }
}

impl RunSummary {
    /// Folds a whole run: snapshots and events each in their stored order.
    /// Snapshots and events never interact in a summary, so folding one
    /// list and then the other gives what folding them interleaved does.
    pub fn from_rows(snapshots: &[SnapshotRow], events: &[EventRow]) -> Self {
        let mut s = RunSummary::default();
        for row in snapshots {
            s.add_snapshot(row);
        }
        for event in events {
            s.add_event(event);
        }
        s
    }

    pub fn add_snapshot(&mut self, row: &SnapshotRow) {
        let s = &row.snapshot;
        let d = &mut self.derived;
        d.snapshots += 1;
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
        fold_max(&mut self.last_snapshot_us, Some(row.ts_us));
        self.add_to_tag(row);
        self.add_cliffs(row);
    }

    fn add_to_tag(&mut self, row: &SnapshotRow) {
        let values = SnapshotValues::of(row);
        let s = &row.snapshot;
        match self.tags.iter_mut().find(|t| t.tag == s.tag) {
            None => self.tags.push(TagSummary {
                tag: s.tag.clone(),
                count: 1,
                last: values,
                min: values,
                hin_min: s.hin,
                frag_max: s.frag,
                pf_min: s.pf,
            }),
            Some(t) => {
                t.count += 1;
                t.last = values;
                let lower = match (s.hin, t.min.hin) {
                    (Some(v), Some(best)) => v < best,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if lower {
                    t.min = values;
                }
                fold_min(&mut t.hin_min, s.hin);
                fold_max(&mut t.frag_max, s.frag);
                fold_min(&mut t.pf_min, s.pf);
            }
        }
    }

    fn add_cliffs(&mut self, row: &SnapshotRow) {
        let s = &row.snapshot;
        if let Some(prev) = self.last.take() {
            if prev.boot == row.boot {
                let pairs = [
                    ("hi", prev.hi, s.hi, &mut self.cliffs.hi),
                    ("hin", prev.hin, s.hin, &mut self.cliffs.hin),
                ];
                for (metric, before, after, top) in pairs {
                    if let (Some(before), Some(after)) = (before, after) {
                        if after < before {
                            insert_cliff(
                                top,
                                Cliff {
                                    metric: metric.to_owned(),
                                    drop: before - after,
                                    before,
                                    after,
                                    tag_before: prev.tag.clone(),
                                    tag_after: s.tag.clone(),
                                    seq_before: prev.seq,
                                    seq_after: row.seq,
                                    line_no: row.line_no,
                                },
                            );
                        }
                    }
                }
            }
        }
        self.last = Some(LastSnapshot {
            boot: row.boot,
            seq: row.seq,
            tag: s.tag.clone(),
            hi: s.hi,
            hin: s.hin,
        });
    }

    pub fn add_event(&mut self, event: &EventRow) {
        let kind = event.kind;
        if !SUMMARY_EVENT_KINDS.contains(&kind) {
            return;
        }
        self.events += 1;
        let d = &mut self.derived;
        d.reboots = d.reboots.max(event.boot);
        if self.dump_open && !matches!(kind, EventKind::Task | EventKind::TaskDump) {
            self.dump_open = false;
        }
        match kind {
            EventKind::AllocFailed => d.alloc_failures += 1,
            EventKind::Tripwire if !d.tripwire.fired => {
                d.tripwire = TripwireSummary {
                    fired: true,
                    tag: text(&event.data, "tag"),
                    hin: int(&event.data, "hin"),
                    threshold: int(&event.data, "threshold"),
                    worst_stacks: Vec::new(),
                };
                self.dump_open = true;
            }
            EventKind::Crash if !d.panic.detected => {
                d.panic = PanicSummary {
                    detected: true,
                    kind: text(&event.data, "kind"),
                    line: Some(event.message.clone()),
                    line_no: event.line_no,
                }
            }
            EventKind::Task => self.add_task(event),
            _ => {}
        }
    }

    fn add_task(&mut self, event: &EventRow) {
        self.task_lines += 1;
        // From a reference: cloning the map first cost a week's import more
        // than reading the task did.
        let Ok(task) = TaskStack::deserialize(&event.data) else {
            return;
        };
        if self.dump_open {
            self.dump.push(task.clone());
            let mut worst = self.dump.clone();
            worst.sort_by_key(|t| t.stack_rem.unwrap_or(i64::MAX));
            worst.truncate(WORST_STACKS);
            self.derived.tripwire.worst_stacks = worst;
        }
        let margin = |t: &TaskStack| t.stack_rem.unwrap_or(i64::MAX);
        let seen = TaskMargin {
            dump_tag: text(&event.data, "dump_tag"),
            line_no: event.line_no,
            lines: 1,
            task,
        };
        match self
            .stacks
            .iter_mut()
            .find(|t| t.task.name == seen.task.name)
        {
            Some(known) => {
                known.lines += 1;
                if margin(&seen.task) >= margin(&known.task) {
                    return;
                }
                let lines = known.lines;
                *known = TaskMargin { lines, ..seen };
            }
            None => self.stacks.push(seen),
        }
        self.stacks.sort_by(|a, b| {
            margin(&a.task)
                .cmp(&margin(&b.task))
                .then(a.task.name.cmp(&b.task.name))
        });
    }
}

/// Keeps the biggest drops, biggest first; a later drop equal to an
/// earlier one goes after it (the run's order breaks ties).
fn insert_cliff(top: &mut Vec<Cliff>, cliff: Cliff) {
    let at = top.partition_point(|c| c.drop >= cliff.drop);
    if at < CLIFFS_PER_METRIC {
        top.insert(at, cliff);
        top.truncate(CLIFFS_PER_METRIC);
    }
}

pub(super) fn fold_min(acc: &mut Option<i64>, v: Option<i64>) {
    if let Some(v) = v {
        *acc = Some(acc.map_or(v, |a| a.min(v)));
    }
}

pub(super) fn fold_max(acc: &mut Option<i64>, v: Option<i64>) {
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
