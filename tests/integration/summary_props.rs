//! The recorder's run summary (folded row by row, written with each batch)
//! equals a full recomputation from the stored rows, whatever the stream
//! (reboots, tripwires with task dumps, crashes, allocation failures,
//! garbage) and however it is cut into batches; serial compaction does not
//! change it, and deleting the run deletes it.

use heaplab::analysis::{RunSummary, SUMMARY_VERSION};
use heaplab::recorder::RunTracker;
use heaplab::report::recompute_summary;
use heaplab::store::{Batch, NewRun, RunKind, Store};
use proptest::prelude::*;

/// One serial line of a random but plausible stream.
fn line() -> impl Strategy<Value = String> {
    let tag = prop_oneof![
        Just("hb"),
        Just("boot"),
        Just("setup"),
        Just("http_root"),
        Just("lvgl_switch_pre_macro1"),
    ];
    let heap = 1_000i64..200_000;
    prop_oneof![
        6 => (tag, heap.clone(), heap.clone(), 0i64..100, proptest::option::of(0i64..8_000_000))
            .prop_map(|(tag, hi, hin, frag, pf)| {
                let pf = pf.map(|v| format!(" pf={v}")).unwrap_or_default();
                format!("[Mem] {tag} hf={hi} hm={hin} hl={} hi={hi} hin={hin} frag={frag}{pf} pm=8000000 pl=7000000 (0ms)", hi / 2)
            }),
        1 => heap.clone().prop_map(|hin| format!(
            "[Mem] TRIPWIRE fired tag=http_root hin={hin}B < 30720B (hf=22000B hl=9000B frag=59% pf=8200000B pl=8100000B)"
        )),
        1 => Just("[Mem] Task dump (3 tasks, sorted by stack margin) tag=http_root".to_owned()),
        3 => (prop_oneof![Just("ipc0"), Just("ipc1"), Just("async_tcp"), Just("loopTask")], 0i64..4000)
            .prop_map(|(name, rem)| format!("[Task] name={name} prio=24 core=0 stack_rem={rem}B")),
        1 => Just("ESP-ROM:esp32s3-20210327".to_owned()),
        1 => Just("rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)".to_owned()),
        1 => Just("Guru Meditation Error: Core  1 panic'ed (LoadProhibited).".to_owned()),
        1 => Just("[Mem] ALLOC_FAILED size=4096 caps=0x804 fn=heap_caps_malloc".to_owned()),
        1 => Just("[WiFi] Got IP: 192.168.1.112 (0ms)".to_owned()),
        1 => "[ -~]{0,40}",
    ]
}

/// Cut points: after how many lines each batch is handed to the writer.
fn stream() -> impl Strategy<Value = (Vec<String>, Vec<usize>)> {
    proptest::collection::vec(line(), 1..300).prop_flat_map(|lines| {
        let n = lines.len();
        (Just(lines), proptest::collection::vec(1..=n, 0..6))
    })
}

async fn record(store: &Store, lines: &[String], cuts: &[usize]) -> i64 {
    let run = store
        .create_run(&NewRun {
            kind: Some(RunKind::Live),
            started_us: 1_700_000_000_000_000,
            ..Default::default()
        })
        .await
        .expect("run");
    let mut tracker = RunTracker::new(run);
    let mut batch = Batch::new(run);
    for (i, text) in lines.iter().enumerate() {
        tracker.record_raw(
            &mut batch,
            1_700_000_000_000_000 + i as i64 * 1_000_000,
            text.as_bytes(),
            0,
        );
        if cuts.contains(&(i + 1)) {
            store
                .write_batches(&[tracker.take_batch(&mut batch)])
                .await
                .expect("write");
        }
    }
    store
        .write_batches(&[tracker.take_batch(&mut batch)])
        .await
        .expect("write");
    run
}

fn stored(rt: &tokio::runtime::Runtime, store: &Store, run: i64) -> Option<RunSummary> {
    rt.block_on(store.run_summary(run)).expect("read").map(|s| {
        assert_eq!(s.version, SUMMARY_VERSION);
        serde_json::from_str(&s.json).expect("summary json")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn recorded_summary_equals_a_full_recomputation((lines, cuts) in stream()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let dir = tempfile::tempdir().expect("tmp");
        let store = rt.block_on(Store::open(&crate::helpers::test_db(dir.path(), "p.db"))).expect("open");
        let run = rt.block_on(record(&store, &lines, &cuts));

        let recorded = stored(&rt, &store, run).expect("the writer stored a summary");
        let recomputed = rt.block_on(recompute_summary(&store, run)).expect("recompute");
        prop_assert_eq!(&recorded, &recomputed);
        let snapshots = lines.iter().filter(|l| l.starts_with("[Mem] ") && l.contains(" hf=")).count();
        prop_assert_eq!(recorded.derived.snapshots, snapshots as i64);

        // Compacting the serial log leaves the summary as it is.
        rt.block_on(store.compact_serial_before(i64::MAX)).expect("compact");
        let after = stored(&rt, &store, run);
        prop_assert_eq!(after.as_ref(), Some(&recorded));

        // Deleting the run deletes its summary.
        rt.block_on(store.delete_run(run)).expect("delete");
        prop_assert!(stored(&rt, &store, run).is_none());
    }
}

/// Rows written without a summary (a database from before summaries, or a
/// tool writing rows directly) get one from the backfill, with progress.
#[tokio::test]
async fn backfill_summarises_runs_written_without_a_summary() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&crate::helpers::test_db(dir.path(), "old.db"))
        .await
        .expect("open");
    let lines = [
        "[Mem] boot hf=100 hm=90 hl=50 hi=100 hin=90 frag=50 pf=8000 pm=7000 pl=6000 (0ms)",
        "[Mem] hb hf=80 hm=70 hl=50 hi=80 hin=70 frag=37 pf=8000 pm=7000 pl=6000 (0ms)",
    ];
    let run = record(&store, &lines.map(String::from), &[]).await;
    // The same rows again, written bare: the stored summary is now stale
    // and is dropped with that write.
    let mut tracker = RunTracker::new(run);
    let mut batch = Batch::new(run);
    for (i, l) in lines.iter().enumerate() {
        tracker.record_raw(
            &mut batch,
            1_800_000_000_000_000 + i as i64,
            l.as_bytes(),
            0,
        );
    }
    for r in &mut batch.snapshots {
        r.seq += 10;
    }
    batch.lines.clear();
    store.write_batches(&[batch]).await.expect("bare write");
    assert!(store.run_summary(run).await.expect("read").is_none());

    let seen = std::sync::Mutex::new(Vec::new());
    let n = heaplab::report::backfill_summaries(&store, &|done, total| {
        seen.lock().expect("lock").push((done, total));
    })
    .await
    .expect("backfill");
    assert_eq!(n, 1);
    assert_eq!(*seen.lock().expect("lock"), [(1, 1)]);
    let stored: RunSummary = serde_json::from_str(
        &store
            .run_summary(run)
            .await
            .expect("read")
            .expect("summary")
            .json,
    )
    .expect("json");
    assert_eq!(stored.derived.snapshots, 4);
    assert_eq!(
        stored,
        recompute_summary(&store, run).await.expect("recompute")
    );
    assert_eq!(
        heaplab::report::backfill_summaries(&store, &|_, _| {})
            .await
            .expect("again"),
        0
    );
}
