//! The alert engine: one task that listens to the live hub (and checks
//! `offline` and `leak_above` periodically), applies the configured rules,
//! de-duplicates (same rule and device within `dedup_window_s`), records
//! every alert in `alerts`, and hands deliveries to one task per webhook.
//! Handing over never waits: each webhook has a bounded queue and a
//! delivery that does not fit is dropped and recorded as such, so a dead
//! receiver never slows ingestion.

mod deliver;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{AlertKind, AlertRule, AlertsConfig, Webhook};
use crate::recorder::{DeviceLive, LiveEvent, LiveHub};
pub use crate::store::AlertRecord;
use crate::store::{now_us, AlertDelivery, DeviceRecord, EventKind, NewAlert, Result, Store};
use crate::units::bytes;

pub use deliver::Delivery;

/// What a rule matched.
#[derive(Debug, Clone)]
struct Firing {
    rule: usize,
    device_id: i64,
    run_id: Option<i64>,
    text: String,
}

/// Starts the engine and one delivery task per webhook. Webhooks share the
/// server's client unless `ca_file` asks for one that trusts more roots.
pub fn spawn(
    config: AlertsConfig,
    store: Store,
    hub: LiveHub,
    http: reqwest::Client,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    if config.rules.is_empty() {
        return Vec::new();
    }
    let http = webhook_client(&config, http);
    let mut tasks = Vec::new();
    let mut queues = HashMap::new();
    for webhook in &config.webhooks {
        let (tx, rx) = mpsc::channel(config.queue);
        queues.insert(webhook.name.clone(), tx);
        tasks.push(tokio::spawn(deliver::run(
            webhook.clone(),
            config.clone(),
            store.clone(),
            http.clone(),
            rx,
            shutdown.clone(),
        )));
    }
    let engine = Engine {
        rx: hub.subscribe(),
        hub,
        store,
        config,
        queues,
        last_fired: HashMap::new(),
        offline_fired: HashSet::new(),
        names: HashMap::new(),
        storage_fired: HashSet::new(),
    };
    tasks.push(tokio::spawn(engine.run(shutdown)));
    tasks
}

/// The client deliveries use. The CA file was checked when the
/// configuration was validated; should it fail now (replaced meanwhile),
/// the error is logged and deliveries go out with the platform's roots
/// only, so an internal receiver's failures name the certificate.
fn webhook_client(config: &AlertsConfig, shared: reqwest::Client) -> reqwest::Client {
    let Some(ca_file) = &config.ca_file else {
        return shared;
    };
    let agent = concat!("heaplab/", env!("CARGO_PKG_VERSION"));
    match crate::tls::client_trusting(ca_file, agent) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "alerts: webhooks will not trust alerts.ca_file");
            shared
        }
    }
}

struct Engine {
    hub: LiveHub,
    rx: broadcast::Receiver<LiveEvent>,
    store: Store,
    config: AlertsConfig,
    queues: HashMap<String, mpsc::Sender<Delivery>>,
    last_fired: HashMap<(usize, i64), i64>,
    /// Offline alerts that fired and stay armed until the device is heard.
    offline_fired: HashSet<(usize, i64)>,
    names: HashMap<i64, String>,
    /// `storage_full` rules that fired and stay armed until a write succeeds.
    storage_fired: HashSet<usize>,
}

