//! Watching one device's serial output through the live hub: every step
//! that waits for the device (reboot, readiness, heartbeat, a line) waits
//! here, so they share one timeout rule and one way of saying what was not
//! seen.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::protocol::HEARTBEAT_TAG;
use crate::recorder::LiveEvent;
use crate::store::EventKind;

/// The serial stream of one device, from the hub.
pub(in crate::scenario) struct Serial {
    pub(in crate::scenario) rx: broadcast::Receiver<LiveEvent>,
    pub(in crate::scenario) device_id: i64,
}

impl Serial {
    /// Forgets what arrived so far: later waits see only newer output.
    pub(super) fn drain(&mut self) {
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = self.rx.try_recv() {}
    }

    /// The first event `matches` accepts, or `None` after `timeout`.
    async fn wait(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&LiveEvent) -> bool,
    ) -> Option<LiveEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return None,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Ok(event)) => {
                    if event.device_id == self.device_id && matches(&event) {
                        return Some(event);
                    }
                }
            }
        }
    }

    /// The first event `matches` accepts, or the step's failure: "timed out
    /// after N s waiting for `what` on serial".
    pub(super) async fn expect(
        &mut self,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&LiveEvent) -> bool,
    ) -> Result<LiveEvent, String> {
        self.wait(timeout, matches).await.ok_or_else(|| {
            format!(
                "timed out after {} s waiting for {what} on serial",
                timeout.as_secs_f64()
            )
        })
    }
}

pub(super) fn is_boot(e: &LiveEvent) -> bool {
    e.event_kind() == Some(EventKind::Boot)
}

pub(super) fn is_ready(e: &LiveEvent) -> bool {
    e.event_kind() == Some(EventKind::Ready)
}

pub(super) fn is_heartbeat(e: &LiveEvent) -> bool {
    e.kind == "snapshot" && e.data.get("tag").and_then(Value::as_str) == Some(HEARTBEAT_TAG)
}

pub(super) fn line_text(e: &LiveEvent) -> Option<&str> {
    (e.kind == "line")
        .then(|| e.data.get("text").and_then(Value::as_str))
        .flatten()
}
