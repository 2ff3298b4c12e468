//! Where the agent's sources send events: the spooler's channel, and the
//! IP each device announced on serial (its health source follows it, as on
//! the server).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::ingest::{DeviceEvent, EventSink};

#[derive(Clone)]
pub(super) struct AgentSink {
    events: mpsc::Sender<DeviceEvent>,
    ips: Arc<Mutex<HashMap<i64, watch::Sender<Option<String>>>>>,
}

impl AgentSink {
    pub(super) fn new(events: mpsc::Sender<DeviceEvent>) -> Self {
        AgentSink {
            events,
            ips: Arc::default(),
        }
    }

    /// The device said `Got IP: ip` on serial.
    pub(super) fn announce(&self, device_id: i64, ip: &str) {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.entry(device_id)
            .or_insert_with(|| watch::channel(None).0)
            .send_replace(Some(ip.to_owned()));
    }
}

impl EventSink for AgentSink {
    fn events(&self) -> mpsc::Sender<DeviceEvent> {
        self.events.clone()
    }

    fn announced_ip(&self, device_id: i64) -> watch::Receiver<Option<String>> {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.entry(device_id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }
}
