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
        let store = rt.block_on(Store::open(&crate::helpers::test_db(dir.path(), "p.db"))).expect("open");
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

/// The compare chart of two week-long runs reads their pyramid tiers, not
/// every snapshot, and still draws each run's deepest dip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparing_week_long_runs_keeps_each_dip_from_a_few_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let server =
        crate::helpers::start_server(crate::helpers::server_config(dir.path(), vec![])).await;
    let store = &server.store;
    let week = 7 * 86_400 * 1_000_000i64;
    let n = 20_160; // one snapshot every 30 s
    let mut runs = Vec::new();
    for (r, dip) in [(0, 11_111), (1, 22_222)] {
        let run = store
            .create_run(&NewRun {
                kind: Some(RunKind::Soak),
                started_us: T0,
                ..Default::default()
            })
            .await
            .expect("run");
        let mut batch = Batch::new(run);
        for i in 0..n {
            let hin = if i == 7_000 + r * 5_000 {
                dip
            } else {
                150_000 - (i % 500)
            };
            batch.snapshots.push(snapshot(
                i + 1,
                T0 + i * (week / n),
                hin,
                hin + 800,
                Some(20),
            ));
        }
        store.write_batches(&[batch]).await.expect("write");
        runs.push(run);
    }
    let url = format!(
        "{}/charts/compare.json?a={}&b={}&metric=hin&align=since_boot&width=1000",
        server.url(),
        runs[0],
        runs[1]
    );
    let chart = crate::helpers::get_json(&url).await;
    let points = chart["points"].as_array().expect("points");
    let min_of = |series: i64| {
        points
            .iter()
            .filter(|p| p["series"] == series)
            .filter_map(|p| p["y"].as_i64())
            .min()
    };
    assert_eq!(min_of(0), Some(11_111), "run A's dip is drawn");
    assert_eq!(min_of(1), Some(22_222), "run B's dip is drawn");
    let tier = tier_for(week, 1000).expect("a week needs a tier");
    assert!(
        tier >= 300,
        "a 1000-column week chart reads {tier} s buckets, not snapshots"
    );
}
