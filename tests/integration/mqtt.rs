//! The twin's MQTT client against a real broker (Debian's mosquitto,
//! started per test on a free loopback port), observed from outside by
//! `mosquitto_sub` and on the twin's serial pty.

use std::time::Duration;

use heaplab::protocol::{parse_line, HealthSample, LineKind};
use heaplab::sim::{Profile, Twin, TwinConfig};
use serde_json::Value;

use crate::mosquitto::{Broker, Subscriber};
use crate::serial_lines::{open, Lines};

const NAME: &str = "mqtt-twin";
const MQTT_WAIT: Duration = Duration::from_secs(45);

async fn twin(broker: &Broker, dir: &std::path::Path) -> Twin {
    let mut config = TwinConfig::new(NAME, Profile::Tuned);
    config.hb_interval = Duration::from_millis(200);
    config.link = Some(dir.join(NAME));
    config.mqtt = Some(broker.addr().parse().expect("broker addr"));
    Twin::spawn(config).await.expect("spawn twin")
}

fn snapshot_tag(kind: &LineKind) -> Option<&str> {
    match kind {
        LineKind::Snapshot(s) => Some(s.tag.as_str()),
        _ => None,
    }
}

fn tags(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| snapshot_tag(&parse_line(l.as_bytes()).kind).map(str::to_owned))
        .filter(|t| t.starts_with("mqtt_"))
        .collect()
}

