//! Run A against run B, tag by tag: what the harness's `--compare` printed,
//! plus the minimum snapshot per tag (a tag's worst moment, not only its
//! last) and the verdict change.

use serde::{Deserialize, Serialize};

use super::{Derived, RunVerdict, TagSummary};
use crate::store::SnapshotRow;

/// The values compared for one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotValues {
    pub hin: Option<i64>,
    pub hm: Option<i64>,
    pub hi: Option<i64>,
    pub frag: Option<i64>,
    pub pf: Option<i64>,
}

impl SnapshotValues {
    pub(super) fn of(row: &SnapshotRow) -> Self {
        let s = &row.snapshot;
        SnapshotValues {
            hin: s.hin,
            hm: s.hm,
            hi: s.hi,
            frag: s.frag,
            pf: s.pf,
        }
    }

    /// B − A for every value both sides have.
    fn delta(a: &Self, b: &Self) -> Self {
        let d = |x: Option<i64>, y: Option<i64>| Some(y? - x?);
        SnapshotValues {
            hin: d(a.hin, b.hin),
            hm: d(a.hm, b.hm),
            hi: d(a.hi, b.hi),
            frag: d(a.frag, b.frag),
            pf: d(a.pf, b.pf),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagPresence {
    Both,
    OnlyA,
    OnlyB,
}

/// One tag's last and minimum snapshots on each side, and their deltas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagDelta {
    pub tag: String,
    pub presence: TagPresence,
    pub count_a: usize,
    pub count_b: usize,
    pub last_a: Option<SnapshotValues>,
    pub last_b: Option<SnapshotValues>,
    pub last_delta: Option<SnapshotValues>,
    /// The snapshot with the lowest `hin` for this tag.
    pub min_a: Option<SnapshotValues>,
    pub min_b: Option<SnapshotValues>,
    pub min_delta: Option<SnapshotValues>,
}

/// A whole-run number on both sides and B − A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricDelta {
    pub a: Option<i64>,
    pub b: Option<i64>,
    pub delta: Option<i64>,
}

impl MetricDelta {
    fn new(a: Option<i64>, b: Option<i64>) -> Self {
        MetricDelta {
            a,
            b,
            delta: a.zip(b).map(|(a, b)| b - a),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    pub tags: Vec<TagDelta>,
    pub hin_min: MetricDelta,
    pub frag_max: MetricDelta,
    pub pf_min: MetricDelta,
    pub pass_a: bool,
    pub pass_b: bool,
    /// `unchanged`, `fixed` (fail → pass) or `regressed` (pass → fail).
    pub verdict_change: String,
}

/// Run A against run B from their summaries: tags in order of first
/// appearance in A, then those only B has.
pub fn compare_runs(
    a: (&[TagSummary], &Derived, &RunVerdict),
    b: (&[TagSummary], &Derived, &RunVerdict),
) -> RunComparison {
    let mut order: Vec<&str> = Vec::new();
    for t in a.0.iter().chain(b.0) {
        if !order.contains(&t.tag.as_str()) {
            order.push(&t.tag);
        }
    }
    let find = |side: &[TagSummary],
                tag: &str|
     -> (usize, Option<SnapshotValues>, Option<SnapshotValues>) {
        side.iter()
            .find(|t| t.tag == tag)
            .map_or((0, None, None), |t| (t.count, Some(t.last), Some(t.min)))
    };
    let tags = order
        .into_iter()
        .map(|tag| {
            let (count_a, last_a, min_a) = find(a.0, tag);
            let (count_b, last_b, min_b) = find(b.0, tag);
            let presence = match (count_a, count_b) {
                (0, _) => TagPresence::OnlyB,
                (_, 0) => TagPresence::OnlyA,
                _ => TagPresence::Both,
            };
            let delta = |x: Option<SnapshotValues>, y: Option<SnapshotValues>| {
                Some(SnapshotValues::delta(&x?, &y?))
            };
            TagDelta {
                tag: tag.to_owned(),
                presence,
                count_a,
                count_b,
                last_delta: delta(last_a, last_b),
                min_delta: delta(min_a, min_b),
                last_a,
                last_b,
                min_a,
                min_b,
            }
        })
        .collect();
    let verdict_change = match (a.2.pass, b.2.pass) {
        (true, false) => "regressed",
        (false, true) => "fixed",
        _ => "unchanged",
    };
    RunComparison {
        tags,
        hin_min: MetricDelta::new(a.1.hin_min, b.1.hin_min),
        frag_max: MetricDelta::new(a.1.frag_max, b.1.frag_max),
        pf_min: MetricDelta::new(a.1.pf_min, b.1.pf_min),
        pass_a: a.2.pass,
        pass_b: b.2.pass,
        verdict_change: verdict_change.to_owned(),
    }
}
