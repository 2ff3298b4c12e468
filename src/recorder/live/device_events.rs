//! What the recorder does with each [`DeviceEvent`]: the rows it adds to the
//! device's active run, the live state it updates in the hub and what it
//! publishes to subscribers. Apart from the loop and the run bookkeeping in
//! `live.rs` because this is the part that grows with every new line kind.

use serde_json::{json, Value};

use super::State;
use crate::ingest::{DeviceEvent, SourceKind};
use crate::protocol::{parse_line, DeviceLine, LineKind};
use crate::store::{EventKind, RunKind, RunStatus, SerialLineRow};

impl State {
    /// Handles an event now, or holds it while the device's interrupted
    /// run may yet go on (see `resume.rs`).
    pub(super) async fn handle_event(&mut self, event: DeviceEvent) {
        for event in self.admit(event).await {
            self.dispatch_event(event).await;
        }
    }

    pub(super) async fn dispatch_event(&mut self, event: DeviceEvent) {
        self.hub.count(&self.hub.counters.events_ingested, 1);
        let device_id = event.device_id();
        match event {
            DeviceEvent::Serial {
                ts_us,
                line,
                truncated,
                ..
            } => self.serial_line(device_id, ts_us, &line, truncated).await,
            DeviceEvent::Health {
                ts_us,
                http_status,
                latency_ms,
                body,
                error,
                ..
            } => {
                let poll = HealthPoll {
                    http_status,
                    latency_ms,
                    body,
                    error,
                };
                self.health(device_id, ts_us, poll).await;
            }
            DeviceEvent::Status {
                ts_us,
                source,
                online,
                detail,
                ..
            } => self.status(device_id, ts_us, source, online, detail).await,
        }
    }

    /// An `/api/health` poll: a health row, the device's last sample.
    async fn health(&mut self, device_id: i64, ts_us: i64, poll: HealthPoll) {
        let HealthPoll {
            http_status,
            latency_ms,
            body,
            error,
        } = poll;
        let Some(run) = self.active(device_id, ts_us).await else {
            return;
        };
        let run_id = run.tracker.run_id();
        run.tracker.record_health(
            &mut run.batch,
            ts_us,
            http_status,
            latency_ms,
            body.as_deref(),
            error.clone(),
        );
        let sample = run.batch.health.last().and_then(|h| h.sample.clone());
        self.pending_rows += 1;
        let ok = error.is_none();
        self.hub.update(device_id, |d| {
            d.last_seen_us = Some(ts_us);
            if let Some(s) = &sample {
                d.last_health = Some(s.clone());
                d.last_health_us = Some(ts_us);
            }
            d.health_online = ok;
        });
        if self.hub.has_subscribers() {
            self.publish(
                device_id,
                "health",
                ts_us,
                json!({
                    "run_id": run_id, "http_status": http_status, "latency_ms": latency_ms,
                    "sample": sample, "error": error,
                }),
            );
        }
    }

    /// A source went online or offline: a `status` event and the hub flag.
    async fn status(
        &mut self,
        device_id: i64,
        ts_us: i64,
        source: SourceKind,
        online: bool,
        detail: String,
    ) {
        let Some(run) = self.active(device_id, ts_us).await else {
            return;
        };
        let what = match source {
            SourceKind::Serial => "serial",
            SourceKind::Health => "health",
        };
        let message = format!(
            "{what} {}: {detail}",
            if online { "online" } else { "offline" }
        );
        run.tracker.record_event(
            &mut run.batch,
            ts_us,
            EventKind::Status,
            &message,
            json!({"source": what, "online": online, "detail": detail}),
        );
        self.pending_rows += 1;
        let live = self.hub.update(device_id, |d| {
            match source {
                SourceKind::Serial => d.serial_online = online,
                SourceKind::Health => d.health_online = online,
            }
            d.clone()
        });
        if self.hub.has_subscribers() {
            let data = serde_json::to_value(live).unwrap_or(Value::Null);
            self.publish(device_id, "status", ts_us, data);
        }
    }

