//! A server that stops or dies while boards keep running: the database is
//! intact after `kill -9`, and a restarted server goes on with the run of a
//! board that did not reboot (and opens a new one for a board that did).

use std::time::Duration;

use heaplab::sim::Profile;
use heaplab::store::{EventKind, RunStatus, Store};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

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
        if !db.exists() {
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
