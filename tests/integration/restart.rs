//! A server that stops or dies while boards keep running: the database is
//! intact after `kill -9`, and a restarted server goes on with the run of a
//! board that did not reboot (and opens a new one for a board that did).

use std::time::Duration;

use heaplab::sim::Profile;
use heaplab::soak::config::AlertKind;
use heaplab::store::{EventKind, RunStatus, Store};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(60);

async fn snapshots(store: &Store, run: i64) -> i64 {
    store.snapshot_count(run).await.expect("count")
}

async fn active_run_of(store: &Store, device: &str) -> Option<i64> {
    let device = store
        .devices()
        .await
        .ok()?
        .into_iter()
        .find(|d| d.name == device)?;
    let run = store.latest_run_of_device(device.id).await.ok()??;
    let record = store.run(run).await.ok()?;
    (record.status == RunStatus::Active).then_some(run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_continues_the_run_of_a_board_that_kept_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let board = twin(dir.path(), "desk", Profile::Tuned).await;
    let config = server_config(dir.path(), vec![twin_device("desk", &board)]);

    let first = start_server(config.clone()).await;
    let store = first.store.clone();
    let run = eventually("a run", WAIT, || active_run_of(&store, "desk")).await;
    eventually("heartbeats", WAIT, || async {
        (snapshots(&store, run).await >= 5).then_some(())
    })
    .await;
    first.stop().await.expect("stop");
    let before = snapshots(&store, run).await;
    assert_eq!(
        store.run(run).await.expect("run").status,
        RunStatus::Interrupted
    );

    // The board keeps running while the server is away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = start_server(config.clone()).await;
    let store = second.store.clone();
    let resumed = eventually("the run active again", WAIT, || {
        active_run_of(&store, "desk")
    })
    .await;
    assert_eq!(resumed, run, "the same run goes on");
    eventually("new heartbeats in it", WAIT, || async {
        (snapshots(&store, run).await >= before + 5).then_some(())
    })
    .await;
    let notes = store.events(run, &[EventKind::Note]).await.expect("events");
    assert!(notes
        .iter()
        .any(|e| e.kind == EventKind::Note && e.message.contains("run continued")));
    // Numbering went on: every snapshot of the run is distinct and ordered.
    let rows = store.snapshots(run).await.expect("snapshots");
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(rows.len() as i64, snapshots(&store, run).await);
    second.stop().await.expect("stop");

    // Rebooted while the server was away: a new live run.
    board.reboot().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = start_server(config).await;
    let store = third.store.clone();
    let fresh = eventually("a new run", WAIT, || async {
        active_run_of(&store, "desk").await.filter(|r| *r != run)
    })
    .await;
    assert!(fresh > run);
    // Lines the board printed before its reboot (still queued on the port)
    // may close the old run at the reboot, as a reboot always does.
    let old = store.run(run).await.expect("old").status;
    assert!(
        matches!(old, RunStatus::Interrupted | RunStatus::Completed),
        "{old:?}"
    );
    third.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingest_leaves_an_intact_database_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let board = twin(dir.path(), "rack", Profile::Baseline).await;
    let config = server_config(dir.path(), vec![twin_device("rack", &board)]);
    let db = config.db.clone();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0", "--device"])
        .arg(format!(
            "name=rack,serial={},url={},health_interval_s=1",
            board.serial_path().display(),
            board.base_url()
        ))
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_CONFIG")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn heaplab serve");
    // Watch the database from outside, as a second process would.
    let store = eventually("database created", WAIT, || async {
        // A SQLite file appears; a PostgreSQL database answers once the
        // server (or this open) has created it.
        if !on_postgres() && !db.exists() {
            return None;
        }
        Store::open(&db).await.ok()
    })
    .await;
    let run = eventually("a run", WAIT, || active_run_of(&store, "rack")).await;
    eventually("rows written", WAIT, || async {
        (snapshots(&store, run).await >= 10).then_some(())
    })
    .await;
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("wait");
    let before = snapshots(&store, run).await;
    assert_eq!(store.integrity_check().await.expect("check"), "ok");
    drop(store);

    let server = start_server(config).await;
    let store = server.store.clone();
    let resumed = eventually("the run goes on", WAIT, || active_run_of(&store, "rack")).await;
    assert_eq!(resumed, run);
    eventually("rows after the crash", WAIT, || async {
        (snapshots(&store, run).await >= before + 5).then_some(())
    })
    .await;
    server.stop().await.expect("stop");
}

