//! After a server restart, a board's interrupted run goes on when the board
//! did not reboot meanwhile (its uptime, from `/api/health` or a line's
//! `(…ms)` stamp, reaches back before the run was closed), and a soak goes
//! on regardless, as it spans reboots. Until the first event that says
//! which, the device's events are held (briefly, and boundedly).

use std::time::Duration;

use serde_json::json;

use super::{ActiveRun, State};
use crate::ingest::DeviceEvent;
use crate::protocol::{parse_line, HealthSample, LineKind};
use crate::recorder::RunTracker;
use crate::store::{now_us, Batch, EventKind, ResumePoint, RunKind};

/// Longest the events of a device are held waiting for its uptime.
const HOLD_FOR: Duration = Duration::from_secs(20);
/// Most events held per device; past this the run is not resumed.
const HOLD_EVENTS: usize = 2_000;
/// Host and board clocks disagree by a little; a boot this close after the
/// run ended still counts as before it.
const SAME_BOOT_SLACK_US: i64 = 5_000_000;

/// A device whose interrupted run may go on, and its held events.
pub(super) struct Pending {
    point: ResumePoint,
    since_us: i64,
    held: Vec<DeviceEvent>,
}

/// What one event says about whether the board rebooted.
#[derive(Debug, PartialEq, Eq)]
enum Uptime {
    SameBoot,
    Rebooted,
    Unknown,
}

fn uptime_evidence(event: &DeviceEvent, ended_us: i64) -> Uptime {
    let booted_at = match event {
        DeviceEvent::Health {
            ts_us,
            body: Some(body),
            ..
        } => HealthSample::from_json(body.as_bytes())
            .ok()
            .and_then(|s| s.uptime_seconds)
            .map(|up| ts_us - up.saturating_mul(1_000_000)),
        DeviceEvent::Serial { ts_us, line, .. } => {
            let parsed = parse_line(line);
            if matches!(parsed.kind, LineKind::Boot(_)) {
                return Uptime::Rebooted;
            }
            parsed
                .elapsed_ms
                .map(|ms| ts_us - i64::try_from(ms).unwrap_or(i64::MAX / 1000) * 1000)
        }
        _ => None,
    };
    match booted_at {
        Some(at) if at <= ended_us + SAME_BOOT_SLACK_US => Uptime::SameBoot,
        Some(_) => Uptime::Rebooted,
        None => Uptime::Unknown,
    }
}

impl State {
    /// The events to handle now: this one, or none while it is held, or
    /// every held one once the device's run is settled.
    pub(super) async fn admit(&mut self, event: DeviceEvent) -> Vec<DeviceEvent> {
        let device_id = event.device_id();
        if self.runs.contains_key(&device_id) {
            return vec![event];
        }
        if !self.pending.contains_key(&device_id) {
            if !self.resume_checked.insert(device_id) {
                return vec![event];
            }
            match self.store.resume_point(device_id).await {
                Ok(Some(point)) => {
                    let pending = Pending {
                        point,
                        since_us: now_us(),
                        held: Vec::new(),
                    };
                    self.pending.insert(device_id, pending);
                }
                Ok(None) => return vec![event],
                Err(e) => {
                    tracing::warn!(device_id, error = %e, "cannot tell whether to resume a run");
                    return vec![event];
                }
            }
        }
        let Some(pending) = self.pending.get_mut(&device_id) else {
            return vec![event];
        };
        let evidence = uptime_evidence(&event, pending.point.ended_us);
        pending.held.push(event);
        let full = pending.held.len() >= HOLD_EVENTS;
        match evidence {
            Uptime::SameBoot => self.settle(device_id, true).await,
            Uptime::Rebooted => self.settle(device_id, false).await,
            Uptime::Unknown if full => self.settle(device_id, false).await,
            Uptime::Unknown => Vec::new(),
        }
    }

    /// Settles every device held longer than [`HOLD_FOR`] (no uptime came:
    /// a live run is not resumed); returns their events.
    pub(super) async fn expire_pending(&mut self) -> Vec<DeviceEvent> {
        let limit = now_us() - HOLD_FOR.as_micros() as i64;
        self.settle_where(|p| p.since_us <= limit).await
    }

