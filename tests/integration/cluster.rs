//! Several `heaplab serve` processes on one PostgreSQL database
//! (docs/postgres.md): live events reach every server's SSE clients, one
//! server at a time delivers alerts, and another takes over when that one
//! is killed. PostgreSQL-only by nature: a SQLite file has one server.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use heaplab::sim::Profile;
use tokio::process::{Child, Command};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(60);

/// A `heaplab serve` process on a free loopback port.
async fn serve(db: &Path, config: &Path, device: Option<String>) -> (Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    cmd.arg("--db").arg(db).arg("--config").arg(config).args([
        "serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    if let Some(device) = device {
        cmd.arg("--device").arg(device);
    }
    let child = cmd
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn heaplab serve");
    let base = format!("http://127.0.0.1:{port}");
    eventually("server up", WAIT, || {
        let url = format!("{base}/healthz");
        async move {
            reqwest::get(&url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;
    (child, base)
}

/// The server's `heaplab_leader` gauge.
async fn leads(base: &str) -> Option<bool> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = text.lines().find(|l| l.starts_with("heaplab_leader "))?;
    Some(line.ends_with(" 1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_live_events_and_one_leader_delivers_each_alert_once() {
    if !on_postgres() {
        eprintln!("PostgreSQL-only, not run on SQLite: a SQLite file has one server");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_db(dir.path(), "cluster.db");
    let (hook_url, hook) = crate::webhook_receiver::http_receiver().await;
    let config = dir.path().join("heaplab.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\ndedup_window_s = 1\nattempts = 3\nbackoff_ms = 50\ncheck_interval_s = 1\n\
             [[alerts.rule]]\nkind = \"reboot\"\n\
             [[alerts.webhook]]\nname = \"team\"\nurl = \"{hook_url}/team\"\n"
        ),
    )
    .expect("config");

    // B starts first, with no device: it takes the leader lock.
    let (mut b, b_url) = serve(&db, &config, None).await;
    eventually("B leads", WAIT, || async {
        leads(&b_url).await.filter(|l| *l)
    })
    .await;
    // A records the board; B only sees it through the database.
    let board = twin(dir.path(), "desk", Profile::Tuned).await;
    let device = format!(
        "name=desk,serial={},url={},health_interval_s=1",
        board.serial_path().display(),
        board.base_url()
    );
    let (mut a, a_url) = serve(&db, &config, Some(device)).await;
    assert_eq!(
        leads(&a_url).await,
        Some(false),
        "A stands by while B leads"
    );
    let devices = get_json(&format!("{b_url}/api/v1/devices")).await;
    let id = devices
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "desk"))
        .and_then(|d| d["id"].as_i64())
        .expect("B lists the device A registered");

    // Live: B's SSE clients get snapshots that A recorded.
    let seen = sse_until(
        &format!("{b_url}/api/v1/devices/{id}/live"),
        &["snapshot"],
        WAIT,
    )
    .await;
    assert!(
        seen.iter()
            .any(|(k, v)| k == "snapshot" && v["data"]["hi"].as_i64().is_some_and(|hi| hi > 0)),
        "{seen:?}"
    );

    // A reboot A recorded is alerted once, by the leader B (after the
    // de-duplication window of the power-on's alert has passed).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = hook.on("/team").len();
    board.reboot().await;
    eventually("the reboot alert", WAIT, || async {
        (hook.on("/team").len() > settled).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.on("/team").len(), settled + 1, "delivered once");

    // kill -9 the leader: PostgreSQL drops its session and with it the
    // lock; A takes over and delivers the next alert, once.
    b.start_kill().expect("SIGKILL");
    b.wait().await.expect("wait");
    eventually("A takes over", WAIT, || async {
        leads(&a_url).await.filter(|l| *l)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = hook.on("/team").len();
    board.reboot().await;
    eventually("the next reboot alert", WAIT, || async {
        (hook.on("/team").len() > settled).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.on("/team").len(), settled + 1, "delivered once");

    a.start_kill().expect("kill");
    a.wait().await.expect("wait");
}

/// The server's `heaplab_serial_lines_total` counter.
async fn serial_lines(base: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("heaplab_serial_lines_total "))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_configured_on_two_servers_is_recorded_by_one() {
    if !on_postgres() {
        eprintln!("PostgreSQL-only, not run on SQLite: a SQLite file has one server");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_db(dir.path(), "claims.db");
    let config = dir.path().join("heaplab.toml");
    std::fs::write(&config, "").expect("config");
    let board = twin(dir.path(), "bench", Profile::Tuned).await;
    let device = format!(
        "name=bench,serial={},url={},health_interval_s=1",
        board.serial_path().display(),
        board.base_url()
    );
    let (mut a, a_url) = serve(&db, &config, Some(device.clone())).await;
    eventually("A records", WAIT, || async {
        serial_lines(&a_url).await.filter(|n| *n > 0)
    })
    .await;
    let (mut b, b_url) = serve(&db, &config, Some(device)).await;
    // B gave the board up at start; A goes on recording it.
    let a_before = serial_lines(&a_url).await.expect("A metrics");
    eventually("A records on", WAIT, || async {
        serial_lines(&a_url).await.filter(|n| *n > a_before + 5)
    })
    .await;
    assert_eq!(
        serial_lines(&b_url).await,
        Some(0),
        "B leaves the board alone"
    );
    for child in [&mut a, &mut b] {
        child.start_kill().expect("kill");
        child.wait().await.expect("wait");
    }
}