/// A full database (here its size cap) pauses recording without losing
/// what the board sent: `/healthz` says so, reads go on, and once space is
/// freed every kept line is written, in order, without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_pauses_recording_and_loses_nothing_when_space_returns() {
    use heaplab::store::{Batch, NewRun, RunKind, SerialLineRow};
    if sqlite_only("the cap is SQLite's max_page_count; a PostgreSQL server's disk is its own") {
        return;
    }

    let dir = tempfile::tempdir().expect("tmp");
    let board = twin(dir.path(), "full", Profile::Tuned).await;
    let mut config = server_config(dir.path(), vec![twin_device("full", &board)]);
    config.max_db_bytes = Some(4 * 1024 * 1024);
    let (hook_url, hook) = crate::webhook_receiver::http_receiver().await;
    config.soak.alerts = crate::alert_rules::alerts(
        vec![crate::alert_rules::rule("disk", AlertKind::StorageFull)],
        vec![crate::alert_rules::webhook(
            "ops",
            format!("{hook_url}/ops"),
        )],
    );
    let server = start_server(config).await;
    let store = server.store.clone();
    let base = server.url();
    let live = eventually("a run", WAIT, || active_run_of(&store, "full")).await;

    // Fill the database with another run until writes fail for space.
    let filler = store
        .create_run(&NewRun {
            kind: Some(RunKind::Import),
            started_us: 1,
            status: Some(RunStatus::Completed),
            ..Default::default()
        })
        .await
        .expect("filler run");
    // Big batches first, then smaller ones, so little room is left.
    let mut line_no = 0;
    for (lines, text_len) in [(200, 1000), (20, 1000), (1, 1000), (1, 100)] {
        loop {
            let mut batch = Batch::new(filler);
            for _ in 0..lines {
                line_no += 1;
                batch.lines.push(SerialLineRow {
                    line_no,
                    ts_us: line_no,
                    text: format!("{line_no:0>text_len$}"),
                    flags: 0,
                });
            }
            match store.write_batches(&[batch]).await {
                Ok(()) => assert!(line_no < 100_000, "the cap never bit"),
                Err(e) => {
                    assert!(e.is_full(), "{e}");
                    break;
                }
            }
        }
    }
    eventually("healthz says full", WAIT, || async {
        let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
        (r.status() == 503).then_some(())
    })
    .await;
    for i in 0..20 {
        board
            .inject(format!("[Test] while full {i}\r\n").as_bytes())
            .await;
    }
    let runs = get_json(&format!("{base}/api/v1/runs")).await;
    assert!(
        runs.as_array().is_some_and(|r| !r.is_empty()),
        "reads go on"
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("heaplab_storage_full 1"), "{metrics}");
    let alert = eventually("the storage alert at the webhook", WAIT, || async {
        hook.on("/ops").into_iter().next()
    })
    .await;
    assert_eq!(alert.body["kind"], "storage_full");
    assert!(alert.body["text"]
        .as_str()
        .is_some_and(|t| t.contains("database is full")));

    // Free the space: the kept rows are written and recording goes on.
    let deleted = reqwest::Client::new()
        .delete(format!("{base}/api/v1/runs/{filler}"))
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    eventually("healthz ok again", WAIT, || async {
        let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    board.inject(b"[Test] after space returned\r\n").await;
    eventually("every line written", WAIT, || async {
        let page = store
            .serial_lines(live, 0, 1_000_000, Some("[Test]"))
            .await
            .ok()?;
        (page.total == 21).then_some(())
    })
    .await;
    let all = store
        .serial_lines(live, 0, 1_000_000, None)
        .await
        .expect("lines");
    let numbers: Vec<i64> = all.lines.iter().map(|l| l.line_no).collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap in the run's lines"
    );
    assert_eq!(all.total, numbers.len() as i64);
    assert_eq!(hook.on("/ops").len(), 1, "one alert per episode");
    server.stop().await.expect("stop");
}
