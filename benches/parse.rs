//! Parser throughput on a generated 1,000,000-line log (lines/s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use heaplab::protocol::{parse_line, LineKind};

#[path = "support/synthetic_log.rs"]
mod support;

const LINES: usize = 1_000_000;

fn parse(c: &mut Criterion) {
    let log = support::synthetic_log(LINES);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(10);
    group.bench_function("1M lines", |b| {
        b.iter(|| {
            let mut snapshots = 0usize;
            for raw in log.split(|&b| b == b'\n') {
                if let LineKind::Snapshot(_) = parse_line(raw).kind {
                    snapshots += 1;
                }
            }
            assert!(snapshots >= LINES / 2);
            snapshots
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
