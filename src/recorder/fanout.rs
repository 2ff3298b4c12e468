//! Live events across servers that share one PostgreSQL database: this
//! server's own events go out on a NOTIFY channel, and events from the
//! others come in and are republished to this server's SSE clients and
//! alert engine. Each payload carries the sending server's id, so a server
//! skips its own (its clients already had them, from its hub).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{LiveEvent, LiveHub};
use crate::store::{Store, MAX_NOTIFY_PAYLOAD};

/// Events gathered into one round trip at most this long after the first.
const GATHER: Duration = Duration::from_millis(20);

/// One NOTIFY payload: who sent it, its number (PostgreSQL folds identical
/// payloads of a transaction into one) and the events.
#[derive(Serialize, Deserialize)]
struct Payload {
    origin: u64,
    n: u64,
    events: Vec<WireEvent>,
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    device_id: i64,
    kind: String,
    ts_us: i64,
    data: Value,
}

impl WireEvent {
    fn into_live(self) -> Option<LiveEvent> {
        // The hub's kinds are static names; an unknown one (a newer
        // server) is skipped.
        let kind = ["snapshot", "health", "event", "line", "status"]
            .into_iter()
            .find(|k| *k == self.kind)?;
        Some(LiveEvent {
            device_id: self.device_id,
            kind,
            ts_us: self.ts_us,
            data: Arc::new(self.data),
        })
    }
}

/// Starts the outgoing and incoming halves; they end when `stop` is
/// cancelled. `outgoing` is the receiver from [`LiveHub::with_fanout`].
pub fn spawn(
    store: Store,
    hub: LiveHub,
    outgoing: mpsc::Receiver<LiveEvent>,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let origin = server_id();
    vec![
        tokio::spawn(send_loop(store.clone(), outgoing, origin, stop.clone())),
        tokio::spawn(listen_loop(store, hub, origin, stop)),
    ]
}

/// A random id for this server process.
fn server_id() -> u64 {
    let mut bytes = [0u8; 8];
    // Without entropy, the time still tells two servers apart.
    if getrandom::fill(&mut bytes).is_err() {
        return crate::store::now_us() as u64;
    }
    u64::from_le_bytes(bytes)
}

async fn send_loop(
    store: Store,
    mut outgoing: mpsc::Receiver<LiveEvent>,
    origin: u64,
    stop: CancellationToken,
) {
    let mut n = 0u64;
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            e = outgoing.recv() => match e { Some(e) => e, None => return },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, outgoing.recv()).await {
            batch.push(e);
            if batch.len() >= 1024 {
                break;
            }
        }
        let payloads = pack(origin, &mut n, batch);
        if let Err(e) = store.notify_live(&payloads).await {
            tracing::warn!(error = %e, "live fan-out to other servers failed");
        }
    }
}

/// Packs events into payloads under PostgreSQL's limit. An event too big
/// for a payload of its own (a huge health body) is left to this server's
/// viewers.
fn pack(origin: u64, n: &mut u64, events: Vec<LiveEvent>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<WireEvent> = Vec::new();
    let mut size = 0;
    let flush = |current: &mut Vec<WireEvent>, n: &mut u64, out: &mut Vec<String>| {
        if current.is_empty() {
            return;
        }
        *n += 1;
        let payload = Payload {
            origin,
            n: *n,
            events: std::mem::take(current),
        };
        if let Ok(json) = serde_json::to_string(&payload) {
            out.push(json);
        }
    };
    for e in events {
        let wire = WireEvent {
            device_id: e.device_id,
            kind: e.kind.to_owned(),
            ts_us: e.ts_us,
            data: (*e.data).clone(),
        };
        let Ok(len) = serde_json::to_string(&wire).map(|j| j.len()) else {
            continue;
        };
        // Room for the envelope: origin, number, brackets.
        if len + 100 > MAX_NOTIFY_PAYLOAD {
            tracing::debug!(len, "live event too big to fan out");
            continue;
        }
        if size + len + 100 > MAX_NOTIFY_PAYLOAD {
            flush(&mut current, n, &mut out);
            size = 0;
        }
        size += len + 1;
        current.push(wire);
    }
    flush(&mut current, n, &mut out);
    out
}

async fn listen_loop(store: Store, hub: LiveHub, origin: u64, stop: CancellationToken) {
    let mut listener = loop {
        match store.listen_live().await {
            Ok(Some(l)) => break l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other servers' live events; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    };
    loop {
        let payload = tokio::select! {
            _ = stop.cancelled() => return,
            p = listener.recv() => p,
        };
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "live listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(payload) = serde_json::from_str::<Payload>(&payload) else {
            tracing::debug!("ignored a live payload that is not heaplab's");
            continue;
        };
        if payload.origin == origin {
            continue;
        }
        for event in payload.events.into_iter().filter_map(WireEvent::into_live) {
            hub.publish_remote(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: i64, text_len: usize) -> LiveEvent {
        LiveEvent {
            device_id: 1,
            kind: "line",
            ts_us: i,
            data: Arc::new(serde_json::json!({ "text": "x".repeat(text_len) })),
        }
    }

    #[test]
    fn payloads_stay_under_the_limit_keep_order_and_are_numbered_apart() {
        let mut n = 0;
        let events: Vec<LiveEvent> = (0..200).map(|i| event(i, 300)).collect();
        let payloads = pack(7, &mut n, events);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        let mut numbers = Vec::new();
        for p in &payloads {
            assert!(p.len() < MAX_NOTIFY_PAYLOAD, "{}", p.len());
            let p: Payload = serde_json::from_str(p).expect("json");
            assert_eq!(p.origin, 7);
            numbers.push(p.n);
            seen.extend(p.events.into_iter().map(|e| e.ts_us));
        }
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        numbers.dedup();
        assert_eq!(numbers.len(), payloads.len());
    }

    #[test]
    fn an_event_too_big_for_any_payload_is_left_out() {
        let mut n = 0;
        let payloads = pack(7, &mut n, vec![event(1, 10), event(2, 9000), event(3, 10)]);
        let p: Payload = serde_json::from_str(&payloads[0]).expect("json");
        let ts: Vec<i64> = p.events.iter().map(|e| e.ts_us).collect();
        assert_eq!(ts, [1, 3]);
    }
}
