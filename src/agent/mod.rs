//! `heaplab agent`: the same serial and health sources as `serve`, on a USB
//! host (a desk machine, a Raspberry Pi in the rack), forwarding their
//! events to the central server. Sources hand events to the spooler, which
//! puts them in the disk spool in batches; the uploader sends the spool's
//! batches, oldest first, and forgets each only when the server says it is
//! stored. While the server is away the spool grows (bounded); when it
//! returns the spool drains in order.

mod commands;
mod sink;
mod spooler;
mod uploader;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::ingest::forward::ForwardedDevice;
use crate::ingest::SourceSupervisor;
use crate::store::{DeviceRecord, Spool, SpoolStats, StoreError};

pub use uploader::UploadState;

/// Events queued between the sources and the spooler.
const EVENT_QUEUE: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("spool: {0}")]
    Spool(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] crate::tls::CaFileError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A running agent.
pub struct AgentHandle {
    name: String,
    spool: Spool,
    state: tokio::sync::watch::Receiver<UploadState>,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl AgentHandle {
    pub fn spool_stats(&self) -> SpoolStats {
        self.spool.stats()
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the server is reachable, as of the last upload.
    pub fn upload_state(&self) -> tokio::sync::watch::Receiver<UploadState> {
        self.state.clone()
    }

    /// Cancelling this token stops the agent (as SIGTERM does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the sources, spools what they had, tries one last upload.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    pub async fn wait(self) {
        let _ = self.done.await;
        self.spool.close().await;
    }
}

/// Opens the spool, starts every device's sources, the spooler and the
/// uploader.
pub async fn start(config: AgentConfig) -> Result<AgentHandle, AgentError> {
    let spool = Spool::open(&config.spool, config.spool_max_bytes).await?;
    let user_agent = concat!("heaplab-agent/", env!("CARGO_PKG_VERSION"));
    let http = match &config.ca_file {
        Some(path) => crate::tls::client_trusting(path, user_agent)?,
        None => crate::tls::client_builder()
            .user_agent(user_agent)
            .build()?,
    };
    let devices: Vec<DeviceRecord> = config
        .devices
        .iter()
        .zip(1..)
        .map(|(spec, id)| DeviceRecord {
            id,
            name: spec.name.clone(),
            serial_path: spec.serial.clone(),
            baud: spec.baud,
            url: spec.url.clone(),
            health_interval_s: spec.health_interval_s,
            auth: spec.auth.clone(),
            board: spec.board.clone(),
            created_us: 0,
        })
        .collect();
    let shutdown = CancellationToken::new();
    let sources_stop = CancellationToken::new();
    let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
    let announced = sink::AnnouncedIps::default();
    let sink = sink::AgentSink::new(events, announced.clone());
    let announced_ips = announced.clone();
    let sources = Arc::new(SourceSupervisor::new(
        sink,
        http.clone(),
        sources_stop.clone(),
    ));
    for device in &devices {
        sources.start(device);
    }
    let spooled = Arc::new(Notify::new());
    let spooler = tokio::spawn(spooler::run(
        spool.clone(),
        devices.iter().map(|d| (d.id, d.name.clone())).collect(),
        announced,
        event_rx,
        spooled.clone(),
    ));
    let forwarded_devices = config
        .devices
        .iter()
        .map(|d| ForwardedDevice {
            name: d.name.clone(),
            url: d.url.clone(),
            board: d.board.clone(),
        })
        .collect();
    let (state_tx, state) = tokio::sync::watch::channel(UploadState::Starting);
    let uploader_stop = CancellationToken::new();
    let uploader = tokio::spawn(uploader::run(
        uploader::Uploader::new(
            &config,
            http.clone(),
            spool.clone(),
            forwarded_devices,
            state_tx,
        ),
        spooled,
        uploader_stop.clone(),
    ));
    let commands_stop = CancellationToken::new();
    let commands = tokio::spawn(commands::run(
        commands::CommandRunner {
            http: http.clone(),
            server: config.server.clone(),
            name: config.name.clone(),
            token: config.token.clone(),
            configured_hosts: config
                .devices
                .iter()
                .filter_map(|d| d.url.as_deref())
                .filter_map(|u| reqwest::Url::parse(u).ok()?.host_str().map(str::to_owned))
                .collect(),
            announced: announced_ips,
        },
        commands_stop.clone(),
    ));
    let stop = shutdown.clone();
    let done = tokio::spawn(async move {
        stop.cancelled().await;
        commands_stop.cancel();
        let _ = commands.await;
        sources.stop_all().await;
        sources_stop.cancel();
        // The sources are gone, so the channel closes and the spooler
        // writes what is left.
        drop(sources);
        if let Err(e) = spooler.await {
            tracing::error!(error = %e, "spooler failed");
        }
        uploader_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), uploader).await;
    });
    Ok(AgentHandle {
        name: config.name.clone(),
        spool,
        state,
        shutdown,
        done,
    })
}
