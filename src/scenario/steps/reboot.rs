//! The `reboot` step: the request is fired and forgotten because the device
//! may reset before it answers, so a boot marker on serial is the only
//! proof that it rebooted.

use std::time::Duration;

use serde_json::{json, Value};

use super::serial_wait::is_boot;
use crate::scenario::runner::Runner;
use crate::store::EventKind;

impl Runner<'_> {
    /// `POST /api/reboot`, then a boot marker within `timeout`.
    pub(super) async fn reboot(&mut self, timeout: Duration) -> Result<String, String> {
        self.serial.drain();
        let url = self.url("/api/reboot")?;
        let mut req = self.ctx.http.post(url).timeout(Duration::from_secs(2));
        if let Some((user, pass)) = &self.auth {
            req = req.basic_auth(user, Some(pass));
        }
        // The device may reset before it answers: send, do not wait.
        tokio::spawn(async move {
            let _ = req.send().await;
        });
        self.note(
            EventKind::Http,
            "POST /api/reboot (fire and forget)".into(),
            json!({"method": "POST", "path": "/api/reboot", "status": null}),
        )
        .await;
        let e = self
            .serial
            .expect(timeout, "a boot marker", is_boot)
            .await
            .map_err(|e| format!("{e} after POST /api/reboot"))?;
        Ok(format!(
            "rebooted: {}",
            e.data
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("boot marker")
        ))
    }
}
