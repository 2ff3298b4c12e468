//! The `wait_ready`, `wait_heartbeat` and `wait_for` steps: each waits for
//! one kind of serial output and differs only in what it matches and what
//! it reports, so the three live together.

use std::time::Duration;

use serde_json::Value;

use super::serial_wait::{is_heartbeat, is_ready, line_text};
use crate::scenario::model::{line_matches, substitute};
use crate::scenario::runner::Runner;

impl Runner<'_> {
    /// `[Main] Setup complete`.
    pub(super) async fn wait_ready(&mut self, timeout: Duration) -> Result<String, String> {
        self.serial
            .expect(
                timeout,
                "the readiness marker `[Main] Setup complete`",
                is_ready,
            )
            .await?;
        Ok("[Main] Setup complete".into())
    }

    /// A `[Mem] hb …` snapshot, reported with its headline numbers.
    pub(super) async fn wait_heartbeat(&mut self, timeout: Duration) -> Result<String, String> {
        let e = self
            .serial
            .expect(timeout, "a heartbeat (`[Mem] hb`) snapshot", is_heartbeat)
            .await?;
        Ok(format!(
            "hb: hi={} B hin={} B frag={} %",
            e.data.get("hi").unwrap_or(&Value::Null),
            e.data.get("hin").unwrap_or(&Value::Null),
            e.data.get("frag").unwrap_or(&Value::Null)
        ))
    }

    /// A serial line matching `pattern` (after parameter substitution).
    pub(super) async fn wait_for(
        &mut self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let pattern = substitute(pattern, &self.params)?;
        let e = self
            .serial
            .expect(timeout, &format!("`{pattern}`"), |e| {
                line_text(e).is_some_and(|t| line_matches(&pattern, t))
            })
            .await?;
        Ok(line_text(&e).unwrap_or_default().trim().to_owned())
    }
}
