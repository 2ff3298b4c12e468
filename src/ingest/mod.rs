//! Sources: small components that turn what a device sends into
//! [`DeviceEvent`]s on a channel. A source owns its connection and its
//! retry policy and nothing else: it never touches the database or the web
//! layer (the recorder does the writing).

pub mod forward;
mod health;
mod lines;
mod serial;
mod supervisor;

pub use health::{device_url, run_health_source, HealthSourceConfig};
pub use lines::LineSplitter;
pub use serial::{run_serial_source, SerialSourceConfig};
pub use supervisor::{EventSink, SourceSupervisor};

/// Which source reported a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Serial,
    Health,
}

/// Something a device (or the path to it) did, stamped with host time.
#[derive(Debug, Clone)]
pub enum DeviceEvent {
    /// One serial line without its line ending.
    Serial {
        device_id: i64,
        ts_us: i64,
        line: Vec<u8>,
        /// Cut at the source's line-length limit.
        truncated: bool,
    },
    /// One `/api/health` poll, successful or not.
    Health {
        device_id: i64,
        ts_us: i64,
        http_status: Option<i64>,
        latency_ms: Option<i64>,
        body: Option<String>,
        error: Option<String>,
    },
    /// A source connected or lost its device.
    Status {
        device_id: i64,
        ts_us: i64,
        source: SourceKind,
        online: bool,
        detail: String,
    },
}

impl DeviceEvent {
    pub fn device_id(&self) -> i64 {
        match self {
            DeviceEvent::Serial { device_id, .. }
            | DeviceEvent::Health { device_id, .. }
            | DeviceEvent::Status { device_id, .. } => *device_id,
        }
    }
}

/// Doubling delay between retries, capped: reconnect quickly after a blip,
/// without hammering a port or host that is gone for a while.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: std::time::Duration,
    max: std::time::Duration,
    next: std::time::Duration,
}

impl Backoff {
    pub fn new(min: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay to wait now; the one after it is twice as long.
    pub fn next_delay(&mut self) -> std::time::Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}
