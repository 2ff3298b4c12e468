//! The device twin end to end: its pty read with tokio-serial, its HTTP
//! API with reqwest, and captured sessions judged by heaplab itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use heaplab::protocol::{parse_line, BootMarker, HealthSample, LineKind, MemSnapshot};
use heaplab::sim::{Profile, Twin, TwinConfig};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::helpers::{document, import, store};
use crate::serial_lines::Lines;

const HB: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(30);

fn config(profile: Profile) -> TwinConfig {
    let mut c = TwinConfig::new("twin-test", profile);
    c.hb_interval = HB;
    c
}

fn open(path: &Path) -> SerialStream {
    tokio_serial::new(path.to_string_lossy(), 115_200)
        .open_native_async()
        .expect("open twin serial")
}

fn snapshots(lines: &[String]) -> Vec<MemSnapshot> {
    lines
        .iter()
        .filter_map(|l| match parse_line(l.as_bytes()).kind {
            LineKind::Snapshot(s) => Some(s),
            _ => None,
        })
        .collect()
}

async fn health(twin: &Twin) -> HealthSample {
    let body = reqwest::get(format!("{}/api/health", twin.base_url()))
        .await
        .expect("GET /api/health")
        .bytes()
        .await
        .expect("body");
    HealthSample::from_json(&body).expect("health JSON")
}

#[tokio::test]
async fn boot_log_heartbeats_and_health_agree() {
    let twin = Twin::spawn(config(Profile::Tuned)).await.expect("spawn");
    let mut serial = Lines::new(open(&twin.serial_path()));
    let boot = serial
        .until("setup complete", |k, _| matches!(k, LineKind::Ready))
        .await;
    assert!(
        boot.iter().any(|l| l == "ESP-ROM:esp32s3-20210327"),
        "{boot:#?}"
    );
    assert!(boot.iter().any(|l| l.starts_with("rst:0x1 (POWERON)")));
    assert!(boot.iter().any(|l| l == "[System Boot] Starting..."));
    assert!(boot.iter().any(|l| l == "  Firmware: v1.5.1-tuned"));
    let ip = format!("[WiFi] Got IP: {}", twin.http_addr().ip());
    assert!(boot.iter().any(|l| l.starts_with(&ip)), "{boot:#?}");
    let tags: Vec<String> = snapshots(&boot).into_iter().map(|s| s.tag).collect();
    assert_eq!(tags, ["boot", "setup"]);

    let hbs = serial.heartbeats(2).await;
    let h = health(&twin).await;
    let hb = hbs.last().expect("hb");
    // A heartbeat allocates and frees a few hundred bytes at most.
    let hi = hb.hi.expect("hi");
    let free = h.heap_internal_free.expect("heap_internal_free");
    assert!((free - hi).abs() <= 1024, "health {free} vs hb {hi}");
    assert_eq!(h.heap_internal_min, hb.hin);
    assert_eq!(h.heap_min, hb.hm);
    assert_eq!(h.psram_free, hb.pf);
    assert_eq!(h.psram_min, hb.pm);
    assert_eq!(h.psram_largest, hb.pl);
    assert_eq!(h.reset_reason.as_deref(), Some("POWERON"));
    assert_eq!(
        h.heap_size,
        Some(i64::from(heaplab::sim::INTERNAL_HEAP_BYTES))
    );
    // Once the 200 ms sampler has run, a read shows the window: a minimum
    // no higher than its maximum.
    let mut calls = 1;
    let deadline = Instant::now() + Duration::from_secs(3);
    let sampled = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let w = health(&twin).await;
        calls += 1;
        if w.heap_internal_free_min_window.is_some() || Instant::now() > deadline {
            break w;
        }
    };
    let (lo, hi_w) = (
        sampled
            .heap_internal_free_min_window
            .expect("window sampled"),
        sampled
            .heap_internal_free_max_window
            .expect("window sampled"),
    );
    assert!(lo <= hi_w, "window min {lo} > max {hi_w}");
    // Reading resets it: a call right after another (well inside the 200 ms
    // sampling period) finds no sample. A sample may land between two calls
    // now and then, so the pair is tried a few times; a window that never
    // resets is never empty.
    let mut emptied = false;
    for _ in 0..10 {
        health(&twin).await;
        let again = health(&twin).await;
        calls += 2;
        if again.heap_internal_free_min_window.is_none() {
            emptied = true;
            break;
        }
    }
    assert!(emptied, "the window never read empty right after a read");
    let requests = twin.requests();
    assert_eq!(requests.len(), calls);
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" && r.path == "/api/health" && r.status == 200));
    twin.shutdown().await;
}

