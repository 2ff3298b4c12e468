//! Alert rules end to end: twins feed the real server over their serial
//! ptys, the engine applies the rules, and a webhook receiver on loopback
//! gets the POSTs. `soak.rs` covers `crash` and `reboot` de-duplication
//! inside its long soak; this file covers the other kinds (tripwire, alloc
//! failure, hin below, leak above, offline) and the reboot payload, routing
//! to named webhooks, the de-duplication window running out, the rate
//! limit and the full queue.

use std::path::Path;
use std::time::Duration;

use heaplab::sim::{Profile, Twin, TwinConfig};
use heaplab::soak::config::{AlertKind, AlertRule, AlertsConfig, Webhook};
use heaplab::store::DeviceSpec;
use serde_json::Value;

use crate::helpers::{db_scalar, eventually, get_json, server_config, start_server, twin_device};
use crate::webhook_receiver::{http_receiver, Post, Received};

/// A rule of `kind` named `name`, for every device and every webhook.
pub fn rule(name: &str, kind: AlertKind) -> AlertRule {
    AlertRule {
        name: Some(name.to_owned()),
        kind,
        bytes: None,
        bytes_per_hour: None,
        seconds: None,
        devices: None,
        webhooks: None,
    }
}

fn for_device(mut r: AlertRule, device: &str) -> AlertRule {
    r.devices = Some(vec![device.to_owned()]);
    r
}

pub fn webhook(name: &str, url: String) -> Webhook {
    Webhook {
        name: name.to_owned(),
        url,
    }
}

/// Fast checks, quick retries, no rate limit to speak of, a long window.
pub fn alerts(rules: Vec<AlertRule>, webhooks: Vec<Webhook>) -> AlertsConfig {
    AlertsConfig {
        dedup_window_s: 3600,
        max_per_minute: 6000,
        queue: 64,
        attempts: 3,
        backoff_ms: 50,
        check_interval_s: 1,
        ca_file: None,
        rules,
        webhooks,
    }
}

pub async fn spawn_twin(dir: &Path, name: &str, profile: Profile, hb_ms: u64, leak: u32) -> Twin {
    let mut config = TwinConfig::new(name, profile);
    config.hb_interval = Duration::from_millis(hb_ms);
    config.leak_bytes = leak;
    config.link = Some(dir.join(name));
    Twin::spawn(config).await.expect("spawn twin")
}

/// The serial port only: no health polling, so a silent port is a silent
/// device (what `offline` watches).
pub fn serial_only(name: &str, twin: &Twin) -> DeviceSpec {
    DeviceSpec {
        url: None,
        health_interval_s: 0,
        ..twin_device(name, twin)
    }
}

/// The first POST of rule `rule` on `path`.
pub async fn post_of(received: &Received, path: &str, rule: &str) -> Post {
    eventually(
        &format!("a {rule:?} alert on {path}"),
        Duration::from_secs(30),
        || async {
            received
                .on(path)
                .into_iter()
                .find(|p| p.body["rule"] == rule)
        },
    )
    .await
}

/// The recorded alerts of one rule, newest first (`GET /api/v1/alerts`).
pub async fn recorded(base: &str, rule: &str) -> Vec<Value> {
    let doc = get_json(&format!("{base}/api/v1/alerts")).await;
    doc["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["rule"] == rule)
        .cloned()
        .collect()
}

/// What every payload carries, whatever the rule.
fn assert_envelope(p: &Post, rule: &str, kind: &str, device: &str, device_id: i64) {
    let b = &p.body;
    assert_eq!(b["rule"], rule, "{b}");
    assert_eq!(b["kind"], kind, "{b}");
    assert_eq!(b["device"], device, "{b}");
    assert_eq!(b["device_id"], device_id, "{b}");
    assert!(b["alert_id"].as_i64().is_some(), "{b}");
    let ts = b["ts"].as_str().expect("ts");
    chrono::DateTime::parse_from_rfc3339(ts).expect("ts is RFC 3339");
}

fn text(p: &Post) -> &str {
    p.body["text"].as_str().expect("text")
}

async fn device_id(base: &str, name: &str) -> i64 {
    let devices = get_json(&format!("{base}/api/v1/devices")).await;
    devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("device {name}"))
}

