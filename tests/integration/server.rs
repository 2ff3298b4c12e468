//! The server against device twins on pseudo-terminals: real SQLite, real
//! HTTP on loopback, real serial reads.

use std::time::Duration;

use heaplab::sim::Profile;
use heaplab::store::{RunFilter, RunKind, RunStatus, Store};
use serde_json::{json, Value};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(60);

async fn device_id(base: &str, name: &str) -> i64 {
    let devices = get_json(&format!("{base}/api/v1/devices")).await;
    devices
        .as_array()
        .and_then(|a| a.iter().find(|d| d["name"] == name))
        .and_then(|d| d["id"].as_i64())
        .expect("device listed")
}

async fn active_run(base: &str, device: i64) -> Option<i64> {
    get_json(&format!("{base}/api/v1/devices/{device}/status")).await["live"]["active_run"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_twins_stream_snapshots_and_health_through_api_and_sse() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = twin(dir.path(), "alpha", Profile::Tuned).await;
    let b = twin(dir.path(), "beta", Profile::Baseline).await;
    let server = start_server(server_config(
        dir.path(),
        vec![twin_device("alpha", &a), twin_device("beta", &b)],
    ))
    .await;
    let base = server.url();
    let alpha = device_id(&base, "alpha").await;
    let beta = device_id(&base, "beta").await;

    // SSE delivers snapshots and health samples for the asked device only.
    let events = sse_until(
        &format!("{base}/api/v1/devices/{alpha}/live"),
        &["status", "snapshot", "health"],
        WAIT,
    )
    .await;
    let snapshot = events
        .iter()
        .find(|(k, _)| k == "snapshot")
        .map(|(_, v)| v)
        .expect("snapshot");
    assert!(
        snapshot["data"]["hi"].as_i64().is_some_and(|hi| hi > 0),
        "{snapshot}"
    );
    let health = events
        .iter()
        .find(|(k, _)| k == "health")
        .map(|(_, v)| v)
        .expect("health");
    assert!(
        health["data"]["sample"]["heap_internal_free"]
            .as_i64()
            .is_some(),
        "{health}"
    );

    for device in [alpha, beta] {
        let run = eventually("an active run", WAIT, || active_run(&base, device)).await;
        let snaps = eventually("snapshots via the API", WAIT, || {
            let url = format!("{base}/api/v1/runs/{run}/snapshots");
            async move {
                let rows = get_json(&url).await;
                (rows.as_array().map_or(0, Vec::len) >= 3).then_some(rows)
            }
        })
        .await;
        assert_eq!(snaps[0]["tag"], "boot");
        eventually("health samples via the API", WAIT, || {
            let url = format!("{base}/api/v1/runs/{run}/health");
            async move { (get_json(&url).await.as_array().map_or(0, Vec::len) >= 1).then_some(()) }
        })
        .await;
        let doc = get_json(&format!("{base}/api/v1/runs/{run}")).await;
        assert!(doc["derived"]["hin_min"].as_i64().is_some(), "{doc}");
        assert_eq!(doc["run"]["kind"], "live");
    }
    let status = get_json(&format!("{base}/api/v1/devices/{beta}/status")).await;
    assert_eq!(status["online"], true);
    assert!(status["live"]["firmware"].as_str().is_some());

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("heaplab_device_internal_free_bytes{device=\"alpha\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("heaplab_write_batches_total"));
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reboot_opens_a_new_live_run_and_soak_spans_reboots() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = twin(dir.path(), "rebooter", Profile::Tuned).await;
    let server = start_server(server_config(dir.path(), vec![twin_device("rebooter", &t)])).await;
    let base = server.url();
    let id = device_id(&base, "rebooter").await;
    let first = eventually("first run", WAIT, || active_run(&base, id)).await;
    // Wait until the device has said something after boot, then reboot it
    // through heaplab (which only talks to registered devices).
    eventually("IP announced", WAIT, || {
        let url = format!("{base}/api/v1/devices/{id}/status");
        async move {
            get_json(&url).await["live"]["ip"]
                .as_str()
                .map(str::to_owned)
        }
    })
    .await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/devices/{id}/reboot"))
        .send()
        .await
        .expect("reboot");
    assert_eq!(r.status(), 202);
    let second = eventually("a new live run after the reboot", WAIT, || async {
        active_run(&base, id).await.filter(|r| *r != first)
    })
    .await;
    let old = get_json(&format!("{base}/api/v1/runs/{first}")).await;
    assert_eq!(old["run"]["status"], "completed");
    let new = get_json(&format!("{base}/api/v1/runs/{second}")).await;
    assert_eq!(new["run"]["kind"], "live");

    // A soak spans reboots and counts them.
    let r = client
        .post(format!("{base}/api/v1/devices/{id}/soak"))
        .json(&json!({"label": "overnight"}))
        .send()
        .await
        .expect("soak");
    assert_eq!(r.status(), 201);
    let soak = r.json::<Value>().await.expect("json")["run_id"]
        .as_i64()
        .expect("run id");
    t.reboot().await;
    eventually("the soak to see a reboot", WAIT, || {
        let url = format!("{base}/api/v1/runs/{soak}");
        async move { (get_json(&url).await["derived"]["reboots"].as_i64() >= Some(1)).then_some(()) }
    })
    .await;
    assert_eq!(
        active_run(&base, id).await,
        Some(soak),
        "the soak run stays active across the reboot"
    );
    let r = client
        .delete(format!("{base}/api/v1/devices/{id}/soak"))
        .send()
        .await
        .expect("stop soak");
    assert_eq!(r.status(), 200);
    assert_eq!(
        get_json(&format!("{base}/api/v1/runs/{soak}")).await["run"]["status"],
        "completed"
    );
    let r = client
        .delete(format!("{base}/api/v1/devices/{id}/soak"))
        .send()
        .await
        .expect("stop again");
    assert_eq!(r.status(), 409);
    // Two reboots; the power-on boot before them is not one.
    let page = reqwest::get(format!("{base}/devices/{id}"))
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("<dt>Reboots (24 h)</dt><dd>2</dd>"),
        "device page counts 2 reboots"
    );
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_port_reconnects_without_losing_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = twin(dir.path(), "unplug", Profile::Tuned).await;
    let mut device = twin_device("unplug", &t);
    device.health_interval_s = 0;
    let server = start_server(server_config(dir.path(), vec![device])).await;
    let base = server.url();
    let id = device_id(&base, "unplug").await;
    let run = eventually("run", WAIT, || active_run(&base, id)).await;
    // A marker line just before the cable is pulled must be kept.
    eventually("a few heartbeats", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/snapshots");
        async move { (get_json(&url).await.as_array().map_or(0, Vec::len) >= 4).then_some(()) }
    })
    .await;
    t.inject(b"[Test] marker before unplug\r\n").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    t.unplug().await;
    eventually("device offline", WAIT, || {
        let url = format!("{base}/api/v1/devices/{id}/status");
        async move { (get_json(&url).await["online"] == false).then_some(()) }
    })
    .await;
    t.replug().await.expect("replug");
    t.inject(b"[Test] marker after replug\r\n").await;
    eventually(
        "device back online with the line after replug",
        WAIT,
        || {
            let url = format!("{base}/api/v1/runs/{run}/serial?q=marker%20after");
            async move { (get_json(&url).await["total"] == 1).then_some(()) }
        },
    )
    .await;
    let before = get_json(&format!(
        "{base}/api/v1/runs/{run}/serial?q=marker%20before"
    ))
    .await;
    assert_eq!(
        before["total"], 1,
        "the line sent before the unplug is stored"
    );
    let events = get_json(&format!("{base}/api/v1/runs/{run}/events?kind=status")).await;
    let online: Vec<bool> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["data"]["source"] == "serial")
        .map(|e| e["data"]["online"] == true)
        .collect();
    assert!(
        online.windows(3).any(|w| w == [true, false, true]),
        "online → offline → online: {online:?}"
    );
    server.stop().await.expect("stop");
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_twin_and_garbage_burst_are_survived_with_bounded_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = heaplab::sim::TwinConfig::new("flood", Profile::Tuned);
    config.hb_interval = Duration::from_millis(100);
    config.chatter_per_s = 10_000;
    config.link = Some(dir.path().join("flood"));
    let t = heaplab::sim::Twin::spawn(config).await.expect("twin");
    let mut device = twin_device("flood", &t);
    device.health_interval_s = 0;
    let server = start_server(server_config(dir.path(), vec![device])).await;
    let base = server.url();
    let id = device_id(&base, "flood").await;
    let run = eventually("run", WAIT, || active_run(&base, id)).await;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_start = rss_kb();
    // 1 MB of garbage bytes, some with newlines, some a single endless line.
    let mut garbage = Vec::with_capacity(1 << 20);
    let mut x: u32 = 0x1234_5678;
    while garbage.len() < (1 << 20) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(if garbage.len() < 600_000 {
            (x & 0xff) as u8
        } else {
            b'Z'
        });
    }
    t.inject(&garbage).await;
    t.inject(b"\r\n[Test] after garbage\r\n").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_end = rss_kb();

    eventually("the line after the garbage burst", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/serial?q=after%20garbage");
        async move { (get_json(&url).await["total"] == 1).then_some(()) }
    })
    .await;
    let lines = get_json(&format!("{base}/api/v1/runs/{run}/serial?limit=1")).await["total"]
        .as_i64()
        .unwrap_or(0);
    assert!(lines > 10_000, "the flood was ingested ({lines} lines)");
    // Over-long garbage lines are cut at 4 KB and flagged.
    let cut = server
        .store
        .serial_lines(run, 0, 100_000, Some("ZZZZ"))
        .await
        .expect("search");
    // (Lossy decoding may widen invalid bytes to U+FFFD, 3 bytes each.)
    assert!(
        cut.lines
            .iter()
            .any(|l| l.flags == 1 && l.text.len() <= 3 * 4096),
        "an over-long line cut and flagged; matches: {:?}",
        cut.lines
            .iter()
            .map(|l| (l.flags, l.text.len()))
            .collect::<Vec<_>>()
    );
    assert!(server.recorder.queue_depth() <= 8192);
    let grown_mb = rss_end.saturating_sub(rss_start) / 1024;
    assert!(
        grown_mb < 200,
        "memory grew by {grown_mb} MB while flooding"
    );
    let health = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_everything_and_closes_runs_as_interrupted() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = twin(dir.path(), "term", Profile::Tuned).await;
    let db = test_db(dir.path(), "term.db");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--device"])
        .arg(format!(
            "name=term,serial={},url={},health_interval_s=1",
            t.serial_path().display(),
            t.base_url()
        ))
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_CONFIG")
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
    let id = device_id(&base, "term").await;
    let run = eventually("run", WAIT, || active_run(&base, id)).await;
    eventually("heartbeats", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/snapshots");
        async move { (get_json(&url).await.as_array().map_or(0, Vec::len) >= 5).then_some(()) }
    })
    .await;
    t.inject(b"[Test] last words before SIGTERM\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exit in time")
        .expect("wait");
    assert!(status.success(), "{status}");

    let store = Store::open(&db).await.expect("reopen");
    let runs = store.runs(&RunFilter::default()).await.expect("runs");
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Active),
        "no run left active"
    );
    let last = runs.iter().find(|r| r.id == run).expect("the run");
    assert_eq!(last.status, RunStatus::Interrupted);
    assert_eq!(last.kind, RunKind::Live);
    let page = store
        .serial_lines(run, 0, 10, Some("last words"))
        .await
        .expect("search");
    assert_eq!(
        page.total, 1,
        "the line received just before SIGTERM was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_auth_devices_crud_and_import_upload() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = server_config(dir.path(), vec![]);
    config.auth_token = Some("s3cret".into());
    // Reads left open on purpose: the `auth_read = false` mode.
    config.auth_read = false;
    let server = start_server(config).await;
    let base = server.url();
    let client = reqwest::Client::new();

    // Reads are open, writes need the token.
    assert_eq!(
        reqwest::get(format!("{base}/api/v1/devices"))
            .await
            .expect("get")
            .status(),
        200
    );
    let spec = json!({"name": "bench", "url": "http://127.0.0.1:9", "health_interval_s": 0});
    let r = client
        .post(format!("{base}/api/v1/devices"))
        .json(&spec)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json error");
    assert_eq!(body["error"], "unauthorized");
    let authed = |rb: reqwest::RequestBuilder| rb.bearer_auth("s3cret");
    let r = authed(client.post(format!("{base}/api/v1/devices")))
        .json(&spec)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let r = authed(client.post(format!("{base}/api/v1/devices")))
        .json(&spec)
        .send()
        .await
        .expect("dup");
    assert_eq!(r.status(), 409);
    let r = authed(client.post(format!("{base}/api/v1/devices")))
        .json(&json!({"name": "x", "colour": "red"}))
        .send()
        .await
        .expect("bad");
    assert_eq!(r.status(), 422);
    let r = authed(client.put(format!("{base}/api/v1/devices/{id}")))
        .json(&json!({"name": "bench2", "url": "ftp://x"}))
        .send()
        .await
        .expect("bad url");
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.expect("json")["detail"]
        .as_str()
        .is_some_and(|d| d.contains("http")));
    let r = reqwest::get(format!("{base}/api/v1/runs/999"))
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.expect("json")["detail"],
        "run 999 not found"
    );

    // Import uploads: a serial log, then the same again (not duplicated).
    let log = std::fs::read(fixture(CRASH_LOG)).expect("fixture");
    let r = authed(client.post(format!("{base}/api/v1/import?name=desk.log")))
        .body(log.clone())
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 201);
    let outcome: Value = r.json().await.expect("json");
    let run = outcome["run_id"].as_i64().expect("run");
    let r = authed(client.post(format!("{base}/api/v1/import?name=desk.log")))
        .body(log)
        .send()
        .await
        .expect("again");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["already_imported"],
        true
    );
    let doc = get_json(&format!("{base}/api/v1/runs/{run}")).await;
    assert_eq!(doc["derived"]["hin_min"], 18_000);
    let page = get_json(&format!(
        "{base}/api/v1/runs/{run}/serial?offset=10&limit=5"
    ))
    .await;
    assert_eq!(page["lines"].as_array().map(Vec::len), Some(5));
    assert_eq!(page["lines"][0]["line_no"], 11);

    // A harness folder as .tar.gz.
    let mut tar_gz = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut tar_gz, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        tar.append_dir_all("20260109_150318_s4", fixture(TUNED_FOLDER))
            .expect("tar");
        tar.into_inner()
            .expect("finish tar")
            .finish()
            .expect("finish gz");
    }
    let r = authed(client.post(format!("{base}/api/v1/import?name=run.tar.gz")))
        .body(tar_gz)
        .send()
        .await
        .expect("tgz");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let cmp = get_json(&format!("{base}/api/v1/compare?a={run}&b={}", run + 1)).await;
    assert_eq!(cmp["hin_min"]["delta"], 160_000);

    // Garbage upload: a clear error, nothing stored.
    let r = authed(client.post(format!("{base}/api/v1/import")))
        .body(vec![0x1f, 0x8b, 0, 1, 2])
        .send()
        .await
        .expect("bad gz");
    assert_eq!(r.status(), 400);

    let r = authed(client.delete(format!("{base}/api/v1/runs/{run}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = authed(client.delete(format!("{base}/api/v1/devices/{id}")))
        .send()
        .await
        .expect("delete device");
    assert_eq!(r.status(), 204);
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_health_url_is_recorded_as_events_not_a_crash() {
    let dir = tempfile::tempdir().expect("tmp");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let device = heaplab::store::DeviceSpec {
        name: "gone".into(),
        serial: None,
        baud: 115_200,
        url: Some(format!("http://127.0.0.1:{closed}")),
        health_interval_s: 1,
        auth: None,
        board: None,
    };
    let server = start_server(server_config(dir.path(), vec![device])).await;
    let base = server.url();
    let id = device_id(&base, "gone").await;
    let run = eventually("a run for the unreachable device", WAIT, || {
        active_run(&base, id)
    })
    .await;
    let rows = eventually("failed health polls stored", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/health");
        async move {
            let rows = get_json(&url).await;
            (rows.as_array().map_or(0, Vec::len) >= 1).then_some(rows)
        }
    })
    .await;
    assert!(rows[0]["http_status"].is_null());
    assert!(
        rows[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect")),
        "{rows}"
    );
    let events = get_json(&format!("{base}/api/v1/runs/{run}/events?kind=status")).await;
    assert_eq!(events[0]["data"]["online"], false);
    let status = get_json(&format!("{base}/api/v1/devices/{id}/status")).await;
    assert_eq!(status["online"], false);
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .expect("healthz")
            .status(),
        200
    );
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_twin_split_lines_garbage_and_hangups_lose_no_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = twin(dir.path(), "flaky", Profile::Flaky).await;
    let server = start_server(server_config(dir.path(), vec![twin_device("flaky", &t)])).await;
    let base = server.url();
    let id = device_id(&base, "flaky").await;
    let run = eventually("run", WAIT, || active_run(&base, id)).await;
    // The flaky cable drops out once every 5–15 s for about a second.
    let events = eventually(
        "a hang-up and the port coming back",
        Duration::from_secs(30),
        || {
            let url = format!("{base}/api/v1/runs/{run}/events?kind=status");
            async move {
                let events = get_json(&url).await;
                let serial: Vec<bool> = events
                    .as_array()?
                    .iter()
                    .filter(|e| e["data"]["source"] == "serial")
                    .map(|e| e["data"]["online"] == true)
                    .collect();
                serial
                    .windows(3)
                    .any(|w| w == [true, false, true])
                    .then_some(events)
            }
        },
    )
    .await;
    assert!(events.as_array().is_some_and(|e| !e.is_empty()));
    server.recorder.flush().await;
    let snaps = get_json(&format!("{base}/api/v1/runs/{run}/snapshots")).await;
    let snaps = snaps.as_array().expect("snapshots");
    assert!(snaps.len() > 20, "heartbeats kept coming: {}", snaps.len());
    // Split writes and garbage never produce a half-parsed snapshot: every
    // stored snapshot has all nine keys.
    for s in snaps {
        for key in ["hf", "hm", "hl", "hi", "hin", "frag", "pf", "pm", "pl"] {
            assert!(s[key].is_i64(), "snapshot {} lacks {key}: {s}", s["seq"]);
        }
    }
    let health = get_json(&format!("{base}/api/v1/runs/{run}/health")).await;
    assert!(
        health.as_array().is_some_and(|h| !h.is_empty()),
        "health polls recorded"
    );
    for h in health.as_array().into_iter().flatten() {
        // Every sample is either an answer or a recorded failure.
        assert!(h["sample"].is_object() || h["error"].is_string(), "{h}");
    }
    server.stop().await.expect("stop");
}
