//! Per-run bookkeeping that turns lines into rows without touching IO.

use serde_json::Value;

use crate::analysis::{RunSummary, SUMMARY_VERSION};
use crate::protocol::{parse_line, DeviceLine, HealthSample, LineKind};
use crate::store::{
    Batch, EventKind, EventRow, HealthRow, ResumePoint, SerialLineRow, SnapshotRow, StoredSummary,
};

/// Numbers lines, snapshots and events of one run and tracks its boot
/// segments, so a run's rows are ordered and self-describing.
#[derive(Debug, Clone)]
pub struct RunTracker {
    run_id: i64,
    next_line: i64,
    next_snapshot: i64,
    next_event: i64,
    next_health: i64,
    boot: i64,
    /// Anything but boot markers seen since the current boot began. A boot
    /// marker after activity is a reboot; several markers in a row (ROM
    /// banner, `rst:`, `[System Boot]`) are one boot.
    active_since_boot: bool,
    dump_tag: Option<String>,
    last_firmware: Option<String>,
    last_ip: Option<String>,
    /// The run's aggregates, folded as rows are recorded and written with
    /// each batch.
    summary: RunSummary,
    /// False for a resumed run whose stored aggregates could not be read:
    /// `summary` then covers only the new rows and is not written.
    summary_known: bool,
}

impl RunTracker {
    pub fn new(run_id: i64) -> Self {
        RunTracker {
            run_id,
            next_line: 1,
            next_snapshot: 1,
            next_event: 1,
            next_health: 1,
            boot: 0,
            active_since_boot: false,
            dump_tag: None,
            last_firmware: None,
            last_ip: None,
            summary: RunSummary::default(),
            summary_known: true,
        }
    }

    /// Goes on with an interrupted run from where its rows end. Without a
    /// stored summary in this version's format the aggregates cannot go on
    /// either: batches then carry none, and the next read folds the run
    /// anew from its rows.
    pub fn resume(point: &ResumePoint) -> Self {
        let summary = point
            .summary
            .as_ref()
            .filter(|s| s.version == SUMMARY_VERSION)
            .and_then(|s| serde_json::from_str::<RunSummary>(&s.json).ok());
        RunTracker {
            run_id: point.run_id,
            next_line: point.next_line,
            next_snapshot: point.next_snapshot,
            next_event: point.next_event,
            next_health: point.next_health,
            boot: point.boot,
            // A boot marker next is a reboot, not the run's first boot.
            active_since_boot: true,
            summary_known: summary.is_some(),
            summary: summary.unwrap_or_default(),
            ..RunTracker::new(point.run_id)
        }
    }