/// A leak twin that runs out of internal RAM within seconds trips the
/// tripwire, falls below the hin threshold, leaks faster than the limit and
/// then fails allocations; a quiet twin reboots and then goes silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_kind_reaches_the_webhook_with_its_payload() {
    let dir = tempfile::tempdir().expect("tmp");
    let (hook, received) = http_receiver().await;
    let drain = spawn_twin(dir.path(), "drain", Profile::Leak, 20, 512).await;
    let quiet = spawn_twin(dir.path(), "quiet", Profile::Tuned, 100, 0).await;

    let mut hin = for_device(rule("low hin", AlertKind::HinBelow), "drain");
    hin.bytes = Some(90_000);
    let mut leak = for_device(rule("leaking", AlertKind::LeakAbove), "drain");
    leak.bytes_per_hour = Some(10_000.0);
    let mut offline = for_device(rule("quiet offline", AlertKind::Offline), "quiet");
    offline.seconds = Some(1);
    let mut reboot = for_device(rule("quiet rebooted", AlertKind::Reboot), "quiet");
    reboot.webhooks = Some(vec!["ops".into()]);
    let rules = vec![
        rule("tripwire", AlertKind::Tripwire),
        for_device(rule("alloc", AlertKind::AllocFailure), "drain"),
        hin,
        leak,
        offline,
        reboot,
    ];
    let hooks = vec![
        webhook("team", format!("{hook}/team")),
        webhook("ops", format!("{hook}/ops")),
    ];
    let mut config = server_config(
        dir.path(),
        vec![twin_device("drain", &drain), serial_only("quiet", &quiet)],
    );
    let db = config.db.clone();
    config.soak.alerts = alerts(rules, hooks);
    config.soak.validate().expect("valid alerts");
    let server = start_server(config).await;
    let base = server.url();
    let drain_id = device_id(&base, "drain").await;
    let quiet_id = device_id(&base, "quiet").await;

    let (tripwire, low, alloc) = drain_alerts(&received, drain_id).await;
    quiet_alerts(&received, &base, &quiet, quiet_id).await;
    // Routing: a rule naming webhooks posts only there, a rule naming none
    // posts to every webhook.
    assert!(received
        .on("/team")
        .iter()
        .all(|p| p.body["rule"] != "quiet rebooted"));
    let ops_tripwire = post_of(&received, "/ops", "tripwire").await;
    assert_eq!(ops_tripwire.body, tripwire.body);
    // Device filters hold: each device got only the rules meant for it.
    for p in received.all() {
        let for_quiet = p.body["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("quiet"));
        assert_eq!(p.body["device"] == "quiet", for_quiet, "{}", p.body);
    }

    // De-duplication: many failed allocations and low snapshots, one alert
    // each; the recorded alert is the one delivered.
    server.recorder.flush().await;
    let run = tripwire.body["run_id"].as_i64().expect("run id");
    assert_many_rows_one_alert(
        &db,
        &base,
        &received,
        run,
        [
            ("alloc", &alloc),
            ("low hin", &low),
            ("tripwire", &tripwire),
        ],
    )
    .await;
    server.stop().await.expect("stop");
    drop((drain, quiet));
}

/// The drain twin's four kinds, from its own serial output; returns the
/// tripwire, hin-below and alloc-failure POSTs.
async fn drain_alerts(received: &Received, drain_id: i64) -> (Post, Post, Post) {
    let tripwire = post_of(received, "/team", "tripwire").await;
    assert_envelope(&tripwire, "tripwire", "tripwire", "drain", drain_id);
    let t = text(&tripwire);
    assert!(t.starts_with("heaplab: drain: TRIPWIRE at hb: hin "), "{t}");
    assert!(t.ends_with("< 30,720 B"), "the twin's threshold: {t}");
    let run = tripwire.body["run_id"].as_i64().expect("run id");

    let low = post_of(received, "/team", "low hin").await;
    assert_envelope(&low, "low hin", "hin_below", "drain", drain_id);
    let t = text(&low);
    assert!(
        t.contains("internal minimum free") && t.contains("is below 90,000 B (tag hb)"),
        "{t}"
    );
    assert_eq!(low.body["run_id"], run);

    let alloc = post_of(received, "/team", "alloc").await;
    assert_envelope(&alloc, "alloc", "alloc_failure", "drain", drain_id);
    let t = text(&alloc);
    assert!(t.starts_with("heaplab: drain: allocation failed: "), "{t}");
    assert!(t.contains("512"), "the leak's size: {t}");

    let leaking = post_of(received, "/team", "leaking").await;
    assert_envelope(&leaking, "leaking", "leak_above", "drain", drain_id);
    let t = text(&leaking);
    assert!(
        t.contains("leaking") && t.contains("of internal RAM (limit 10,000 B/h)"),
        "{t}"
    );
    assert_eq!(leaking.body["run_id"], run, "the device's active run");

    (tripwire, low, alloc)
}

