//! Where the agent's sources send events: the spooler's channel, and the
//! IP each device announced on serial (its health source follows it, as on
//! the server).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::ingest::{DeviceEvent, EventSink};

pub(super) struct AgentSink {
    events: mpsc::Sender<DeviceEvent>,
    ips: AnnouncedIps,
}

/// The address each device last announced. Apart from the event sender,
/// so the spooler can hold it without keeping its own channel open.
#[derive(Clone, Default)]
pub(super) struct AnnouncedIps {
    ips: Arc<Mutex<HashMap<i64, watch::Sender<Option<String>>>>>,
}

impl AnnouncedIps {
    /// The device said `Got IP: ip` on serial.
    pub(super) fn announce(&self, device_id: i64, ip: &str) {
        self.sender(device_id, |s| {
            s.send_replace(Some(ip.to_owned()));
        });
    }

    /// Every address announced so far (the hosts the agent may send a
    /// device request to, beside the configured URLs).
    pub(super) fn all(&self) -> Vec<String> {
        let ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.values().filter_map(|s| s.borrow().clone()).collect()
    }

    fn sender<T>(&self, device_id: i64, f: impl FnOnce(&watch::Sender<Option<String>>) -> T) -> T {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        f(ips
            .entry(device_id)
            .or_insert_with(|| watch::channel(None).0))
    }
}

impl AgentSink {
    pub(super) fn new(events: mpsc::Sender<DeviceEvent>, ips: AnnouncedIps) -> Self {
        AgentSink { events, ips }
    }
}

impl EventSink for AgentSink {
    fn events(&self) -> mpsc::Sender<DeviceEvent> {
        self.events.clone()
    }

    fn announced_ip(&self, device_id: i64) -> watch::Receiver<Option<String>> {
        self.ips.sender(device_id, watch::Sender::subscribe)
    }
}
