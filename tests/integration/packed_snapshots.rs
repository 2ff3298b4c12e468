//! Snapshots stored packed (`snapshot_blocks`, what an import writes) read
//! back exactly as the same snapshots stored as rows: pages at every block
//! boundary, time windows, heartbeats, counts, spans, the pyramid, boot
//! activity and a resume, on a run that is all blocks and on one that is
//! blocks followed by rows.

use heaplab::protocol::MemSnapshot;
use heaplab::store::{
    Batch, DeviceSpec, NewRun, PageRequest, RunKind, RunStatus, SnapshotPacker, SnapshotRow, Store,
    SNAPSHOT_BLOCK_ROWS, TIERS_S,
};

use crate::helpers::store;

const START_US: i64 = 1_767_571_200_000_000;
const N: i64 = 2 * SNAPSHOT_BLOCK_ROWS + 517;

/// `N` snapshots a second apart with what real runs have: reboots, tags
/// other than `hb`, missing figures, unknown keys, and a stamp that
/// arrives late (earlier than the one before it).
fn snapshots() -> Vec<SnapshotRow> {
    (1..=N)
        .map(|seq| {
            let late = if seq % 997 == 0 { -5_000_000 } else { 0 };
            let tag = match seq % 50 {
                0 => "http_root",
                7 => "boot",
                _ => "hb",
            };
            SnapshotRow {
                seq,
                line_no: (seq % 13 != 0).then_some(seq * 3),
                ts_us: START_US + seq * 1_000_000 + late,
                elapsed_ms: (seq % 2 == 0).then_some(seq % 700),
                boot: seq / 1_500,
                snapshot: MemSnapshot {
                    tag: tag.into(),
                    hf: Some(180_000 - seq * 7 % 9_000),
                    hi: (seq % 11 != 0).then_some(150_000 - (seq * 31) % 40_000),
                    hin: Some(1_024 + seq % 300),
                    hl: Some(60_000 + (seq * 17) % 5_000),
                    frag: Some(seq % 60),
                    pf: (seq % 5 != 0).then_some(8_000_000 - seq),
                    extras: if seq % 400 == 0 {
                        vec![
                            ("dma".into(), seq.to_string()),
                            ("note".into(), "é\"x".into()),
                        ]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                },
            }
        })
        .collect()
}

/// A live run of a new device (so it can be resumed).
async fn new_run(store: &Store, name: &str) -> i64 {
    let device = store
        .create_device(&DeviceSpec {
            name: name.into(),
            serial: Some(format!("/dev/tty{name}")),
            baud: 115_200,
            ..Default::default()
        })
        .await
        .expect("device");
    store
        .create_run(&NewRun {
            device_id: Some(device.id),
            kind: Some(RunKind::Live),
            started_us: START_US,
            status: Some(RunStatus::Active),
            ..Default::default()
        })
        .await
        .expect("run")
}

/// Writes `rows` in batches of 1,500 (so blocks straddle batches), the
/// first `packed` of them packed and the rest as rows.
async fn write(store: &Store, run: i64, rows: &[SnapshotRow], packed: usize) {
    let mut packer = SnapshotPacker::default();
    let (to_pack, as_rows) = rows.split_at(packed);
    let mut chunks = to_pack.chunks(1_500).peekable();
    while let Some(chunk) = chunks.next() {
        let mut batch = Batch::new(run);
        batch.snapshots = chunk.to_vec();
        batch.pack_snapshots(&mut packer).expect("pack");
        assert!(batch.snapshots.is_empty());
        if chunks.peek().is_none() {
            batch
                .snapshot_blocks
                .extend(packer.finish().expect("finish"));
        }
        store.write_batches(&[batch]).await.expect("write packed");
    }
    for chunk in as_rows.chunks(1_500) {
        let mut batch = Batch::new(run);
        batch.snapshots = chunk.to_vec();
        store.write_batches(&[batch]).await.expect("write rows");
    }
}

/// Everything a reader can ask of a run's snapshots, for comparison.
async fn readings(store: &Store, run: i64) -> Vec<String> {
    let mut out = Vec::new();
    let block = SNAPSHOT_BLOCK_ROWS;
    for after in [
        0,
        1,
        block - 1,
        block,
        block + 1,
        2 * block,
        N - 1,
        N,
        N + 5,
    ] {
        for limit in [1, 7, block, block + 3, i64::MAX] {
            let page = store
                .snapshots_page(run, PageRequest { after, limit })
                .await
                .expect("page");
            out.push(format!("page {after} {limit}: {page:?}"));
        }
    }
    let windows = [
        (None, None),
        (
            Some(START_US + 997 * 1_000_000 - 6_000_000),
            Some(START_US + 1_000 * 1_000_000),
        ),
        (
            Some(START_US + (block - 3) * 1_000_000),
            Some(START_US + (block + 3) * 1_000_000),
        ),
        (Some(START_US + N * 1_000_000), None),
        (Some(0), Some(START_US)),
    ];
    for (from, to) in windows {
        let rows = store
            .snapshots_between(run, from, to)
            .await
            .expect("between");
        out.push(format!("between {from:?} {to:?}: {rows:?}"));
    }
    out.push(format!(
        "hb {:?}",
        store.heartbeat_points(run).await.expect("hb")
    ));
    out.push(format!(
        "count {}",
        store.snapshot_count(run).await.expect("count")
    ));
    out.push(format!(
        "last {:?}",
        store.last_snapshot_ts(run).await.expect("last")
    ));
    out.push(format!(
        "span {:?}",
        store.snapshot_span(run).await.expect("span")
    ));
    for (from, to) in [(0, i64::MAX), (START_US + 10, START_US + 1_234 * 1_000_000)] {
        let last = store
            .last_activity(&[run], from, to)
            .await
            .expect("activity");
        out.push(format!("activity {from} {to}: {last:?}"));
    }
    for tier in TIERS_S {
        let rows = store.tier_rows(run, tier, None, None).await.expect("tier");
        out.push(format!("tier {tier}: {rows:?}"));
    }
    out
}

/// Both runs answered every reading alike.
fn compare(a: &[String], b: &[String], what: &str) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x, y, "{what}");
    }
}