/// The quiet twin: a reboot (to `ops` only), then silence.
async fn quiet_alerts(received: &Received, base: &str, quiet: &Twin, quiet_id: i64) {
    eventually("quiet online", Duration::from_secs(60), || async {
        let s = get_json(&format!("{base}/api/v1/devices/{quiet_id}/status")).await;
        s["live"]["last_snapshot"].is_object().then_some(())
    })
    .await;
    quiet.reboot().await;
    let rebooted = post_of(received, "/ops", "quiet rebooted").await;
    assert_envelope(&rebooted, "quiet rebooted", "reboot", "quiet", quiet_id);
    let t = text(&rebooted);
    assert!(
        t.starts_with("heaplab: quiet: rebooted (reset reason "),
        "{t}"
    );
    assert!(
        !t.contains("unknown"),
        "the twin names its reset reason: {t}"
    );
    quiet.unplug().await;
    let gone = post_of(received, "/team", "quiet offline").await;
    assert_envelope(&gone, "quiet offline", "offline", "quiet", quiet_id);
    let t = text(&gone);
    assert!(
        t.starts_with("heaplab: quiet: offline, nothing heard for "),
        "{t}"
    );
}

/// Each rule's condition held for many rows but alerted once, and that
/// alert is the one both webhooks received.
async fn assert_many_rows_one_alert(
    db: &Path,
    base: &str,
    received: &Received,
    run: i64,
    posts: [(&str, &Post); 3],
) {
    let failures = db_scalar(
        db,
        "SELECT COUNT(*) FROM events WHERE run_id = $1 AND kind = 'alloc_failed'",
        run,
    )
    .await;
    assert!(failures > 1, "the twin failed {failures} allocations");
    let low_snapshots = db_scalar(
        db,
        "SELECT COUNT(*) FROM snapshots WHERE run_id = $1 AND hin < 90000",
        run,
    )
    .await;
    assert!(
        low_snapshots > 1,
        "{low_snapshots} snapshots below 90,000 B"
    );
    for (name, post) in posts {
        let list = recorded(base, name).await;
        assert_eq!(list.len(), 1, "{name}: {list:?}");
        assert_eq!(list[0]["id"], post.body["alert_id"]);
        assert_eq!(list[0]["text"], post.body["text"]);
        // Both webhooks answered on the first attempt, each noted once.
        let delivered = eventually("both delivered", Duration::from_secs(60), || async {
            let a = recorded(base, name).await;
            let detail = a[0]["detail"].as_str().unwrap_or_default().to_owned();
            (detail.contains("team: delivered") && detail.contains("ops: delivered")).then_some(a)
        })
        .await;
        assert_eq!(delivered[0]["delivery"], "delivered");
        assert_eq!(delivered[0]["attempts"], 2, "{}", delivered[0]);
        for path in ["/team", "/ops"] {
            let n = received
                .on(path)
                .iter()
                .filter(|p| p.body["rule"] == name)
                .count();
            assert_eq!(n, 1, "{name} on {path}");
        }
    }
}

