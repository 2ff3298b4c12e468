//! Retention's drop mode through the server's own retention task: with
//! `mode = "drop"` and `raw_serial_days = 1`, raw lines three days old are
//! deleted (not compacted into blocks), lines from the last day and every
//! snapshot stay. `soak.rs` tests the store's drop statement directly; this
//! tests the policy that picks it and computes its cutoff.

use std::time::Duration;

use heaplab::protocol::{parse_line, LineKind};
use heaplab::soak::config::{RetentionConfig, RetentionMode};
use heaplab::store::{now_us, Batch, NewRun, RunKind, SerialLineRow, SnapshotRow};

use crate::helpers::{db_scalar, eventually, server_config, start_server};

const HOUR_US: i64 = 3_600_000_000;

/// `n` heartbeat lines with their snapshots, one a minute from `start_us`.
fn heartbeats(run: i64, start_us: i64, first_line: i64, n: i64) -> Batch {
    let mut batch = Batch::new(run);
    for i in 0..n {
        let ts_us = start_us + i * 60_000_000;
        let line_no = first_line + i;
        let text = format!(
            "[Mem] hb hf=180000 hm=170000 hl=90000 hi=180000 hin={} frag=12 (0ms)",
            170_000 - i
        );
        let LineKind::Snapshot(snapshot) = parse_line(text.as_bytes()).kind else {
            panic!("a snapshot line: {text}");
        };
        batch.lines.push(SerialLineRow {
            line_no,
            ts_us,
            text,
            flags: 0,
        });
        batch.snapshots.push(SnapshotRow {
            seq: line_no,
            line_no: Some(line_no),
            ts_us,
            elapsed_ms: Some(0),
            boot: 0,
            snapshot,
        });
    }
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_mode_deletes_lines_older_than_its_days_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = server_config(dir.path(), Vec::new());
    let db = config.db.clone();
    config.soak.retention = Some(RetentionConfig {
        raw_serial_days: 1.0,
        mode: RetentionMode::Drop,
        interval_s: 1,
    });
    config.soak.validate().expect("valid retention");
    let server = start_server(config).await;
    let store = server.store.clone();

    // 120 lines from three days ago, then 60 from the last twelve hours.
    let start = now_us() - 72 * HOUR_US;
    let run = store
        .create_run(&NewRun {
            kind: Some(RunKind::Soak),
            started_us: start,
            ..Default::default()
        })
        .await
        .expect("run");
    let old = heartbeats(run, start, 1, 120);
    let fresh = heartbeats(run, now_us() - 12 * HOUR_US, 121, 60);
    store.write_batches(&[old, fresh]).await.expect("write");
    let before = store.serial_lines(run, 0, 1, None).await.expect("page");
    assert_eq!(before.total, 180);

    // The server's hourly task, here every second, drops the old ones.
    let left = eventually("old lines dropped", Duration::from_secs(60), || async {
        let page = store.serial_lines(run, 0, 100, None).await.expect("page");
        (page.total < 180).then_some(page)
    })
    .await;
    assert_eq!(left.total, 60, "only the last day's lines remain");
    assert_eq!(left.lines[0].line_no, 121);
    let blocks = db_scalar(
        &db,
        "SELECT COUNT(*) FROM serial_blocks WHERE run_id = $1",
        run,
    )
    .await;
    assert_eq!(blocks, 0, "dropped, not compacted");
    let snapshots = db_scalar(&db, "SELECT COUNT(*) FROM snapshots WHERE run_id = $1", run).await;
    assert_eq!(snapshots, 180, "snapshots are always kept");
    let hin_min = db_scalar(&db, "SELECT MIN(hin) FROM snapshots WHERE run_id = $1", run).await;
    assert_eq!(hin_min, 170_000 - 119, "the old minimum is still there");
    server.stop().await.expect("stop");
}
