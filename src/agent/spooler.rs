//! Events from the sources into the spool, a batch at a time: whatever
//! arrived while the previous batch was being written, up to
//! [`MAX_BATCH_EVENTS`]. A batch is on disk (fsynced) before the uploader
//! may send it, so a killed agent loses at most the events of one read.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::sink::AnnouncedIps;
use crate::ingest::forward::ForwardedEvent;
use crate::ingest::DeviceEvent;
use crate::protocol::{parse_line, LineKind};
use crate::store::{GapCounts, Spool};

/// Most events in one spooled batch.
const MAX_BATCH_EVENTS: usize = 2000;

/// Runs until every source is gone (the channel closes), then spools what
/// is left.
pub(super) async fn run(
    spool: Spool,
    names: HashMap<i64, String>,
    sink: AnnouncedIps,
    mut events: mpsc::Receiver<DeviceEvent>,
    spooled: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH_EVENTS);
    while let Some(first) = events.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH_EVENTS {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let (body, counts) = encode(&names, &sink, batch.drain(..));
        if counts.is_empty() {
            continue;
        }
        // A spool that cannot be written (disk full, removed) is retried:
        // the sources wait on the channel meanwhile, as on a slow server.
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match spool.push(&body, &counts).await {
                Ok((_, dropped)) => {
                    if dropped > 0 {
                        tracing::warn!(
                            dropped,
                            "spool full: the oldest events were dropped (the server records the gap)"
                        );
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the spool; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        spooled.notify_one();
    }
}

/// The events as the JSON array the spool keeps, and how many of them
/// belong to each device.
fn encode(
    names: &HashMap<i64, String>,
    sink: &AnnouncedIps,
    events: impl Iterator<Item = DeviceEvent>,
) -> (Vec<u8>, GapCounts) {
    let mut counts = GapCounts::new();
    let mut forwarded = Vec::new();
    for event in events {
        let Some(name) = names.get(&event.device_id()) else {
            continue;
        };
        if let DeviceEvent::Serial {
            device_id, line, ..
        } = &event
        {
            if let LineKind::GotIp { ip } = parse_line(line).kind {
                sink.announce(*device_id, &ip);
            }
        }
        *counts.entry(name.clone()).or_default() += 1;
        forwarded.push(ForwardedEvent::new(name, event));
    }
    // Encoding plain data cannot fail; an empty array is the safe fallback.
    let body = serde_json::to_vec(&forwarded).unwrap_or_else(|_| b"[]".to_vec());
    (body, counts)
}
