//! The wire form of events an agent forwards to the central server
//! (`POST /api/v1/agents/{name}/batches`, an [`AgentUpload`]): the same [`DeviceEvent`]s the
//! sources emit, with the agent's own device name in place of a database
//! id, numbered per spool so the server can tell a retry from new data.
//! Shared by the agent (which encodes) and the server (which decodes), so
//! the two cannot drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DeviceEvent, SourceKind};

/// Who sends a batch; repeated with every request so the server's view of
/// the agent (version, backlog) is never older than its last batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentInfo {
    pub host: String,
    pub version: String,
    /// The spool file's id: batch numbers count within one spool.
    pub spool_id: String,
    /// Events waiting in the spool, this batch included.
    pub spooled_events: i64,
}

/// A device plugged into the agent, as the server should register it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedDevice {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub board: Option<String>,
}

/// What an agent sends in one request: its spooled batches, oldest first,
/// each with its number, so a request retried after a lost answer (and
/// perhaps grown by newer batches meanwhile) is stored once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentUpload {
    pub agent: AgentInfo,
    /// Every device the events name.
    pub devices: Vec<ForwardedDevice>,
    pub batches: Vec<ForwardedBatch>,
}

/// One spooled batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedBatch {
    /// The batch's number in the agent's spool; increasing, with holes
    /// where a full spool dropped batches.
    pub seq: i64,
    /// Events dropped right before this batch (spool full), per device.
    #[serde(default)]
    pub gap: BTreeMap<String, i64>,
    pub events: Vec<ForwardedEvent>,
}

/// The server's answer to an upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadReceipt {
    /// Every batch up to this number is stored (from this upload, or an
    /// earlier copy of it): the agent may forget them.
    pub stored_through: i64,
    /// Batches of this upload that had been stored before (a retry).
    pub duplicates: usize,
}

/// Work the server hands an agent for one of its devices (fetched by a
/// long poll, `GET /api/v1/agents/{name}/commands`): what needs the
/// device's LAN or its USB port, which only the agent has. A scenario run
/// or a flash (`POST /api/v1/devices/{id}/flash`) started on the server for
/// an agent's device sends its device requests this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentCommand {
    /// One HTTP request to a device's own address.
    DeviceHttp {
        id: u64,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: LineBytes,
        timeout_ms: u64,
    },
}

/// The agent's [`CommandResult::error`] when no connection to the device
/// could be made (as opposed to one that broke or timed out).
pub const DEVICE_UNREACHABLE: &str = "cannot connect";

/// Set by the server's relay on an answer it made up because the device's
/// own never came: `unreachable` (no connection, see
/// [`DEVICE_UNREACHABLE`]) or `no-reply` (the agent got none, or did not
/// report in time). A device that resets right after taking an OTA image
/// often sends no reply; a client that expects that tells the two apart.
pub const RELAY_FAILURE_HEADER: &str = "x-heaplab-relay-failure";

/// What became of a command (`POST /api/v1/agents/{name}/commands/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    /// The device's answer, when it answered.
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: LineBytes,
    /// Why there is no answer (refused, unreachable, timed out).
    #[serde(default)]
    pub error: Option<String>,
}

/// Bytes on the wire (a serial line, an HTTP body): text when it is UTF-8
/// (nearly always), else the raw bytes (boot ROM noise, an image), so
/// nothing is lost or altered on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LineBytes {
    Text(String),
    Raw(Vec<u8>),
}

impl LineBytes {
    pub fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => LineBytes::Text(text.to_owned()),
            Err(_) => LineBytes::Raw(bytes.to_vec()),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            LineBytes::Text(text) => text.into_bytes(),
            LineBytes::Raw(bytes) => bytes,
        }
    }
}

/// A [`DeviceEvent`] naming its device by the agent's name for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ForwardedEvent {
    Serial {
        device: String,
        ts_us: i64,
        line: LineBytes,
        #[serde(default)]
        truncated: bool,
    },
    Health {
        device: String,
        ts_us: i64,
        http_status: Option<i64>,
        latency_ms: Option<i64>,
        body: Option<String>,
        error: Option<String>,
    },
    Status {
        device: String,
        ts_us: i64,
        source: SourceKind,
        online: bool,
        detail: String,
    },
}

impl ForwardedEvent {
    /// `event` of the device the agent calls `device`.
    pub fn new(device: &str, event: DeviceEvent) -> Self {
        let device = device.to_owned();
        match event {
            DeviceEvent::Serial {
                ts_us,
                line,
                truncated,
                ..
            } => ForwardedEvent::Serial {
                device,
                ts_us,
                line: LineBytes::new(&line),
                truncated,
            },
            DeviceEvent::Health {
                ts_us,
                http_status,
                latency_ms,
                body,
                error,
                ..
            } => ForwardedEvent::Health {
                device,
                ts_us,
                http_status,
                latency_ms,
                body,
                error,
            },
            DeviceEvent::Status {
                ts_us,
                source,
                online,
                detail,
                ..
            } => ForwardedEvent::Status {
                device,
                ts_us,
                source,
                online,
                detail,
            },
        }
    }

    /// The agent's name for the event's device.
    pub fn device(&self) -> &str {
        match self {
            ForwardedEvent::Serial { device, .. }
            | ForwardedEvent::Health { device, .. }
            | ForwardedEvent::Status { device, .. } => device,
        }
    }

    /// The event as the server's own sources would have emitted it, for
    /// the server's device `device_id`.
    pub fn into_event(self, device_id: i64) -> DeviceEvent {
        match self {
            ForwardedEvent::Serial {
                ts_us,
                line,
                truncated,
                ..
            } => DeviceEvent::Serial {
                device_id,
                ts_us,
                line: line.into_bytes(),
                truncated,
            },
            ForwardedEvent::Health {
                ts_us,
                http_status,
                latency_ms,
                body,
                error,
                ..
            } => DeviceEvent::Health {
                device_id,
                ts_us,
                http_status,
                latency_ms,
                body,
                error,
            },
            ForwardedEvent::Status {
                ts_us,
                source,
                online,
                detail,
                ..
            } => DeviceEvent::Status {
                device_id,
                ts_us,
                source,
                online,
                detail,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_lines_cross_the_wire_unchanged() {
        let noise = vec![0xff, 0x00, b'E', b'S', b'P', 0x80];
        let event = DeviceEvent::Serial {
            device_id: 7,
            ts_us: 42,
            line: noise.clone(),
            truncated: true,
        };
        let json = serde_json::to_string(&ForwardedEvent::new("desk", event)).expect("encode");
        let back: ForwardedEvent = serde_json::from_str(&json).expect("decode");
        assert_eq!(back.device(), "desk");
        match back.into_event(3) {
            DeviceEvent::Serial {
                device_id,
                line,
                truncated,
                ts_us,
            } => assert_eq!((device_id, line, truncated, ts_us), (3, noise, true, 42)),
            other => panic!("not a serial event: {other:?}"),
        }
        let text: ForwardedEvent =
            serde_json::from_str(r#"{"type":"serial","device":"d","ts_us":1,"line":"[Mem] hb"}"#)
                .expect("text line");
        assert_eq!(
            text,
            ForwardedEvent::Serial {
                device: "d".into(),
                ts_us: 1,
                line: LineBytes::Text("[Mem] hb".into()),
                truncated: false
            }
        );
    }
}