#[tokio::test]
async fn reboot_prints_a_new_boot_and_resets_the_low_water_mark() {
    let twin = Twin::spawn(config(Profile::Baseline)).await.expect("spawn");
    let mut serial = Lines::new(open(&twin.serial_path()));
    serial
        .until("setup complete", |k, _| matches!(k, LineKind::Ready))
        .await;
    let client = reqwest::Client::new();
    let root = client
        .get(format!("{}/", twin.base_url()))
        .send()
        .await
        .expect("GET /");
    assert_eq!(root.status(), 200);
    let lines = serial
        .until(
            "http_root",
            |k, _| matches!(k, LineKind::Snapshot(s) if s.tag == "http_root"),
        )
        .await;
    let before = snapshots(&lines).last().and_then(|s| s.hin).expect("hin");

    let resp = client
        .post(format!("{}/api/reboot", twin.base_url()))
        .send()
        .await
        .expect("POST /api/reboot");
    assert_eq!(resp.status(), 200);
    let reboot = serial
        .until("setup complete", |k, _| matches!(k, LineKind::Ready))
        .await;
    assert!(
        reboot.iter().any(|l| l == "ESP-ROM:esp32s3-20210327"),
        "{reboot:#?}"
    );
    assert!(reboot.iter().any(|l| matches!(
        parse_line(l.as_bytes()).kind,
        LineKind::Boot(BootMarker::Reset {
            code: Some(0xc),
            ..
        })
    )));
    let setup = snapshots(&reboot)
        .into_iter()
        .find(|s| s.tag == "setup")
        .expect("setup snapshot after reboot");
    assert!(
        setup.hin.expect("hin") > before,
        "hin {setup:?} should reset above {before}"
    );
    assert_eq!(health(&twin).await.reset_reason.as_deref(), Some("SW"));
    twin.shutdown().await;
}

/// Captures everything the twin prints to a file while `drive` runs, then
/// until `done` has matched a line and two more heartbeats went by.
async fn capture<F, Fut>(twin: &Twin, dir: &Path, drive: F, done: &str) -> PathBuf
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let path = dir.join("serial.log");
    let mut file = std::fs::File::create(&path).expect("create capture");
    let mut serial = Lines::new(open(&twin.serial_path()));
    let lines = serial
        .until("setup complete", |k, _| matches!(k, LineKind::Ready))
        .await;
    for l in &lines {
        writeln!(file, "{l}").expect("write");
    }
    drive(twin.base_url()).await;
    let deadline = Instant::now() + WAIT;
    let (mut matched, mut hbs_after) = (false, 0);
    while hbs_after < 2 {
        let line = serial
            .next(deadline)
            .await
            .unwrap_or_else(|| panic!("no {done} in capture"));
        file.write_all(&line).expect("write");
        file.write_all(b"\n").expect("write");
        let text = String::from_utf8_lossy(&line);
        if text.contains(done) {
            matched = true;
        } else if matched && text.starts_with("[Mem] hb ") {
            hbs_after += 1;
        }
    }
    path
}

