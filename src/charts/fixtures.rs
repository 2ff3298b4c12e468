//! Snapshot and event rows shaped like a real run (lifecycle tags, a
//! low-water dip, tripwire/crash/alloc-failure events), shared by the chart
//! tests so each test states only what it changes.

use serde_json::json;

use super::spec::{ChartRequest, Metric};
use crate::protocol::MemSnapshot;
use crate::store::{EventRow, SnapshotRow};

pub(super) const T0: i64 = 1_700_000_000_000_000;

pub(super) fn snap(seq: i64, ts_us: i64, tag: &str, hin: i64) -> SnapshotRow {
    SnapshotRow {
        seq,
        line_no: Some(seq),
        ts_us,
        elapsed_ms: Some((ts_us - T0) / 1000),
        boot: 0,
        snapshot: MemSnapshot {
            tag: tag.to_owned(),
            hf: Some(hin + 40_000),
            hm: Some(hin),
            hl: Some(60_000),
            hi: Some(hin + 30_000),
            hin: Some(hin),
            frag: Some(35),
            pf: Some(4_000_000),
            pm: Some(3_900_000),
            pl: Some(3_800_000),
            extras: Vec::new(),
        },
    }
}

/// `n` snapshots one second apart: lifecycle tags every 100th, a dip at
/// 2/3 of the run.
pub(super) fn run(n: i64) -> Vec<SnapshotRow> {
    let tags = ["boot", "wifi up", "img decode start", "img decode end"];
    (0..n)
        .map(|i| {
            let tag = if i % 100 == 0 {
                tags[(i / 100) as usize % tags.len()]
            } else {
                "hb"
            };
            let hin = if i == n * 2 / 3 {
                21_532
            } else {
                150_000 - i % 7
            };
            snap(i, T0 + i * 1_000_000, tag, hin)
        })
        .collect()
}

pub(super) fn event(seq: i64, ts_us: i64, kind: &str, data: serde_json::Value) -> EventRow {
    EventRow {
        seq,
        line_no: None,
        ts_us,
        boot: 0,
        kind: crate::store::EventKind::parse(kind).expect("a known event kind"),
        message: String::new(),
        data,
    }
}

pub(super) fn events() -> Vec<EventRow> {
    vec![
        event(
            1,
            T0 + 400_000_000,
            "tripwire",
            json!({"tag": "img decode start", "hin": 21532, "threshold": 30720}),
        ),
        event(2, T0 + 500_000_000, "alloc_failed", json!({"size": 4096})),
        event(
            3,
            T0 + 550_000_000,
            "crash",
            json!({"kind": "LoadProhibited"}),
        ),
        event(4, T0 + 10_000_000, "boot", json!({})),
    ]
}

pub(super) fn req(metrics: &[Metric]) -> ChartRequest {
    ChartRequest {
        metrics: metrics.to_vec(),
        ..ChartRequest::default()
    }
}
