//! Chart rendering cost on a week of 1 Hz telemetry (600,000 snapshots,
//! ~50 lifecycle tags, a few dips): the full run chart at width 1200 with
//! five metrics, and M4 alone on one 600k-point series.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use heaplab::charts::{m4, run_chart, ChartRequest, Metric, Point};
use heaplab::protocol::MemSnapshot;
use heaplab::store::{EventRow, SnapshotRow};
use serde_json::json;

const SNAPSHOTS: usize = 600_000;
const T0: i64 = 1_700_000_000_000_000;
const LIFECYCLE: [&str; 5] = [
    "wifi up",
    "img decode start",
    "img decode end",
    "ota check",
    "mqtt up",
];

/// Deterministic, plausible telemetry: a slow sawtooth leak with noise,
/// a lifecycle tag every 12,000 snapshots, and dips at a few instants.
fn week() -> (Vec<SnapshotRow>, Vec<EventRow>) {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 2048) as i64
    };
    let dips = [90_000usize, 250_000, 401_234, 555_555];
    let mut hin = i64::MAX;
    let rows = (0..SNAPSHOTS)
        .map(|i| {
            let tag = if i % 12_000 == 0 {
                LIFECYCLE[(i / 12_000) % LIFECYCLE.len()]
            } else {
                "hb"
            };
            let leak = (i % 86_400) as i64 / 4;
            let mut hi = 180_000 - leak - noise();
            if dips.contains(&i) {
                hi = 24_000;
            }
            if i % 86_400 == 0 {
                hin = i64::MAX; // a reboot a day resets the low-water mark
            }
            hin = hin.min(hi);
            SnapshotRow {
                seq: i as i64,
                line_no: Some(i as i64),
                ts_us: T0 + i as i64 * 1_000_000,
                elapsed_ms: Some(i as i64 * 1000),
                boot: (i / 86_400) as i64,
                snapshot: MemSnapshot {
                    tag: tag.to_owned(),
                    hf: Some(hi + 20_000),
                    hm: Some(hin + 20_000),
                    hl: Some((hi / 2).min(65_536)),
                    hi: Some(hi),
                    hin: Some(hin),
                    frag: Some(30 + noise() % 25),
                    pf: Some(4_000_000 - noise() * 100),
                    pm: Some(3_500_000),
                    pl: Some(3_800_000),
                    extras: Vec::new(),
                },
            }
        })
        .collect();
    let events = vec![EventRow {
        seq: 1,
        line_no: None,
        ts_us: T0 + 401_234_000_000,
        boot: 4,
        kind: heaplab::store::EventKind::Tripwire,
        message: String::new(),
        data: json!({"tag": "img decode start", "hin": 24000, "threshold": 30720}),
    }];
    (rows, events)
}

fn charts(c: &mut Criterion) {
    let (rows, events) = week();
    let req = ChartRequest {
        metrics: vec![
            Metric::Hi,
            Metric::Hin,
            Metric::Hl,
            Metric::Pf,
            Metric::Frag,
        ],
        width: 1200,
        ..ChartRequest::default()
    };
    let mut group = c.benchmark_group("charts");
    group.sample_size(20);
    group.throughput(Throughput::Elements(SNAPSHOTS as u64));
    group.bench_function("run_chart 600k x 5 metrics @1200px", |b| {
        b.iter(|| {
            let chart = run_chart(&rows, &events, &req, "bench week").expect("renders");
            assert!(chart.svg.len() > 10_000);
            chart.svg.len()
        })
    });
    let points: Vec<Point> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Some(Point {
                x: r.ts_us,
                y: r.snapshot.hin?,
                idx: i as u32,
            })
        })
        .collect();
    let (x_min, x_max) = (T0, T0 + (SNAPSHOTS as i64 - 1) * 1_000_000);
    group.bench_function("m4 600k points to 1100 columns", |b| {
        b.iter(|| m4(&points, x_min, x_max, 1100).len())
    });
    group.finish();
}

criterion_group!(benches, charts);
criterion_main!(benches);
