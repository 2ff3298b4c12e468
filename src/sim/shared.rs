//! State shared by the twin's tasks and HTTP handlers: the device behind a
//! lock, the channel to the serial writer and the request log.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::device::Device;
use super::rng::SplitMix64;
use super::serial::{PtyPort, WriterMsg};

/// One HTTP request the twin answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path with query string, e.g. `/api/config?no_reboot=1`.
    pub path: String,
    pub status: u16,
    pub at: SystemTime,
}

pub struct Shared {
    device: Mutex<Device>,
    serial_tx: mpsc::UnboundedSender<WriterMsg>,
    pub port: Arc<Mutex<PtyPort>>,
    pub dropped: Arc<AtomicU64>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// `Basic …` header value the HTTP server requires, when auth is on.
    pub auth_header: Option<String>,
    /// Fault injection for the flaky profile's HTTP side.
    pub http_faults: Option<Mutex<SplitMix64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        device: Device,
        serial_tx: mpsc::UnboundedSender<WriterMsg>,
        port: Arc<Mutex<PtyPort>>,
        dropped: Arc<AtomicU64>,
        auth_header: Option<String>,
        http_faults: Option<SplitMix64>,
    ) -> Self {
        Shared {
            device: Mutex::new(device),
            serial_tx,
            port,
            dropped,
            requests: Mutex::new(Vec::new()),
            auth_header,
            http_faults: http_faults.map(Mutex::new),
        }
    }

    /// Runs `f` on the device and hands what it printed to the serial
    /// writer before the lock is released, so output keeps device order.
    pub fn with_device<R>(&self, f: impl FnOnce(&mut Device) -> R) -> R {
        let mut device = lock(&self.device);
        let result = f(&mut device);
        for out in device.take_output() {
            // The writer only goes away when the twin shuts down.
            let _ = self.serial_tx.send(WriterMsg::Out(out));
        }
        result
    }

    pub fn send_to_writer(&self, msg: WriterMsg) -> bool {
        self.serial_tx.send(msg).is_ok()
    }

    pub fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// A flaky-HTTP decision, `None` when the profile is not flaky.
    pub fn http_fault(&self) -> Option<HttpFault> {
        let faults = self.http_faults.as_ref()?;
        let mut rng = lock(faults);
        if rng.chance(0.05) {
            Some(HttpFault::Unavailable)
        } else if rng.chance(0.05) {
            Some(HttpFault::Slow)
        } else {
            None
        }
    }
}

/// What the flaky profile does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    /// 503 right away (the async server is out of connection slots).
    Unavailable,
    /// Answered after ~2 s (Wi-Fi retries).
    Slow,
}
