//! The serial source: a USB serial port (or a twin's pseudo-terminal) in,
//! lines out. When the port disappears — USB re-enumeration on reboot, a
//! pulled cable — it reports the device offline and reopens the same path
//! with backoff until it returns.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_serial::SerialPortBuilderExt;
use tokio_util::sync::CancellationToken;

use super::{Backoff, DeviceEvent, LineSplitter, SourceKind};
use crate::store::now_us;

/// Longest line kept whole; longer ones are cut and flagged.
pub const MAX_LINE_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct SerialSourceConfig {
    pub device_id: i64,
    /// Prefer `/dev/serial/by-id/…`: it survives re-enumeration, unlike
    /// `/dev/ttyACM0`, which may come back as `ttyACM1`.
    pub path: PathBuf,
    pub baud: u32,
}

/// Runs until `shutdown` is cancelled or the event channel closes.
#[tracing::instrument(name = "serial_source", skip_all, fields(device = config.device_id, path = %config.path.display()))]
pub async fn run_serial_source(
    config: SerialSourceConfig,
    out: mpsc::Sender<DeviceEvent>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut reported_offline = false;
    loop {
        let port = tokio_serial::new(config.path.to_string_lossy(), config.baud)
            .timeout(Duration::from_secs(1))
            .open_native_async();
        let mut port = match port {
            Ok(port) => port,
            Err(e) => {
                // One offline report per outage, not one per retry.
                if !reported_offline {
                    tracing::info!(error = %e, "serial port unavailable");
                    reported_offline = true;
                    let event = status(&config, false, format!("cannot open: {e}"));
                    if out.send(event).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => continue,
                }
            }
        };
        backoff.reset();
        tracing::info!("serial port open");
        if out
            .send(status(&config, true, "port open".into()))
            .await
            .is_err()
        {
            return;
        }

        let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
        let Ok(why) = read_lines(&mut port, &mut splitter, &config, &out, &shutdown).await else {
            return;
        };
        // Whatever arrived before the port went away is kept.
        if send_tail(&mut splitter, &config, &out).await.is_err() {
            return;
        }
        drop(port);
        let Some(why) = why else { return };
        tracing::info!(reason = %why, "serial port lost");
        reported_offline = true;
        if out.send(status(&config, false, why)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// The event channel is closed: the recorder is gone and the source ends.
struct ChannelClosed;

/// The source's online/offline event.
fn status(config: &SerialSourceConfig, online: bool, detail: String) -> DeviceEvent {
    DeviceEvent::Status {
        device_id: config.device_id,
        ts_us: now_us(),
        source: SourceKind::Serial,
        online,
        detail,
    }
}

/// Reads the open port and sends its lines until shutdown (`Ok(None)`) or
/// until the port is lost (`Ok(Some(why))`).
async fn read_lines(
    port: &mut tokio_serial::SerialStream,
    splitter: &mut LineSplitter,
    config: &SerialSourceConfig,
    out: &mpsc::Sender<DeviceEvent>,
    shutdown: &CancellationToken,
) -> Result<Option<String>, ChannelClosed> {
    let mut buf = vec![0u8; 8192];
    loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => None,
            r = port.read(&mut buf) => Some(r),
        };
        let n = match read {
            None => return Ok(None),
            Some(Ok(0)) => return Ok(Some("port closed".to_owned())),
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Some(Err(e)) => return Ok(Some(format!("read failed: {e}"))),
        };
        let ts_us = now_us();
        let mut lines = Vec::new();
        splitter.push(&buf[..n], |line, truncated| {
            lines.push((line.to_vec(), truncated))
        });
        for (line, truncated) in lines {
            // Awaiting here is the back-pressure: a recorder that falls
            // behind slows reads down instead of growing a queue.
            let event = DeviceEvent::Serial {
                device_id: config.device_id,
                ts_us,
                line,
                truncated,
            };
            if out.send(event).await.is_err() {
                return Err(ChannelClosed);
            }
        }
    }
}

/// Sends the unterminated line the splitter still holds, if any.
async fn send_tail(
    splitter: &mut LineSplitter,
    config: &SerialSourceConfig,
    out: &mpsc::Sender<DeviceEvent>,
) -> Result<(), ChannelClosed> {
    let mut tail = Vec::new();
    splitter.finish(|line, truncated| tail.push((line.to_vec(), truncated)));
    for (line, truncated) in tail {
        let event = DeviceEvent::Serial {
            device_id: config.device_id,
            ts_us: now_us(),
            line,
            truncated,
        };
        if out.send(event).await.is_err() {
            return Err(ChannelClosed);
        }
    }
    Ok(())
}