/// The plan's S2 + S4 flow over HTTP.
async fn portal_flow(base: String) {
    let client = reqwest::Client::new();
    for page in [
        "/",
        "/portal.css",
        "/portal.js",
        "/network.html",
        "/firmware.html",
    ] {
        let r = client
            .get(format!("{base}{page}"))
            .send()
            .await
            .expect("page");
        assert!(r.status().is_success(), "{page}: {}", r.status());
    }
    let got: serde_json::Value = client
        .get(format!("{base}/api/macros"))
        .send()
        .await
        .expect("GET macros")
        .json()
        .await
        .expect("macros JSON");
    let macros = serde_json::json!({"defaults": got["defaults"], "screens": got["screens"]});
    let r = client
        .post(format!("{base}/api/macros"))
        .json(&macros)
        .send()
        .await
        .expect("POST macros");
    assert_eq!(r.status(), 200);
    let r = client
        .put(format!("{base}/api/display/screen"))
        .body(r#"{"screen":"macro1"}"#)
        .send()
        .await
        .expect("PUT screen");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn captured_baseline_session_fails_and_tuned_passes() {
    let (store, _db) = store().await;

    let dir = tempfile::tempdir().expect("tmp");
    let twin = Twin::spawn(config(Profile::Baseline)).await.expect("spawn");
    let log = capture(&twin, dir.path(), portal_flow, "lvgl_switch_post_macro1").await;
    twin.shutdown().await;
    let run = import(&store, &log).await;
    let doc = document(&store, run.run_id).await;
    let d = &doc.report.derived;
    assert!(!doc.report.verdict.pass, "{:#?}", doc.report.verdict);
    assert!(d.tripwire.fired);
    assert_eq!(d.tripwire.tag.as_deref(), Some("http_root"));
    assert_eq!(d.tripwire.threshold, Some(30_720));
    assert!(d.hin_min.expect("hin_min") < 30_720);
    assert_eq!(
        d.tripwire
            .worst_stacks
            .first()
            .map(|t| (t.name.as_str(), t.stack_rem)),
        Some(("ipc0", Some(76)))
    );
    let steady = d.steady_frag_max.expect("hb frag");
    assert!((30..=50).contains(&steady), "baseline steady frag {steady}");

    let dir = tempfile::tempdir().expect("tmp");
    let twin = Twin::spawn(config(Profile::Tuned)).await.expect("spawn");
    let log = capture(&twin, dir.path(), portal_flow, "lvgl_switch_post_macro1").await;
    twin.shutdown().await;
    let run = import(&store, &log).await;
    let doc = document(&store, run.run_id).await;
    assert!(doc.report.verdict.pass, "{:#?}", doc.report.verdict);
    let d = &doc.report.derived;
    assert!(d.hin_min.expect("hin_min") >= 102_400);
    assert!(!d.tripwire.fired);
    assert!(
        d.tags.iter().any(|t| t == "http_macros_post_saved"),
        "{:?}",
        d.tags
    );
}

#[tokio::test]
async fn crash_profile_panics_and_reboots_on_icon_gc() {
    let (store, _db) = store().await;
    let dir = tempfile::tempdir().expect("tmp");
    let twin = Twin::spawn(config(Profile::Crash)).await.expect("spawn");
    let gc = |base: String| async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/icons/gc"))
            .send()
            .await
            .expect("POST gc");
        assert_eq!(r.status(), 500);
    };
    let log = capture(&twin, dir.path(), gc, "Setup complete").await;
    twin.shutdown().await;
    let text = String::from_utf8_lossy(&std::fs::read(&log).expect("log")).into_owned();
    assert!(text.contains("Stack canary watchpoint triggered (async_tcp)"));
    assert!(text.contains("Backtrace: 0x4200c3e1:0x3fcebf30"));
    let run = import(&store, &log).await;
    let doc = document(&store, run.run_id).await;
    let d = &doc.report.derived;
    assert!(d.panic.detected);
    assert_eq!(d.panic.kind.as_deref(), Some("guru_meditation"));
    assert!(d.reboots >= 1, "reboots {}", d.reboots);
    assert!(!doc.report.verdict.pass);
}

#[tokio::test]
async fn leak_profile_loses_leak_bytes_per_heartbeat() {
    let mut c = config(Profile::Leak);
    c.leak_bytes = 512;
    let twin = Twin::spawn(c).await.expect("spawn");
    let mut serial = Lines::new(open(&twin.serial_path()));
    let hbs = serial.heartbeats(16).await;
    twin.shutdown().await;
    // Least-squares slope of hi over heartbeat number.
    let ys: Vec<f64> = hbs.iter().map(|s| s.hi.expect("hi") as f64).collect();
    let n = ys.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in ys.iter().enumerate() {
        let dx = x as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    let per_hb = -num / den;
    assert!(
        (per_hb - 512.0).abs() <= 51.2,
        "lost {per_hb:.1} B per heartbeat, expected 512 ± 10 %: {ys:?}"
    );
}

#[tokio::test]
async fn unplug_and_replug_at_the_link_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let link = dir.path().join("ttyTWIN");
    let mut c = config(Profile::Tuned);
    c.link = Some(link.clone());
    let twin = Twin::spawn(c).await.expect("spawn");
    assert_eq!(twin.serial_path(), link);
    assert!(std::fs::read_link(&link)
        .expect("symlink")
        .starts_with("/dev/pts"));
    let mut serial = Lines::new(open(&link));
    serial.heartbeats(1).await;

    twin.unplug().await;
    assert!(!link.exists(), "the link goes away with the port");
    // The reader sees the port go away (EIO/EOF) instead of more lines.
    let deadline = Instant::now() + WAIT;
    while serial.next(deadline).await.is_some() {}
    assert!(Instant::now() < deadline, "reader never noticed the unplug");

    twin.replug().await.expect("replug");
    assert!(link.exists());
    let mut serial = Lines::new(open(&link));
    let hbs = serial.heartbeats(2).await;
    assert_eq!(hbs.len(), 2);
    twin.shutdown().await;
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "shutdown removes the link"
    );
}