async fn health(twin: &Twin) -> Value {
    reqwest::get(format!("{}/api/health", twin.base_url()))
        .await
        .expect("GET /api/health")
        .json()
        .await
        .expect("health JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twin_publishes_discovery_availability_and_health_to_mosquitto() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    let twin = twin(&broker, dir.path()).await;
    let mut serial = Lines::new(open(&twin.serial_path()));
    let lines = serial
        .until_within("mqtt_discovery_post", MQTT_WAIT, |k, _| {
            snapshot_tag(k) == Some("mqtt_discovery_post")
        })
        .await;
    assert_eq!(
        tags(&lines),
        [
            "mqtt_connect_attempt",
            "mqtt_connected",
            "mqtt_discovery_pre",
            "mqtt_first_publish",
            "mqtt_discovery_post"
        ]
    );
    let connecting = format!("[MQTT] Connecting to {} (0ms)", broker.addr());
    assert!(lines.contains(&connecting), "{lines:#?}");

    // Everything is retained: a subscriber arriving now still gets it.
    let sub = Subscriber::start(&broker, "#");
    let state = sub
        .wait_for("the health state", MQTT_WAIT, |m| {
            m.topic == format!("devices/{NAME}/health/state")
        })
        .await;
    assert!(state.retained);
    let sample = HealthSample::from_json(state.payload.as_bytes()).expect("health state");
    assert!(
        sample.heap_internal_free.is_some_and(|v| v > 100_000),
        "{sample:?}"
    );
    let state: Value = serde_json::from_str(&state.payload).expect("JSON");
    assert_eq!(state["mqtt_connected"], true);
    assert!(state["heap_internal_free_min_window"].is_null(), "{state}");

    let online = sub
        .wait_for("availability", MQTT_WAIT, |m| {
            m.topic == format!("devices/{NAME}/availability")
        })
        .await;
    assert_eq!((online.payload.as_str(), online.retained), ("online", true));

    let info: Value = reqwest::get(format!("{}/api/info", twin.base_url()))
        .await
        .expect("info")
        .json()
        .await
        .expect("info JSON");
    let prefix = format!("homeassistant/sensor/{NAME}/");
    let configs = loop {
        let configs: Vec<_> = sub
            .messages()
            .into_iter()
            .filter(|m| m.topic.starts_with(&prefix))
            .collect();
        if configs.len() >= heaplab::sim::mqtt::topics::HA_SENSORS.len() {
            break configs;
        }
        sub.wait_for("more discovery configs", MQTT_WAIT, |m| {
            m.topic.starts_with(&prefix) && !configs.iter().any(|c| c.topic == m.topic)
        })
        .await;
    };
    for c in &configs {
        let doc: Value = serde_json::from_str(&c.payload).expect("discovery JSON");
        assert_eq!(doc["~"], format!("devices/{NAME}"), "{doc}");
        assert_eq!(doc["stat_t"], "~/health/state");
        assert_eq!(doc["avty_t"], "~/availability");
        assert_eq!(doc["dev"]["sw"], info["version"]);
        let key = doc["val_tpl"]
            .as_str()
            .and_then(|t| t.strip_prefix("{{ value_json."))
            .and_then(|t| t.strip_suffix(" }}"))
            .expect("value template");
        assert!(
            sample_has_key(&state, key),
            "template reads {key}, absent from the health state"
        );
        assert!(c.retained);
    }

    let h = health(&twin).await;
    assert_eq!(
        (
            &h["mqtt_enabled"],
            &h["mqtt_connected"],
            &h["mqtt_publish_enabled"]
        ),
        (&Value::Bool(true), &Value::Bool(true), &Value::Bool(true))
    );

    // The interval comes from the config API and applies without a reboot.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/config?no_reboot=1", twin.base_url()))
        .json(&serde_json::json!({"mqtt_interval_seconds": 1}))
        .send()
        .await
        .expect("POST config");
    assert_eq!(r.status(), 200);
    sub.wait_for("a periodic (live) health state", MQTT_WAIT, |m| {
        m.topic.ends_with("/health/state") && !m.retained
    })
    .await;

    // A reboot drops the socket without DISCONNECT: the broker publishes
    // the last will, then the new boot connects and tags again.
    let r = client
        .post(format!("{}/api/reboot", twin.base_url()))
        .send()
        .await
        .expect("reboot");
    assert_eq!(r.status(), 200);
    sub.wait_for("the last will", MQTT_WAIT, |m| {
        m.topic.ends_with("/availability") && m.payload == "offline"
    })
    .await;
    let after = serial
        .until_within("a second boot's mqtt_connected", MQTT_WAIT, |k, _| {
            snapshot_tag(k) == Some("mqtt_connected")
        })
        .await;
    assert!(after
        .iter()
        .any(|l| l.contains("[System Boot] Starting...")));
    assert!(tags(&after).contains(&"mqtt_connect_attempt".to_owned()));
    twin.shutdown().await;
}

fn sample_has_key(state: &Value, key: &str) -> bool {
    state.get(key).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_is_logged_tagged_and_reconnected() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut broker = Broker::start();
    let twin = twin(&broker, dir.path()).await;
    let mut serial = Lines::new(open(&twin.serial_path()));
    serial
        .until_within("mqtt_discovery_post", MQTT_WAIT, |k, _| {
            snapshot_tag(k) == Some("mqtt_discovery_post")
        })
        .await;

    broker.stop();
    let lost = serial
        .until_within("mqtt_disconnected", MQTT_WAIT, |k, _| {
            snapshot_tag(k) == Some("mqtt_disconnected")
        })
        .await;
    assert!(
        lost.iter().any(|l| l.starts_with("[MQTT] Disconnected (")),
        "{lost:#?}"
    );
    assert_eq!(health(&twin).await["mqtt_connected"], false);
    let failed = serial
        .until_within("a failed retry", MQTT_WAIT, |_, text| {
            text.starts_with("[MQTT] Connect failed (")
        })
        .await;
    assert!(failed
        .iter()
        .any(|l| l.starts_with("[MQTT] Connecting to ")));

    broker.resume();
    let back = serial
        .until_within("mqtt_reconnected", Duration::from_secs(40), |k, _| {
            snapshot_tag(k) == Some("mqtt_reconnected")
        })
        .await;
    // Once-per-boot tags stay once per boot.
    assert!(!tags(&back).contains(&"mqtt_connect_attempt".to_owned()));
    assert_eq!(health(&twin).await["mqtt_connected"], true);
    // The restarted broker kept nothing; discovery went out again.
    let sub = Subscriber::start(&broker, "homeassistant/#");
    sub.wait_for("discovery after the reconnect", MQTT_WAIT, |m| {
        m.topic == format!("homeassistant/sensor/{NAME}/uptime/config")
    })
    .await;
    twin.shutdown().await;
}

/// The firmware cannot be compiled here, so its MQTT constants and Home
/// Assistant table are read from the source and compared with the twin's:
/// a change on one side only fails here.
#[test]
fn firmware_mqtt_link_matches_the_twin() {
    use heaplab::sim::mqtt::{topics::HA_SENSORS, BACKOFF_FIRST, BACKOFF_MAX, KEEP_ALIVE};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/firmware/src/mqtt_link.cpp");
    let source = std::fs::read_to_string(path).expect("firmware/src/mqtt_link.cpp");
    let table = &source[source.find("HA_SENSORS[] = {").expect("HA_SENSORS table")..];
    let table = &table[..table.find("};").expect("end of table")];
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.trim_start().starts_with("{\""))
        .map(|l| l.split('"').skip(1).step_by(2).collect())
        .collect();
    let twin: Vec<Vec<&str>> = HA_SENSORS
        .iter()
        .map(|s| {
            vec![
                s.object_id,
                s.name,
                s.key,
                s.unit,
                s.device_class,
                s.state_class,
            ]
        })
        .collect();
    assert_eq!(rows, twin);
    for (name, value) in [
        ("KEEPALIVE_S", KEEP_ALIVE.as_secs()),
        ("BACKOFF_FIRST_MS", BACKOFF_FIRST.as_millis() as u64),
        ("BACKOFF_MAX_MS", BACKOFF_MAX.as_millis() as u64),
    ] {
        let decl = format!("{name} = {value};");
        assert!(source.contains(&decl), "firmware lacks `{decl}`");
    }
    for topic in [
        "\"devices/%s\"",
        "\"%s/availability\"",
        "\"%s/health/state\"",
        "\"homeassistant/sensor/%s/%s/config\"",
    ] {
        assert!(source.contains(topic), "firmware lacks topic {topic}");
    }
}
