//! The chart pyramid equals the raw rows it summarises: with columns made
//! of whole buckets, every column's minimum and maximum of every charted
//! metric read from a tier are those of the snapshots themselves, however
//! the snapshots were cut into write batches.

use heaplab::store::{tier_for, Batch, NewRun, RunKind, SnapshotRow, Store, TIERS_S};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000_000;

fn snapshot(seq: i64, ts_us: i64, hin: i64, hi: i64, frag: Option<i64>) -> SnapshotRow {
    let text = format!(
        "[Mem] hb hf={hi} hm={hin} hl={} hi={hi} hin={hin} pf=8000000 (0ms)",
        hi / 2
    );
    let heaplab::protocol::LineKind::Snapshot(mut s) =
        heaplab::protocol::parse_line(text.as_bytes()).kind
    else {
        panic!("snapshot line");
    };
    s.frag = frag;
    SnapshotRow {
        seq,
        line_no: None,
        ts_us,
        elapsed_ms: None,
        boot: 0,
        snapshot: s,
    }
}

/// Per column `[from + c·w, from + (c+1)·w)`: (min hin, max hin, min hi, max frag).
fn columns(rows: &[SnapshotRow], from: i64, w: i64, n: usize) -> Vec<[Option<i64>; 4]> {
    let mut out = vec![[None; 4]; n];
    for r in rows {
        let c = (r.ts_us - from).div_euclid(w);
        if c < 0 || c >= n as i64 {
            continue;
        }
        let col = &mut out[c as usize];
        let s = &r.snapshot;
        let fold = |acc: &mut Option<i64>, v: Option<i64>, f: fn(i64, i64) -> i64| {
            if let Some(v) = v {
                *acc = Some(acc.map_or(v, |a| f(a, v)));
            }
        };
        fold(&mut col[0], s.hin, i64::min);
        fold(&mut col[1], s.hin, i64::max);
        fold(&mut col[2], s.hi, i64::min);
        fold(&mut col[3], s.frag, i64::max);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn tier_columns_equal_raw_columns(
        gaps in proptest::collection::vec(1i64..20_000_000, 50..600),
        values in proptest::collection::vec((1_000i64..200_000, proptest::option::of(0i64..100)), 600),
        cuts in proptest::collection::vec(1usize..600, 0..5),
        tier_i in 0usize..2,
        per_column in 1i64..4,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let dir = tempfile::tempdir().expect("tmp");
        let store = rt.block_on(Store::open(&dir.path().join("p.db"))).expect("open");
        let run = rt.block_on(store.create_run(&NewRun { kind: Some(RunKind::Soak), started_us: T0, ..Default::default() })).expect("run");
        let mut ts = T0;
        let rows: Vec<SnapshotRow> = gaps.iter().zip(&values).enumerate().map(|(i, (gap, (hin, frag)))| {
            ts += gap;
            snapshot(i as i64 + 1, ts, *hin, hin + 5_000, *frag)
        }).collect();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % rows.len()).chain([rows.len()]).collect();
        ends.sort_unstable();
        for end in ends {
            if end > start {
                let mut batch = Batch::new(run);
                batch.snapshots = rows[start..end].to_vec();
                rt.block_on(store.write_batches(&[batch])).expect("write");
                start = end;
            }
        }
        let tier = TIERS_S[tier_i];
        let bucket = tier * 1_000_000;
        let w = bucket * per_column;
        let from = rows[0].ts_us.div_euclid(bucket) * bucket;
        let n = ((rows[rows.len() - 1].ts_us - from) / w + 1) as usize;
        let to = from + n as i64 * w - 1;
        let tiered = rt.block_on(store.tier_rows(run, tier, Some(from), Some(to))).expect("tier");
        prop_assert_eq!(columns(&tiered, from, w, n), columns(&rows, from, w, n));
        // The window's lowest point is there at any tier.
        let true_min = rows.iter().filter_map(|r| r.snapshot.hin).min();
        for t in TIERS_S {
            let all = rt.block_on(store.tier_rows(run, t, None, None)).expect("tier");
            prop_assert_eq!(all.iter().filter_map(|r| r.snapshot.hin).min(), true_min);
        }
    }
}

#[test]
fn a_week_wide_chart_reads_about_one_row_per_pixel_column() {
    let week = 7 * 86_400 * 1_000_000;
    let tier = tier_for(week, 1200).expect("a tier fits");
    // Two rows per bucket, so about 2 × (week / tier) rows: O(pixels).
    let rows = 2 * week / (tier * 1_000_000);
    assert!(rows <= 4 * 1200 * 6, "{rows} rows for 1200 columns");
}