    /// Settles every held device (at shutdown).
    pub(super) async fn settle_all(&mut self) -> Vec<DeviceEvent> {
        self.settle_where(|_| true).await
    }

    async fn settle_where(&mut self, due: impl Fn(&Pending) -> bool) -> Vec<DeviceEvent> {
        let devices: Vec<i64> = self
            .pending
            .iter()
            .filter(|(_, p)| due(p))
            .map(|(d, _)| *d)
            .collect();
        let mut events = Vec::new();
        for device_id in devices {
            events.extend(self.settle(device_id, false).await);
        }
        events
    }

    /// Resumes the run (same boot, or a soak) or leaves the device to open
    /// a new one; returns the held events to handle.
    async fn settle(&mut self, device_id: i64, same_boot: bool) -> Vec<DeviceEvent> {
        let Some(Pending { point, held, .. }) = self.pending.remove(&device_id) else {
            return Vec::new();
        };
        // A run started meanwhile (a soak or scenario asked for) wins.
        let resume =
            (same_boot || point.kind == RunKind::Soak) && !self.runs.contains_key(&device_id);
        if !resume {
            return held;
        }
        if let Err(e) = self.store.reopen_run(point.run_id).await {
            tracing::error!(device_id, run = point.run_id, error = %e, "cannot resume run");
            return held;
        }
        let mut tracker = RunTracker::resume(&point);
        let mut batch = Batch::new(point.run_id);
        let why = if same_boot {
            "the board did not reboot"
        } else {
            "a soak spans reboots"
        };
        tracker.record_event(
            &mut batch,
            now_us(),
            EventKind::Note,
            &format!("server restarted; run continued ({why})"),
            json!({"resumed": true, "same_boot": same_boot}),
        );
        self.pending_rows += 1;
        tracing::info!(
            device_id,
            run = point.run_id,
            same_boot,
            "resumed interrupted run"
        );
        self.runs.insert(
            device_id,
            ActiveRun {
                kind: point.kind,
                tracker,
                batch,
            },
        );
        self.hub.update(device_id, |d| {
            d.active_run = Some(point.run_id);
            d.active_kind = Some(point.kind);
        });
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial(ts_us: i64, line: &str) -> DeviceEvent {
        DeviceEvent::Serial {
            device_id: 1,
            ts_us,
            line: line.as_bytes().to_vec(),
            truncated: false,
        }
    }

    fn health(ts_us: i64, body: &str) -> DeviceEvent {
        DeviceEvent::Health {
            device_id: 1,
            ts_us,
            http_status: Some(200),
            latency_ms: Some(3),
            body: Some(body.into()),
            error: None,
        }
    }

    #[test]
    fn uptime_reaching_back_before_the_end_is_the_same_boot() {
        let ended = 100_000_000_000;
        let now = ended + 60_000_000;
        // Up for 10 minutes: booted long before the run ended.
        assert_eq!(
            uptime_evidence(&health(now, r#"{"uptime_seconds": 600}"#), ended),
            Uptime::SameBoot
        );
        // Up for 20 s, but the server was away a minute: it rebooted.
        assert_eq!(
            uptime_evidence(&health(now, r#"{"uptime_seconds": 20}"#), ended),
            Uptime::Rebooted
        );
        assert_eq!(
            uptime_evidence(&serial(now, "[Mem] hb hi=1 hin=1 (600000ms)"), ended),
            Uptime::SameBoot
        );
        assert_eq!(
            uptime_evidence(&serial(now, "rst:0xc (RTC_SW_CPU_RST),boot:0x8"), ended),
            Uptime::Rebooted
        );
        assert_eq!(
            uptime_evidence(&serial(now, "I (1) wifi: hi"), ended),
            Uptime::Unknown
        );
        assert_eq!(
            uptime_evidence(&health(now, "not json"), ended),
            Uptime::Unknown
        );
    }
}
