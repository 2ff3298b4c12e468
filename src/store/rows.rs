//! Row types: what the recorder writes and the views read back.

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use crate::protocol::{HealthSample, LineKind, MemSnapshot};

/// One stored `[Mem]` snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRow {
    pub seq: i64,
    pub line_no: Option<i64>,
    pub ts_us: i64,
    pub elapsed_ms: Option<i64>,
    pub boot: i64,
    #[serde(flatten)]
    pub snapshot: MemSnapshot,
}

from_row_on_both!(SnapshotRow, |row| {
    let extras: Option<String> = row.try_get("extras")?;
    let extras = match extras {
        Some(json) => serde_json::from_str(&json).map_err(|e| sqlx::Error::ColumnDecode {
            index: "extras".into(),
            source: Box::new(e),
        })?,
        None => Vec::new(),
    };
    Ok(SnapshotRow {
        seq: row.try_get("seq")?,
        line_no: row.try_get("line_no")?,
        ts_us: row.try_get("ts_us")?,
        elapsed_ms: row.try_get("elapsed_ms")?,
        boot: row.try_get("boot")?,
        snapshot: MemSnapshot {
            tag: row.try_get("tag")?,
            hf: row.try_get("hf")?,
            hm: row.try_get("hm")?,
            hl: row.try_get("hl")?,
            hi: row.try_get("hi")?,
            hin: row.try_get("hin")?,
            frag: row.try_get("frag")?,
            pf: row.try_get("pf")?,
            pm: row.try_get("pm")?,
            pl: row.try_get("pl")?,
            extras,
        },
    })
});

/// What an event is: the `events.kind` column, the API's `kind`, and the
/// one spelling of each name in the code (stored as text through
/// `sqlx::Type`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A boot marker: ROM banner, `rst:` line (`data.marker = "reset"`), or
    /// `[System Boot]`.
    Boot,
    Tripwire,
    TaskDump,
    Task,
    StackWatermark,
    AllocFailed,
    Firmware,
    Ip,
    Ready,
    Crash,
    /// A source went online or offline.
    Status,
    /// A scenario's HTTP request and its answer.
    Http,
    Note,
    /// A scenario's `mark` step.
    Mark,
    /// A scenario step starting or ending.
    Step,
    /// A scenario run starting, with its options.
    Scenario,
    /// A harness `events.jsonl` row of a type heaplab has no meaning for;
    /// its `data.type` keeps the original.
    Event,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        EventKind::Boot,
        EventKind::Tripwire,
        EventKind::TaskDump,
        EventKind::Task,
        EventKind::StackWatermark,
        EventKind::AllocFailed,
        EventKind::Firmware,
        EventKind::Ip,
        EventKind::Ready,
        EventKind::Crash,
        EventKind::Status,
        EventKind::Http,
        EventKind::Note,
        EventKind::Mark,
        EventKind::Step,
        EventKind::Scenario,
        EventKind::Event,
    ];

    /// The stored and serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Boot => "boot",
            EventKind::Tripwire => "tripwire",
            EventKind::TaskDump => "task_dump",
            EventKind::Task => "task",
            EventKind::StackWatermark => "stack_watermark",
            EventKind::AllocFailed => "alloc_failed",
            EventKind::Firmware => "firmware",
            EventKind::Ip => "ip",
            EventKind::Ready => "ready",
            EventKind::Crash => "crash",
            EventKind::Status => "status",
            EventKind::Http => "http",
            EventKind::Note => "note",
            EventKind::Mark => "mark",
            EventKind::Step => "step",
            EventKind::Scenario => "scenario",
            EventKind::Event => "event",
        }
    }

    /// The kind named `name`, if heaplab knows it.
    pub fn parse(name: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The event a serial line is, when it is one (snapshots are rows of
    /// their own; unrecognised lines are only lines).
    pub fn of_line(kind: &LineKind) -> Option<Self> {
        Some(match kind {
            LineKind::Snapshot(_) | LineKind::Unrecognized => return None,
            LineKind::Tripwire(_) => EventKind::Tripwire,
            LineKind::TaskDump(_) => EventKind::TaskDump,
            LineKind::Task(_) => EventKind::Task,
            LineKind::StackWatermark(_) => EventKind::StackWatermark,
            LineKind::AllocFailed(_) => EventKind::AllocFailed,
            LineKind::Boot(_) => EventKind::Boot,
            LineKind::Firmware { .. } => EventKind::Firmware,
            LineKind::GotIp { .. } => EventKind::Ip,
            LineKind::Ready => EventKind::Ready,
            LineKind::Crash(_) => EventKind::Crash,
        })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Anything notable that is not a snapshot: boot markers, tripwires, tasks,
/// crashes, IP changes, HTTP steps of a scenario, notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub seq: i64,
    pub line_no: Option<i64>,
    pub ts_us: i64,
    pub boot: i64,
    pub kind: EventKind,
    /// The serial line (trimmed) or a human sentence for non-serial events.
    pub message: String,
    pub data: Value,
}

from_row_on_both!(EventRow, |row| {
    let data: String = row.try_get("data")?;
    Ok(EventRow {
        seq: row.try_get("seq")?,
        line_no: row.try_get("line_no")?,
        ts_us: row.try_get("ts_us")?,
        boot: row.try_get("boot")?,
        kind: row.try_get("kind")?,
        message: row.try_get("message")?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    })
});

/// One raw serial line, exactly as received (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct SerialLineRow {
    pub line_no: i64,
    pub ts_us: i64,
    pub text: String,
    pub flags: i64,
}

impl SerialLineRow {
    /// Set when the line was cut at the source's line-length limit.
    pub const TRUNCATED: i64 = 1;
}

/// One `/api/health` poll: the parsed sample, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthRow {
    pub seq: i64,
    pub ts_us: i64,
    pub http_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub sample: Option<HealthSample>,
    /// The body as received.
    pub raw: Option<String>,
    pub error: Option<String>,
}

