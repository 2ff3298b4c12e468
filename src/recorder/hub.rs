//! What views can see of live devices without touching the database: the
//! latest state per device and a broadcast of parsed events (for SSE). The
//! recorder is the only writer of both.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::protocol::{HealthSample, MemSnapshot};
use crate::store::{EventKind, RunKind};

/// Points kept per device for the overview's sparkline.
const SPARK_POINTS: usize = 120;

/// One message on the live stream.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub device_id: i64,
    /// `snapshot`, `health`, `event`, `line` or `status`.
    pub kind: &'static str,
    pub ts_us: i64,
    pub data: Arc<Value>,
}

impl LiveEvent {
    /// For an `event`, which one (`data.kind`); `None` for the other kinds.
    pub fn event_kind(&self) -> Option<EventKind> {
        if self.kind != "event" {
            return None;
        }
        self.data
            .get("kind")
            .and_then(Value::as_str)
            .and_then(EventKind::parse)
    }
}

/// The latest known state of one device.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceLive {
    pub device_id: i64,
    pub serial_online: bool,
    pub health_online: bool,
    pub last_seen_us: Option<i64>,
    pub last_snapshot: Option<MemSnapshot>,
    pub last_snapshot_us: Option<i64>,
    pub last_health: Option<HealthSample>,
    pub last_health_us: Option<i64>,
    pub firmware: Option<String>,
    pub ip: Option<String>,
    pub active_run: Option<i64>,
    pub active_kind: Option<RunKind>,
    /// Reboots seen since the server started.
    pub reboots: u64,
    pub boot_started_us: Option<i64>,
    /// Recent (time, internal free) points.
    pub spark: VecDeque<(i64, i64)>,
}

impl DeviceLive {
    pub fn online(&self) -> bool {
        self.serial_online || self.health_online
    }

    pub(crate) fn push_spark(&mut self, ts_us: i64, hi: i64) {
        if self.spark.len() == SPARK_POINTS {
            self.spark.pop_front();
        }
        self.spark.push_back((ts_us, hi));
    }
}

/// Server-wide ingest counters for `/metrics`.
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub events_ingested: AtomicU64,
    pub lines_ingested: AtomicU64,
    pub write_batches: AtomicU64,
    pub write_errors: AtomicU64,
    /// The last write failed for want of space (recording is paused).
    pub storage_full: AtomicBool,
    /// This server holds the leader lock: it runs retention and delivers
    /// alerts (always, on SQLite).
    pub leader: AtomicBool,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveHub {
    devices: Arc<RwLock<HashMap<i64, DeviceLive>>>,
    events: broadcast::Sender<LiveEvent>,
    /// Where this server's own events also go when other servers share the
    /// database (`fanout.rs` sends them on); remote events never do.
    fanout: Option<mpsc::Sender<LiveEvent>>,
    pub counters: Arc<IngestCounters>,
}

/// Events queued for other servers before the oldest are dropped: the
/// fan-out never slows ingestion, as a lagging SSE client does not.
const FANOUT_QUEUE: usize = 8192;

impl Default for LiveHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveHub {
    pub fn new() -> Self {
        LiveHub {
            devices: Arc::default(),
            // Slow subscribers lag and skip; they never slow ingestion.
            events: broadcast::channel(4096).0,
            fanout: None,
            counters: Arc::default(),
        }
    }

    /// A hub whose own events are also handed to the returned receiver, for
    /// the fan-out to other servers.
    pub fn with_fanout() -> (Self, mpsc::Receiver<LiveEvent>) {
        let (tx, rx) = mpsc::channel(FANOUT_QUEUE);
        let hub = LiveHub {
            fanout: Some(tx),
            ..LiveHub::new()
        };
        (hub, rx)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// True when someone listens (here or on another server), so the
    /// recorder can skip building events.
    pub fn has_subscribers(&self) -> bool {
        self.fanout.is_some() || self.events.receiver_count() > 0
    }

    /// Publishes an event of this server's own devices: to local
    /// subscribers and, when fanned out, to other servers.
    pub fn publish(&self, event: LiveEvent) {
        if let Some(fanout) = &self.fanout {
            // Full: the other servers' viewers miss this one, as a lagging
            // SSE client does.
            let _ = fanout.try_send(event.clone());
        }
        let _ = self.events.send(event);
    }

    /// Publishes an event another server recorded, to local subscribers
    /// only (sending it on would echo it back).
    pub fn publish_remote(&self, event: LiveEvent) {
        let _ = self.events.send(event);
    }

    pub fn device(&self, id: i64) -> Option<DeviceLive> {
        self.devices.read().ok()?.get(&id).cloned()
    }

    pub fn all(&self) -> Vec<DeviceLive> {
        self.devices
            .read()
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn update<R>(&self, id: i64, f: impl FnOnce(&mut DeviceLive) -> R) -> Option<R> {
        let mut devices = self.devices.write().ok()?;
        let entry = devices.entry(id).or_insert_with(|| DeviceLive {
            device_id: id,
            ..Default::default()
        });
        Some(f(entry))
    }

    pub(crate) fn remove(&self, id: i64) {
        if let Ok(mut d) = self.devices.write() {
            d.remove(&id);
        }
    }

    pub fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