    /// The aggregates of everything recorded so far.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    /// Hands over the rows gathered in `batch` (leaving it empty) with the
    /// summary they bring the run to, for one write transaction.
    pub fn take_batch(&self, batch: &mut Batch) -> Batch {
        let mut full = std::mem::replace(batch, Batch::new(self.run_id));
        full.summary = serde_json::to_string(&self.summary)
            .ok()
            .filter(|_| self.summary_known)
            .map(|json| StoredSummary {
                version: SUMMARY_VERSION,
                json,
            });
        full
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Boot segments completed inside this run (reboots seen).
    pub fn reboots(&self) -> i64 {
        self.boot
    }

    pub fn lines_recorded(&self) -> i64 {
        self.next_line - 1
    }

    /// Firmware version from the latest boot log.
    pub fn firmware(&self) -> Option<&str> {
        self.last_firmware.as_deref()
    }

    /// The device's address from the latest `Got IP` line.
    pub fn ip(&self) -> Option<&str> {
        self.last_ip.as_deref()
    }

    /// True when `line` starts a new boot after this run has seen activity:
    /// the live recorder closes the run here and opens the next one.
    pub fn is_reboot(&self, line: &DeviceLine<'_>) -> bool {
        matches!(line.kind, LineKind::Boot(_)) && self.active_since_boot
    }

    /// Parses and records one raw serial line.
    pub fn record_raw(&mut self, batch: &mut Batch, ts_us: i64, raw: &[u8], flags: i64) {
        let line = parse_line(raw);
        self.record_line(batch, ts_us, &line, flags);
    }

    /// Records an already-parsed serial line: always as a raw line, plus a
    /// snapshot or an event when it means something.
    pub fn record_line(
        &mut self,
        batch: &mut Batch,
        ts_us: i64,
        line: &DeviceLine<'_>,
        flags: i64,
    ) {
        let line_no = self.record_line_meaning(batch, ts_us, line);
        batch.lines.push(SerialLineRow {
            line_no,
            ts_us,
            text: line.text.clone().into_owned(),
            flags,
        });
    }

    /// [`RunTracker::record_line`] without the line's row: for a caller
    /// that stores the text itself (an import packs it straight into
    /// serial blocks). Returns the line's number.
    pub fn record_line_meaning(
        &mut self,
        batch: &mut Batch,
        ts_us: i64,
        line: &DeviceLine<'_>,
    ) -> i64 {
        let line_no = self.next_line;
        self.next_line += 1;
        self.record_kind(
            batch,
            Some(line_no),
            ts_us,
            line.elapsed_ms,
            &line.kind,
            line.text.trim(),
        );
        line_no
    }

    /// Records a meaning without a serial line (artifact rows imported from
    /// `mem.jsonl` / `events.jsonl` when no `serial.log` exists).
    pub fn record_kind(
        &mut self,
        batch: &mut Batch,
        line_no: Option<i64>,
        ts_us: i64,
        elapsed_ms: Option<u64>,
        kind: &LineKind,
        message: &str,
    ) {
        match kind {
            LineKind::Boot(_) => {
                if self.active_since_boot {
                    self.boot += 1;
                    self.active_since_boot = false;
                }
                self.dump_tag = None;
            }
            LineKind::Unrecognized => {}
            _ => self.active_since_boot = true,
        }
        match kind {
            LineKind::Unrecognized => {}
            LineKind::Snapshot(snapshot) => {
                let row = SnapshotRow {
                    seq: self.next_snapshot,
                    line_no,
                    ts_us,
                    elapsed_ms: elapsed_ms.map(|ms| ms as i64),
                    boot: self.boot,
                    snapshot: snapshot.clone(),
                };
                self.summary.add_snapshot(&row);
                batch.snapshots.push(row);
                self.next_snapshot += 1;
                self.dump_tag = None;
            }
            other => {
                let Some(kind) = EventKind::of_line(other) else {
                    return;
                };
                let mut data = serde_json::to_value(other).unwrap_or(Value::Null);
                match other {
                    LineKind::TaskDump(header) => self.dump_tag = header.tag.clone(),
                    LineKind::Task(_) => {
                        if let (Some(tag), Value::Object(map)) = (&self.dump_tag, &mut data) {
                            map.insert("dump_tag".into(), Value::String(tag.clone()));
                        }
                    }
                    LineKind::Firmware { version } => self.last_firmware = Some(version.clone()),
                    LineKind::GotIp { ip } => self.last_ip = Some(ip.clone()),
                    _ => {}
                }
                self.push_event(batch, line_no, ts_us, kind, message, data);
            }
        }
    }

    /// Records an event that did not come from serial (an HTTP step, a note,
    /// a source going offline).
    pub fn record_event(
        &mut self,
        batch: &mut Batch,
        ts_us: i64,
        kind: EventKind,
        message: &str,
        data: Value,
    ) {
        self.push_event(batch, None, ts_us, kind, message, data);
    }

    fn push_event(
        &mut self,
        batch: &mut Batch,
        line_no: Option<i64>,
        ts_us: i64,
        kind: EventKind,
        message: &str,
        data: Value,
    ) {
        let row = EventRow {
            seq: self.next_event,
            line_no,
            ts_us,
            boot: self.boot,
            kind,
            message: message.to_owned(),
            data,
        };
        self.summary.add_event(&row);
        batch.events.push(row);
        self.next_event += 1;
    }

    /// Records one `/api/health` poll: its body (when any), parsed leniently.
    pub fn record_health(
        &mut self,
        batch: &mut Batch,
        ts_us: i64,
        http_status: Option<i64>,
        latency_ms: Option<i64>,
        body: Option<&str>,
        error: Option<String>,
    ) {
        let mut error = error;
        let sample = body.and_then(|b| match HealthSample::from_json(b.as_bytes()) {
            Ok(sample) => Some(sample),
            Err(e) => {
                error.get_or_insert_with(|| e.to_string());
                None
            }
        });
        batch.health.push(HealthRow {
            seq: self.next_health,
            ts_us,
            http_status,
            latency_ms,
            sample,
            raw: body.map(str::to_owned),
            error,
        });
        self.next_health += 1;
    }
}