from_row_on_both!(HealthRow, |row| {
    let raw: Option<String> = row.try_get("raw")?;
    let sample = raw
        .as_deref()
        .and_then(|body| HealthSample::from_json(body.as_bytes()).ok());
    Ok(HealthRow {
        seq: row.try_get("seq")?,
        ts_us: row.try_get("ts_us")?,
        http_status: row.try_get("http_status")?,
        latency_ms: row.try_get("latency_ms")?,
        sample,
        raw,
        error: row.try_get("error")?,
    })
});

/// Rows for one run, written together in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub run_id: i64,
    pub lines: Vec<SerialLineRow>,
    /// Lines already packed (an import packs as it reads: 2,000 lines are
    /// one row to write instead of 2,000).
    pub blocks: Vec<super::SerialBlock>,
    pub snapshots: Vec<SnapshotRow>,
    /// Snapshots already packed ([`Batch::pack_snapshots`]).
    pub snapshot_blocks: Vec<super::SnapshotBlock>,
    /// The pyramid buckets of the snapshots packed into this batch, folded
    /// in as the `snapshots` rows' are. (A block can be completed in a
    /// later batch than some of its snapshots; the buckets go with the
    /// batch that packed them.)
    pub packed_buckets: Vec<(i64, i64, super::TierBucket)>,
    pub events: Vec<EventRow>,
    pub health: Vec<HealthRow>,
    /// The run's summary after these rows, written in the same transaction
    /// so the aggregates never disagree with the rows.
    pub summary: Option<super::StoredSummary>,
}

impl Batch {
    pub fn new(run_id: i64) -> Self {
        Batch {
            run_id,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
            + self.blocks.len()
            + self.snapshots.len()
            + self.snapshot_blocks.len()
            + self.events.len()
            + self.health.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the batch's snapshots into `packer`: the blocks they complete
    /// go out as `snapshot_blocks`, their pyramid buckets as
    /// `packed_buckets`. For a run whose snapshots are all known at once
    /// (an import): 2,000 snapshots become one row to write.
    pub fn pack_snapshots(&mut self, packer: &mut super::SnapshotPacker) -> super::Result<()> {
        self.packed_buckets
            .extend(super::tiers::batch_buckets(&self.snapshots));
        for row in self.snapshots.drain(..) {
            self.snapshot_blocks.extend(packer.push(&row)?);
        }
        Ok(())
    }

    /// Every pyramid bucket the batch adds to: its rows' and its packed
    /// snapshots'.
    pub(super) fn tier_buckets(&self) -> Vec<(i64, i64, super::TierBucket)> {
        let mut buckets = super::tiers::batch_buckets(&self.snapshots);
        buckets.extend_from_slice(&self.packed_buckets);
        buckets
    }
}
