//! The `health` step: reads `/api/health`, and by default waits until two
//! samples a few seconds apart agree, because a heap measured while the
//! device is still settling after a burst or a reboot says nothing.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Response, HTTP_TIMEOUT};
use crate::scenario::model::Num;
use crate::scenario::runner::Runner;

/// Internal and PSRAM free bytes from an `/api/health` answer.
fn sample(r: &Response) -> Result<(i64, i64), String> {
    let v: Value =
        serde_json::from_str(&r.body).map_err(|e| format!("/api/health is not JSON: {e}"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("/api/health has no {k}"))
    };
    Ok((field("heap_internal_free")?, field("psram_free")?))
}

impl Runner<'_> {
    /// One sample, or (when `stable`) samples `settle_s` apart until the
    /// deltas are within the limits or `timeout` passes.
    pub(super) async fn health(
        &mut self,
        name: &str,
        stable: bool,
        settle_s: Option<&Num>,
        max_internal_delta: Option<&Num>,
        max_psram_delta: Option<&Num>,
        timeout: &Option<Num>,
    ) -> Result<String, String> {
        let p = &self.params;
        let settle = match settle_s {
            Some(n) => n.resolve_secs(p)?,
            None => 2.0,
        };
        let max_internal = match max_internal_delta {
            Some(n) => n.resolve(p)? as i64,
            None => 1024,
        };
        let max_psram = match max_psram_delta {
            Some(n) => n.resolve(p)? as i64,
            None => 4096,
        };
        let timeout = self.wait_timeout(timeout)?;
        let deadline = Instant::now() + timeout;
        let first = self
            .request("GET", "/api/health", None, HTTP_TIMEOUT)
            .await?;
        let mut a = sample(&first)?;
        if !stable {
            self.responses.insert(name.to_owned(), first.body);
            return Ok(format!("internal free {} B, PSRAM free {} B", a.0, a.1));
        }
        loop {
            tokio::time::sleep(Duration::from_secs_f64(settle.max(0.0))).await;
            let r = self
                .request("GET", "/api/health", None, HTTP_TIMEOUT)
                .await?;
            let b = sample(&r)?;
            let (di, dp) = ((b.0 - a.0).abs(), (b.1 - a.1).abs());
            if di <= max_internal && dp <= max_psram {
                self.responses.insert(name.to_owned(), r.body);
                return Ok(format!(
                    "stable: Δ internal {di} B (≤ {max_internal} B), Δ PSRAM {dp} B (≤ {max_psram} B) over {settle} s"
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not stable after {} s: Δ internal {di} B (limit {max_internal} B), Δ PSRAM {dp} B (limit {max_psram} B)",
                    timeout.as_secs_f64()
                ));
            }
            a = b;
        }
    }
}
