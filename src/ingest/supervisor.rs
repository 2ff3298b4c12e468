//! Starts, stops and watches the sources of every registered device.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use tokio::sync::{mpsc, watch};

use super::{
    run_health_source, run_serial_source, DeviceEvent, HealthSourceConfig, SerialSourceConfig,
};
use crate::store::DeviceRecord;

/// Where sources send their events, and where a health source learns the
/// address a device announced on serial. The recorder is the one real
/// implementation; the trait keeps `ingest` below `recorder` in the layers.
pub trait EventSink: Send + Sync + 'static {
    fn events(&self) -> mpsc::Sender<DeviceEvent>;
    fn announced_ip(&self, device_id: i64) -> watch::Receiver<Option<String>>;
}

struct DeviceTasks {
    token: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

/// The running sources, per device.
pub struct SourceSupervisor {
    sink: Arc<dyn EventSink>,
    client: reqwest::Client,
    shutdown: CancellationToken,
    running: Mutex<HashMap<i64, DeviceTasks>>,
}

impl SourceSupervisor {
    pub fn new(sink: impl EventSink, client: reqwest::Client, shutdown: CancellationToken) -> Self {
        SourceSupervisor {
            sink: Arc::new(sink),
            client,
            shutdown,
            running: Mutex::default(),
        }
    }

    /// Starts a serial source (when the device has a port) and a health
    /// source (when it has a URL or will announce an IP, and polling is on).
    pub fn start(&self, device: &DeviceRecord) {
        let token = self.shutdown.child_token();
        let mut handles = Vec::new();
        if let Some(path) = &device.serial_path {
            let config = SerialSourceConfig {
                device_id: device.id,
                path: PathBuf::from(path),
                baud: u32::try_from(device.baud).unwrap_or(115_200),
            };
            handles.push(supervised(
                "serial",
                device.id,
                token.clone(),
                run_serial_source(config, self.sink.events(), token.clone()),
            ));
        }
        if device.health_interval_s > 0 {
            let config = HealthSourceConfig {
                device_id: device.id,
                base_url: device.url.clone(),
                interval: Duration::from_secs(device.health_interval_s as u64),
                timeout: Duration::from_secs(5),
                auth: device
                    .auth
                    .as_deref()
                    .and_then(|a| a.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))),
            };
            handles.push(supervised(
                "health",
                device.id,
                token.clone(),
                run_health_source(
                    config,
                    self.client.clone(),
                    self.sink.announced_ip(device.id),
                    self.sink.events(),
                    token.clone(),
                ),
            ));
        }
        let old = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(device.id, DeviceTasks { token, handles });
        if let Some(old) = old {
            old.token.cancel();
        }
    }

    /// Stops the device's sources and waits for them to end.
    pub async fn stop(&self, device_id: i64) {
        let tasks = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&device_id);
        if let Some(tasks) = tasks {
            tasks.token.cancel();
            for h in tasks.handles {
                let _ = h.await;
            }
        }
    }

    pub async fn restart(&self, device: &DeviceRecord) {
        self.stop(device.id).await;
        self.start(device);
    }

    pub async fn stop_all(&self) {
        let all: Vec<i64> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        for id in all {
            self.stop(id).await;
        }
    }
}

/// Spawns a source and reports it if it ends without being asked to: a
/// source that dies silently would look like a quiet device.
fn supervised(
    what: &'static str,
    device_id: i64,
    token: CancellationToken,
    source: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        source.await;
        if !token.is_cancelled() {
            tracing::error!(device_id, source = what, "source ended unexpectedly");
        }
    })
}
