//! After the upload: proof that the device runs the new build. A boot
//! marker then `Firmware: v<version>` on serial, read from the port itself
//! (`heaplab flash` on the board's desk) or from the live hub (the server,
//! which already records the board's serial, its own or an agent's); or,
//! for a device without serial, `/api/info` reporting the version.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, mpsc};
use tokio_serial::SerialPortBuilderExt;

use super::FlashError;
use crate::protocol::{parse_line, LineKind};
use crate::recorder::{LiveEvent, LiveHub};
use crate::store::normalize_version;

/// How often `/api/info` is asked for the version without a serial port.
const INFO_POLL: Duration = Duration::from_millis(500);

/// How the new version is confirmed.
pub enum Watch {
    Serial(LineFeed),
    Info,
}

/// A device's serial lines, listened to from before the upload on.
pub enum LineFeed {
    /// Read from the port here.
    Port(mpsc::UnboundedReceiver<String>),
    /// As the server records them.
    Hub {
        rx: broadcast::Receiver<LiveEvent>,
        device_id: i64,
    },
}

impl LineFeed {
    /// Opens the port and reads its lines in the background.
    pub fn open_port(path: &str, baud: i64) -> Result<LineFeed, tokio_serial::Error> {
        let mut port =
            tokio_serial::new(path, u32::try_from(baud).unwrap_or(115_200)).open_native_async()?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                match port.read(&mut chunk).await {
                    Ok(n) if n > 0 => pending.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    if tx
                        .send(String::from_utf8_lossy(&line).trim_end().to_owned())
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(LineFeed::Port(rx))
    }

    /// The lines the server records for `device_id` from now on.
    pub fn hub(hub: &LiveHub, device_id: i64) -> LineFeed {
        LineFeed::Hub {
            rx: hub.subscribe(),
            device_id,
        }
    }

    /// Drops what a port had buffered before the upload ended (an old boot
    /// log). The hub needs no such step: it was subscribed to just before
    /// the upload, and no boot into the new image can precede the upload.
    fn drop_stale(&mut self) {
        if let LineFeed::Port(rx) = self {
            while rx.try_recv().is_ok() {}
        }
    }

    /// The next line, or `None` when the source is gone.
    async fn next(&mut self) -> Option<String> {
        match self {
            LineFeed::Port(rx) => rx.recv().await,
            LineFeed::Hub { rx, device_id } => loop {
                match rx.recv().await {
                    Ok(e) if e.device_id == *device_id && e.kind == "line" => {
                        if let Some(text) = e.data.get("text").and_then(|t| t.as_str()) {
                            return Some(text.to_owned());
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        }
    }
}

impl Watch {
    /// Waits until `deadline`; what confirmed it (`serial`, `/api/info`).
    pub(super) async fn confirm(
        self,
        client: &reqwest::Client,
        url: &str,
        auth: Option<&str>,
        version: &str,
        deadline: Instant,
    ) -> Result<&'static str, FlashError> {
        match self {
            Watch::Serial(mut lines) => {
                lines.drop_stale();
                on_serial(lines, version, deadline).await?;
                Ok("serial")
            }
            Watch::Info => {
                on_info(client, url, auth, version, deadline).await?;
                Ok("/api/info")
            }
        }
    }
}

/// Waits for a boot marker and then `Firmware: v<version>`; a boot into
/// another version is reported if the right one never comes (a rollback).
/// Every line `lines` holds counts: a USB flash opens its feed only after
/// the write, so what is buffered is already the new boot.
pub async fn on_serial(
    mut lines: LineFeed,
    version: &str,
    deadline: Instant,
) -> Result<(), FlashError> {
    let want = normalize_version(version);
    let mut rebooted = false;
    let mut other: Option<String> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, lines.next()).await {
            Ok(Some(line)) => line,
            Ok(None) => return Err(FlashError::SerialClosed),
            Err(_) => {
                return Err(match other {
                    Some(seen) => FlashError::RolledBack { seen, want },
                    None => FlashError::NotSeenOnSerial(want),
                })
            }
        };
        match parse_line(line.as_bytes()).kind {
            LineKind::Boot(_) => rebooted = true,
            LineKind::Firmware { version } if rebooted => {
                let seen = normalize_version(&version);
                if seen == want {
                    tracing::info!(version = %seen, "device rebooted into the new version");
                    return Ok(());
                }
                other = Some(seen);
                rebooted = false;
            }
            _ => {}
        }
    }
}

async fn on_info(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    version: &str,
    deadline: Instant,
) -> Result<(), FlashError> {
    let want = normalize_version(version);
    loop {
        let mut request = client
            .get(format!("{}/api/info", url.trim_end_matches('/')))
            .timeout(Duration::from_secs(2));
        if let Some((user, pass)) = auth.and_then(|a| a.split_once(':')) {
            request = request.basic_auth(user, Some(pass));
        }
        if let Ok(response) = request.send().await {
            if let Ok(info) = response.json::<serde_json::Value>().await {
                if info["version"].as_str().map(normalize_version).as_deref() == Some(want.as_str())
                {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(FlashError::NotReported(want));
        }
        tokio::time::sleep(INFO_POLL).await;
    }
}