impl Engine {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut tick =
            tokio::time::interval(Duration::from_secs(self.config.check_interval_s.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = self.rx.recv() => match received {
                    Ok(event) => self.on_event(&event).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "alert engine lagged behind the live stream");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => self.periodic().await,
            }
        }
    }

    async fn device_name(&mut self, id: i64) -> String {
        if let Some(n) = self.names.get(&id) {
            return n.clone();
        }
        let name = self
            .store
            .device(id)
            .await
            .map(|d| d.name)
            .unwrap_or_else(|_| format!("device {id}"));
        self.names.insert(id, name.clone());
        name
    }

    async fn on_event(&mut self, e: &LiveEvent) {
        let matching: Vec<(usize, AlertKind)> = self
            .config
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.kind))
            .collect();
        let data = &*e.data;
        let run_id = data["run_id"].as_i64();
        let name = self.device_name(e.device_id).await;
        for (i, kind) in matching {
            let rule = &self.config.rules[i];
            if !rule.applies_to(&name) {
                continue;
            }
            let text = match (kind, e.event_kind()) {
                (AlertKind::Tripwire, Some(EventKind::Tripwire)) => {
                    let d = &data["data"];
                    Some(format!(
                        "heaplab: {name}: TRIPWIRE at {}: hin {} < {}",
                        d["tag"].as_str().unwrap_or("?"),
                        bytes(d["hin"].as_i64()),
                        bytes(d["threshold"].as_i64())
                    ))
                }
                (AlertKind::Crash, Some(EventKind::Crash)) => Some(format!(
                    "heaplab: {name}: crash ({}): {}",
                    data["data"]["kind"].as_str().unwrap_or("crash"),
                    data["message"].as_str().unwrap_or("")
                )),
                (AlertKind::Reboot, Some(EventKind::Boot)) if data["data"]["marker"] == "reset" => {
                    Some(format!(
                        "heaplab: {name}: rebooted (reset reason {})",
                        data["data"]["reason"].as_str().unwrap_or("unknown")
                    ))
                }
                (AlertKind::AllocFailure, Some(EventKind::AllocFailed)) => Some(format!(
                    "heaplab: {name}: allocation failed: {}",
                    data["message"].as_str().unwrap_or("")
                )),
                (AlertKind::HinBelow, None) if e.kind == "snapshot" => {
                    match (data["hin"].as_i64(), rule.bytes) {
                        (Some(hin), Some(limit)) if hin < limit => Some(format!(
                            "heaplab: {name}: internal minimum free {} is below {} (tag {})",
                            bytes(Some(hin)),
                            bytes(Some(limit)),
                            data["tag"].as_str().unwrap_or("?")
                        )),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(text) = text {
                self.fire(Firing {
                    rule: i,
                    device_id: e.device_id,
                    run_id,
                    text,
                })
                .await;
            }
        }
    }

    /// `offline` and `leak_above`: state, not events.
    async fn periodic(&mut self) {
        let now = now_us();
        let devices = match self.store.devices().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "alert check: cannot list devices");
                return;
            }
        };
        for i in 0..self.config.rules.len() {
            let rule: AlertRule = self.config.rules[i].clone();
            if rule.kind == AlertKind::StorageFull {
                self.check_storage(i, &rule, now);
                continue;
            }
            for d in devices.iter().filter(|d| rule.applies_to(&d.name)) {
                let live = self.hub.device(d.id);
                match rule.kind {
                    AlertKind::Offline => self.check_offline(i, &rule, d, live, now).await,
                    AlertKind::LeakAbove => self.check_leak(i, &rule, d, live).await,
                    _ => {}
                }
            }
        }
    }

    /// Rule `i` (`offline`) on one device: fires once when nothing has been
    /// heard for longer than its seconds, and re-arms when the device
    /// speaks again.
    async fn check_offline(
        &mut self,
        i: usize,
        rule: &AlertRule,
        d: &DeviceRecord,
        live: Option<DeviceLive>,
        now: i64,
    ) {
        let Some(seconds) = rule.seconds else {
            return;
        };
        let last = live.as_ref().and_then(|l| l.last_seen_us);
        let silent_s = last.map(|t| (now - t) as f64 / 1e6);
        let key = (i, d.id);
        let Some(s) = silent_s else { return };
        if s <= seconds as f64 {
            self.offline_fired.remove(&key);
            return;
        }
        if !self.offline_fired.insert(key) {
            return;
        }
        let text = format!("heaplab: {}: offline, nothing heard for {:.0} s", d.name, s);
        self.fire(Firing {
            rule: i,
            device_id: d.id,
            run_id: live.and_then(|l| l.active_run),
            text,
        })
        .await;
    }

    /// Rule `i` (`leak_above`) on one device: fires when its active run
    /// leaks internal RAM faster than the rule's bytes per hour.
    async fn check_leak(
        &mut self,
        i: usize,
        rule: &AlertRule,
        d: &DeviceRecord,
        live: Option<DeviceLive>,
    ) {
        let (Some(limit), Some(run)) = (rule.bytes_per_hour, live.and_then(|l| l.active_run))
        else {
            return;
        };
        let leak = match super::views::leak_for_run(&self.store, run).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "alert check: leak");
                return;
            }
        };
        if let Some(rate) = leak.internal_bytes_per_hour {
            if leak.leaking && -rate > limit {
                let text = format!(
                    "heaplab: {}: leaking {} of internal RAM (limit {}/h){}",
                    d.name,
                    super::views::rate(Some(rate)),
                    bytes(Some(limit as i64)),
                    leak.hours_to_tripwire
                        .map(|h| format!(", tripwire in {}", super::views::hours(Some(h))))
                        .unwrap_or_default()
                );
                self.fire(Firing {
                    rule: i,
                    device_id: d.id,
                    run_id: Some(run),
                    text,
                })
                .await;
            }
        }
    }

    /// The webhooks a rule posts to: the ones it names, or all.
    fn targets(&self, rule: &AlertRule) -> Vec<Webhook> {
        self.config
            .webhooks
            .iter()
            .filter(|w| rule.webhooks.as_ref().is_none_or(|n| n.contains(&w.name)))
            .cloned()
            .collect()
    }

    /// Rule `i` (`storage_full`): fires once when the recorder's writes
    /// start failing for want of space, re-arms when one succeeds. It is
    /// not recorded in `alerts` (the database is what is full): it goes
    /// to the log and the webhooks only.
    fn check_storage(&mut self, i: usize, rule: &AlertRule, now: i64) {
        let full = self
            .hub
            .counters
            .storage_full
            .load(std::sync::atomic::Ordering::Relaxed);
        if !full {
            self.storage_fired.remove(&i);
            return;
        }
        if !self.storage_fired.insert(i) {
            return;
        }
        let text = "heaplab's database is full: recording is paused (rows are kept and retried); \
                    free space (delete runs, `heaplab retention run --mode drop`) or raise max_db_mb";
        tracing::error!(rule = rule.name(), "alert: {text}");
        let payload = serde_json::json!({
            "text": text,
            "device": null,
            "device_id": null,
            "rule": rule.name(),
            "kind": rule.kind.as_str(),
            "run_id": null,
            "ts": chrono::DateTime::<chrono::Utc>::from_timestamp_micros(now)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            "alert_id": null,
        });
        for w in self.targets(rule) {
            let Some(queue) = self.queues.get(&w.name) else {
                continue;
            };
            // No alert row to note the outcome in: id 0 matches none.
            let delivery = Delivery {
                alert_id: 0,
                payload: payload.clone(),
            };
            if queue.try_send(delivery).is_err() {
                tracing::warn!(webhook = %w.name, "storage alert dropped: queue full");
            }
        }
    }

    /// De-duplicates, records and queues one alert.
    async fn fire(&mut self, f: Firing) {
        let now = now_us();
        let window_us = self.config.dedup_window_s as i64 * 1_000_000;
        let key = (f.rule, f.device_id);
        if let Some(last) = self.last_fired.get(&key) {
            if now - last < window_us {
                return;
            }
        }
        self.last_fired.insert(key, now);
        let rule = self.config.rules[f.rule].clone();
        let targets = self.targets(&rule);
        let device_name = self.device_name(f.device_id).await;
        let inserted = self
            .store
            .insert_alert(&NewAlert {
                ts_us: now,
                rule: rule.name(),
                kind: rule.kind.as_str(),
                device_id: f.device_id,
                device_name: &device_name,
                run_id: f.run_id,
                text: &f.text,
                delivery: if targets.is_empty() {
                    AlertDelivery::None
                } else {
                    AlertDelivery::Pending
                },
            })
            .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "cannot record alert");
                return;
            }
        };
        tracing::info!(rule = rule.name(), device = %device_name, "alert: {}", f.text);
        let payload = serde_json::json!({
            "text": f.text,
            "device": device_name,
            "device_id": f.device_id,
            "rule": rule.name(),
            "kind": rule.kind.as_str(),
            "run_id": f.run_id,
            "ts": chrono::DateTime::<chrono::Utc>::from_timestamp_micros(now)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            "alert_id": id,
        });
        for w in targets {
            let Some(queue) = self.queues.get(&w.name) else {
                continue;
            };
            let delivery = Delivery {
                alert_id: id,
                payload: payload.clone(),
            };
            if queue.try_send(delivery).is_err() {
                deliver::note(
                    &self.store,
                    id,
                    AlertDelivery::Dropped,
                    0,
                    &format!("{}: queue full, dropped", w.name),
                )
                .await;
            }
        }
    }
}

/// What `GET /api/v1/alerts` returns.
#[derive(Debug, Clone, Serialize)]
pub struct AlertsDocument {
    pub rules: Vec<Value>,
    pub webhooks: Vec<Value>,
    pub alerts: Vec<AlertRecord>,
}

impl AlertsDocument {
    pub async fn load(store: &Store, config: &AlertsConfig, limit: i64) -> Result<Self> {
        Ok(AlertsDocument {
            rules: config
                .rules
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.name(), "kind": r.kind.as_str(), "bytes": r.bytes,
                        "bytes_per_hour": r.bytes_per_hour, "seconds": r.seconds,
                        "devices": r.devices, "webhooks": r.webhooks,
                    })
                })
                .collect(),
            webhooks: config
                .webhooks
                .iter()
                .map(|w| serde_json::json!({"name": w.name, "target": w.public_target()}))
                .collect(),
            alerts: store.alerts(limit).await?,
        })
    }
}
