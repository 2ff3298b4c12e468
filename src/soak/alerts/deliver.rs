//! Delivery to one webhook: a generic JSON POST whose `text` field Slack,
//! Discord (via its Slack-compatible endpoint) and ntfy-style receivers
//! show. Rate-limited, retried with exponential backoff, each outcome
//! recorded on the alert.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::soak::config::{AlertsConfig, Webhook};
use crate::store::{AlertDelivery, Store};

/// One alert for one webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub alert_id: i64,
    pub payload: Value,
}

/// Records a delivery outcome on the alert; a failure to record is logged,
/// never retried (the alert itself is already stored).
pub(super) async fn note(
    store: &Store,
    id: i64,
    status: AlertDelivery,
    attempts: u32,
    detail: &str,
) {
    if let Err(e) = store
        .note_alert_delivery(id, status, attempts, detail)
        .await
    {
        tracing::warn!(error = %e, "cannot record alert delivery");
    }
}

/// A failed request as one line: reqwest's message and every cause below
/// it (the cause says what went wrong: refused, timed out, "invalid peer
/// certificate: UnknownIssuer"). The URL is left out: a Slack or Discord
/// webhook path is a secret, and the detail is shown on the alerts page.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Delivers one webhook's queue in order, at most `max_per_minute` POSTs
/// a minute (retries included), until shutdown.
pub(super) async fn run(
    webhook: Webhook,
    config: AlertsConfig,
    store: Store,
    http: reqwest::Client,
    mut rx: mpsc::Receiver<Delivery>,
    shutdown: CancellationToken,
) {
    let spacing = Duration::from_secs_f64(60.0 / f64::from(config.max_per_minute.max(1)));
    let mut last_post: Option<tokio::time::Instant> = None;
    loop {
        let job = tokio::select! {
            _ = shutdown.cancelled() => break,
            job = rx.recv() => match job { Some(j) => j, None => break },
        };
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(config.backoff_ms);
        let outcome = loop {
            if let Some(t) = last_post {
                let wait = (t + spacing).saturating_duration_since(tokio::time::Instant::now());
                if !wait.is_zero() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break Err("shut down".to_owned()),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            attempt += 1;
            last_post = Some(tokio::time::Instant::now());
            let sent = http
                .post(&webhook.url)
                .timeout(Duration::from_secs(10))
                .json(&job.payload)
                .send()
                .await;
            let error = match sent {
                Ok(r) if r.status().is_success() => break Ok(()),
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => describe(&e.without_url()),
            };
            if attempt >= config.attempts {
                break Err(error);
            }
            tracing::warn!(webhook = %webhook.name, attempt, %error, "alert delivery failed; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => break Err(format!("{error}; shut down before retrying")),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = backoff.saturating_mul(2);
        };
        match outcome {
            Ok(()) => {
                let detail = format!("{}: delivered after {attempt} attempt(s)", webhook.name);
                note(
                    &store,
                    job.alert_id,
                    AlertDelivery::Delivered,
                    attempt,
                    &detail,
                )
                .await;
            }
            Err(e) => {
                let detail = format!("{}: failed after {attempt} attempt(s): {e}", webhook.name);
                note(
                    &store,
                    job.alert_id,
                    AlertDelivery::Failed,
                    attempt,
                    &detail,
                )
                .await;
            }
        }
    }
}