    /// One serial line: a reboot may end the live run first, then the line
    /// is recorded, reflected in the hub and published.
    async fn serial_line(&mut self, device_id: i64, ts_us: i64, raw: &[u8], truncated: bool) {
        self.hub.count(&self.hub.counters.lines_ingested, 1);
        let line = parse_line(raw);
        let rebooting = match self.active(device_id, ts_us).await {
            Some(run) => run.tracker.is_reboot(&line),
            None => return,
        };
        if rebooting {
            self.reboot_boundary(device_id, ts_us).await;
        }
        let Some(run) = self.active(device_id, ts_us).await else {
            return;
        };
        let run_id = run.tracker.run_id();
        let flags = if truncated {
            SerialLineRow::TRUNCATED
        } else {
            0
        };
        let before = run.batch.len();
        run.tracker.record_line(&mut run.batch, ts_us, &line, flags);
        let added = run.batch.len() - before;
        let line_no = run.tracker.lines_recorded();
        self.pending_rows += added;
        self.reflect_line(device_id, ts_us, run_id, &line).await;
        if self.hub.has_subscribers() {
            self.publish_line(device_id, ts_us, (run_id, line_no), &line);
        }
    }

    /// The device rebooted: count it, and end a live run there.
    async fn reboot_boundary(&mut self, device_id: i64, ts_us: i64) {
        self.hub.update(device_id, |d| {
            d.reboots += 1;
            d.boot_started_us = Some(ts_us);
        });
        let is_live = self
            .runs
            .get(&device_id)
            .is_some_and(|r| r.kind == RunKind::Live);
        if is_live {
            // Reboots are run boundaries: the crash that caused this one
            // stays with the run it ended.
            self.close_run(device_id, RunStatus::Completed, ts_us).await;
        }
    }

    /// What the line tells about the device now: its last snapshot,
    /// firmware version, IP or boot time.
    async fn reflect_line(
        &mut self,
        device_id: i64,
        ts_us: i64,
        run_id: i64,
        line: &DeviceLine<'_>,
    ) {
        match &line.kind {
            LineKind::Snapshot(s) => {
                let snapshot = s.clone();
                self.hub.update(device_id, |d| {
                    if let Some(hi) = snapshot.hi {
                        d.push_spark(ts_us, hi);
                    }
                    d.last_snapshot = Some(snapshot);
                    d.last_snapshot_us = Some(ts_us);
                    d.last_seen_us = Some(ts_us);
                });
            }
            LineKind::Firmware { version } => {
                let version = version.clone();
                if let Err(e) = self.store.set_run_firmware(run_id, &version).await {
                    tracing::warn!(error = %e, "cannot record firmware version");
                }
                self.hub.update(device_id, |d| d.firmware = Some(version));
            }
            LineKind::GotIp { ip } => {
                let ip = ip.clone();
                if let Ok(ips) = self.announced_ips.lock() {
                    if let Some(tx) = ips.get(&device_id) {
                        tx.send_replace(Some(ip.clone()));
                    }
                }
                self.hub.update(device_id, |d| d.ip = Some(ip));
            }
            LineKind::Boot(_) => {
                self.hub.update(device_id, |d| {
                    d.boot_started_us.get_or_insert(ts_us);
                    d.last_seen_us = Some(ts_us);
                });
            }
            _ => {
                self.hub.update(device_id, |d| d.last_seen_us = Some(ts_us));
            }
        }
    }

    /// The raw line, then its parsed form as a snapshot or an event.
    fn publish_line(
        &self,
        device_id: i64,
        ts_us: i64,
        (run_id, line_no): (i64, i64),
        line: &DeviceLine<'_>,
    ) {
        self.publish(
            device_id,
            "line",
            ts_us,
            json!({"run_id": run_id, "line_no": line_no, "text": &*line.text}),
        );
        match &line.kind {
            LineKind::Unrecognized => {}
            LineKind::Snapshot(s) => {
                let mut data = serde_json::to_value(s).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut data {
                    m.insert("run_id".into(), run_id.into());
                    m.insert("line_no".into(), line_no.into());
                }
                self.publish(device_id, "snapshot", ts_us, data);
            }
            kind => self.publish(
                device_id,
                "event",
                ts_us,
                json!({
                    "run_id": run_id, "line_no": line_no, "kind": EventKind::of_line(kind).map(EventKind::as_str),
                    "message": line.text.trim(), "data": kind,
                }),
            ),
        }
    }
}

/// The fields of a [`DeviceEvent::Health`].
struct HealthPoll {
    http_status: Option<i64>,
    latency_ms: Option<i64>,
    body: Option<String>,
    error: Option<String>,
}