/// The window is per rule and device: two devices alert at once, and the
/// same device alerts again only once `dedup_window_s` has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_condition_alerts_again_only_after_the_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let (hook, received) = http_receiver().await;
    let one = spawn_twin(dir.path(), "one", Profile::Tuned, 50, 0).await;
    let two = spawn_twin(dir.path(), "two", Profile::Tuned, 50, 0).await;
    let mut always = rule("always low", AlertKind::HinBelow);
    always.bytes = Some(10_000_000);
    let mut config = server_config(
        dir.path(),
        vec![serial_only("one", &one), serial_only("two", &two)],
    );
    let mut soak = alerts(vec![always], vec![webhook("team", format!("{hook}/team"))]);
    soak.dedup_window_s = 2;
    config.soak.alerts = soak;
    let server = start_server(config).await;

    let of = |device: &str| -> Vec<Post> {
        received
            .on("/team")
            .into_iter()
            .filter(|p| p.body["device"] == device)
            .collect()
    };
    eventually(
        "three alerts for `one`",
        Duration::from_secs(30),
        || async { (of("one").len() >= 3).then_some(()) },
    )
    .await;
    let posts = of("one");
    let seconds = |p: &Post| {
        chrono::DateTime::parse_from_rfc3339(p.body["ts"].as_str().expect("ts"))
            .expect("ts")
            .timestamp_micros() as f64
            / 1e6
    };
    for pair in posts.windows(2) {
        let gap = seconds(&pair[1]) - seconds(&pair[0]);
        assert!(gap >= 2.0, "alerts {gap:.3} s apart inside a 2 s window");
        assert!(
            gap < 4.0,
            "the window ran out, the condition held: {gap:.3} s"
        );
    }
    // Heartbeats every 50 ms: without de-duplication, dozens by now.
    let span = seconds(&posts[posts.len() - 1]) - seconds(&posts[0]);
    assert!(
        posts.len() as f64 <= span / 2.0 + 1.0,
        "{} alerts in {span:.1} s",
        posts.len()
    );
    // `two` is its own key: its first alert is not held back by `one`'s.
    let first_two = of("two").first().map(seconds).expect("an alert for `two`");
    assert!((first_two - seconds(&posts[0])).abs() < 1.5);
    server.stop().await.expect("stop");
    drop((one, two));
}

/// Four rules match one snapshot at once; the webhook allows 60 POSTs a
/// minute and queues one delivery: POSTs arrive a second apart, and what
/// does not fit is recorded as dropped instead of holding up the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_spaces_posts_and_a_full_queue_drops() {
    let dir = tempfile::tempdir().expect("tmp");
    let (hook, received) = http_receiver().await;
    let twin = spawn_twin(dir.path(), "busy", Profile::Tuned, 100, 0).await;
    let rules: Vec<AlertRule> = (1..=4)
        .map(|i| {
            let mut r = rule(&format!("low {i}"), AlertKind::HinBelow);
            r.bytes = Some(10_000_000);
            r
        })
        .collect();
    let mut config = server_config(dir.path(), vec![serial_only("busy", &twin)]);
    let mut soak = alerts(rules, vec![webhook("team", format!("{hook}/team"))]);
    soak.max_per_minute = 60;
    soak.queue = 1;
    config.soak.alerts = soak;
    let server = start_server(config).await;
    let base = server.url();

    let all_settled = || async {
        let doc = get_json(&format!("{base}/api/v1/alerts")).await;
        let list = doc["alerts"].as_array().expect("alerts").clone();
        let settled = list.len() == 4
            && list
                .iter()
                .all(|a| a["delivery"] == "delivered" || a["delivery"] == "dropped");
        settled.then_some(list)
    };
    let list = eventually("four alerts settled", Duration::from_secs(30), all_settled).await;
    let dropped: Vec<&Value> = list.iter().filter(|a| a["delivery"] == "dropped").collect();
    assert!(
        !dropped.is_empty(),
        "one in flight, one queued, the rest dropped: {list:?}"
    );
    for a in &dropped {
        let detail = a["detail"].as_str().expect("detail");
        assert!(detail.contains("team: queue full"), "{detail}");
    }
    let posts = received.on("/team");
    assert_eq!(posts.len() + dropped.len(), 4, "{list:?}");
    assert!(
        posts.len() >= 2,
        "at least the one in flight and the queued one"
    );
    for pair in posts.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "POSTs {gap:?} apart at 60/min"
        );
    }
    server.stop().await.expect("stop");
    drop(twin);
}