#[tokio::test]
async fn packed_snapshots_read_as_rows_do() {
    let (store, _dir) = store().await;
    let rows = snapshots();
    let as_rows = new_run(&store, "rows").await;
    write(&store, as_rows, &rows, 0).await;
    let packed = new_run(&store, "packed").await;
    write(&store, packed, &rows, rows.len()).await;
    let mixed = new_run(&store, "mixed").await;
    write(&store, mixed, &rows, 2 * SNAPSHOT_BLOCK_ROWS as usize + 100).await;

    let want = readings(&store, as_rows).await;
    assert_eq!(
        store.snapshots(as_rows).await.expect("all"),
        rows,
        "the rows themselves round-trip"
    );
    compare(&want, &readings(&store, packed).await, "all packed");
    compare(&want, &readings(&store, mixed).await, "packed, then rows");

    // A run that stopped mid-way resumes after its last snapshot, packed
    // or not.
    let mut resumes = Vec::new();
    for run in [as_rows, packed, mixed] {
        store
            .finish_run(run, RunStatus::Interrupted, START_US + N * 1_000_000)
            .await
            .expect("interrupt");
        let device = store
            .run(run)
            .await
            .expect("run")
            .device_id
            .expect("device");
        let point = store
            .resume_point(device)
            .await
            .expect("resume")
            .expect("resumable");
        resumes.push((point.next_snapshot, point.boot));
    }
    assert_eq!(resumes[0], (N + 1, N / 1_500));
    assert!(resumes.iter().all(|r| *r == resumes[0]), "{resumes:?}");

    // Deleting a run takes its blocks with it.
    store.delete_run(packed).await.expect("delete");
    assert!(store
        .snapshots_page(packed, PageRequest::ALL)
        .await
        .expect("page")
        .is_empty());
}

/// Snapshots a run still holds as rows (not packed).
async fn rows_left(db: &std::path::Path, run: i64) -> i64 {
    crate::helpers::db_scalar(db, "SELECT COUNT(*) FROM snapshots WHERE run_id = $1", run).await
}

#[tokio::test]
async fn retention_packs_recorded_snapshots_and_readers_see_no_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = crate::helpers::test_db(dir.path(), "retention.db");
    let store = Store::open(&db).await.expect("open");
    let rows = snapshots();
    // Two recorded runs: every reading is taken before any packing.
    let (a, b) = (new_run(&store, "a").await, new_run(&store, "b").await);
    write(&store, a, &rows, 0).await;
    write(&store, b, &rows, 0).await;
    let want = readings(&store, a).await;
    let check = |what: &'static str| {
        let store = &store;
        let want = &want;
        async move {
            for run in [a, b] {
                compare(want, &readings(store, run).await, what);
            }
        }
    };

    // Seq 2,991 is stamped 5 s late, before seq 2,988–2,990: the cutoff
    // falls between them, and only a prefix in `seq` order is packed.
    let cutoff = START_US + 2_988 * 1_000_000;
    // Open runs: only whole blocks.
    let report = store.pack_snapshots_before(cutoff).await.expect("pack");
    assert_eq!(
        (report.snapshots_packed, report.snapshot_blocks_written),
        (2 * SNAPSHOT_BLOCK_ROWS as u64, 2)
    );
    assert_eq!(rows_left(&db, a).await, N - SNAPSHOT_BLOCK_ROWS);
    check("open runs, one block each").await;
    assert_eq!(
        store.snapshots(a).await.expect("all"),
        rows,
        "every snapshot, in order"
    );

    // Ended: the tail before the cutoff too, stopping at the first row
    // stamped after it (seq 2,988); late row 2,991 stays a row.
    for run in [a, b] {
        store
            .finish_run(run, RunStatus::Completed, START_US + N * 1_000_000)
            .await
            .expect("end");
    }
    let report = store.pack_snapshots_before(cutoff).await.expect("pack");
    assert_eq!(
        (report.snapshots_packed, report.snapshot_blocks_written),
        (2 * 987, 2)
    );
    assert_eq!(rows_left(&db, a).await, N - 2_987);
    check("ended runs, tail packed").await;
    let again = store.pack_snapshots_before(cutoff).await.expect("again");
    assert_eq!(again.snapshots_packed, 0, "a second pass finds nothing");

    // Everything.
    let report = store
        .pack_snapshots_before(i64::MAX)
        .await
        .expect("pack all");
    assert_eq!(report.snapshots_packed, 2 * (N as u64 - 2_987));
    assert_eq!(rows_left(&db, a).await, 0);
    assert_eq!(rows_left(&db, b).await, 0);
    check("all packed").await;
    assert_eq!(store.snapshots(b).await.expect("all"), rows);
}
