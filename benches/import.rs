//! End-to-end import of a generated 1,000,000-line serial log into a fresh
//! SQLite file: parse, track, batch-write (lines/s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use heaplab::recorder::{import_path, ImportOptions};
use heaplab::store::Store;

#[path = "support/synthetic_log.rs"]
mod support;

const LINES: usize = 1_000_000;

fn import(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("big.log");
    std::fs::write(&log, support::synthetic_log(LINES)).expect("write log");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("import");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(10);
    let mut round = 0;
    group.bench_function("1M lines into SQLite", |b| {
        b.iter(|| {
            round += 1;
            let db = dir.path().join(format!("bench-{round}.db"));
            rt.block_on(async {
                let store = Store::open(&db).await.expect("open");
                let outcome = import_path(&store, &log, &ImportOptions::default())
                    .await
                    .expect("import");
                assert_eq!(outcome.lines, LINES as i64);
                store.close().await;
            });
            let _ = std::fs::remove_file(&db);
        })
    });
    group.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