#[tokio::test]
async fn config_blanks_secrets_and_keeps_them_when_sent_back_empty() {
    let mut c = config(Profile::Tuned);
    c.auth = Some(("admin".into(), "pw".into()));
    let twin = Twin::spawn(c).await.expect("spawn");
    let client = reqwest::Client::new();
    let url = format!("{}/api/config", twin.base_url());
    assert_eq!(client.get(&url).send().await.expect("get").status(), 401);
    let got: serde_json::Value = client
        .get(&url)
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["wifi_password"], "");
    assert_eq!(got["device_name"], "twin-test");
    // What GET showed, sent back: the empty password keeps the stored one.
    let sent_back = client
        .post(format!("{url}?no_reboot=1"))
        .basic_auth("admin", Some("pw"))
        .json(&got)
        .send()
        .await
        .expect("post");
    assert_eq!(sent_back.status(), 200);
    let invalid = client
        .post(format!("{url}?no_reboot=1"))
        .basic_auth("admin", Some("pw"))
        .body(r#"{"wifi_ssid":""}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(invalid.status(), 400);
    let body: serde_json::Value = invalid.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"success": false, "message": "Invalid configuration"})
    );
    let paths: Vec<(String, u16)> = twin
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        paths,
        [
            ("/api/config".to_owned(), 401),
            ("/api/config".to_owned(), 200),
            ("/api/config?no_reboot=1".to_owned(), 200),
            ("/api/config?no_reboot=1".to_owned(), 400),
        ]
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn flaky_serial_still_delivers_whole_snapshot_lines() {
    let mut c = config(Profile::Flaky);
    c.hb_interval = Duration::from_millis(20);
    c.chatter_per_s = 200;
    let twin = Twin::spawn(c).await.expect("spawn");
    let mut serial = Lines::new(open(&twin.serial_path()));
    // Split writes are reassembled by the reader; noise only prefixes lines,
    // so every heartbeat that arrives parses with all nine keys.
    let hbs = serial.heartbeats(20).await;
    assert!(hbs.iter().all(|s| s.values().iter().all(Option::is_some)));
    twin.shutdown().await;
}
