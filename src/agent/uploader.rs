//! The spool's batches to the server, oldest first, several per request
//! when there is a backlog. A batch leaves the spool only once the server
//! answers that it is stored; anything else (no answer, a 5xx, a dropped
//! connection) is retried with backoff, and the server recognises a batch
//! it already has, so nothing is lost or stored twice. An idle agent still
//! reports every few seconds, so the dashboard knows it is there.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::ingest::forward::{AgentInfo, ForwardedDevice, UploadReceipt};
use crate::ingest::Backoff;
use crate::store::{Spool, SpooledBatch};

/// Most spooled batches in one request.
const MAX_BATCHES: i64 = 64;
/// Requests stop growing past this many bytes of events.
const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;
/// An idle agent reports this often.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// One request may take this long (the server answers once it has
/// committed the batches).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// The uploader's view of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    Starting,
    /// The last request was answered: everything up to `stored_through`
    /// is on the server.
    Connected {
        stored_through: i64,
    },
    /// The last request failed; batches wait in the spool.
    Unreachable {
        why: String,
    },
}

pub(super) struct Uploader {
    http: reqwest::Client,
    url: reqwest::Url,
    token: String,
    host: String,
    spool: Spool,
    /// The agent's devices, as JSON (sent with every request).
    devices_json: String,
    state: watch::Sender<UploadState>,
}

impl Uploader {
    pub(super) fn new(
        config: &AgentConfig,
        http: reqwest::Client,
        spool: Spool,
        devices: Vec<ForwardedDevice>,
        state: watch::Sender<UploadState>,
    ) -> Self {
        let mut url = config.server.clone();
        // The name is one path segment, escaped as such.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["api", "v1", "agents", &config.name, "batches"]);
        }
        Uploader {
            http,
            url,
            token: config.token.clone(),
            host: config.host.clone(),
            spool,
            devices_json: serde_json::to_string(&devices).unwrap_or_else(|_| "[]".into()),
            state,
        }
    }

    /// The request body: agent, devices and batches, the spooled events
    /// pasted in as they were encoded (no second decode and encode).
    fn body(&self, batches: &[SpooledBatch]) -> Vec<u8> {
        let stats = self.spool.stats();
        let in_request: i64 = batches.iter().map(|b| b.events).sum();
        let info = AgentInfo {
            host: self.host.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            spool_id: self.spool.id().to_owned(),
            spooled_events: (stats.events - in_request).max(0),
        };
        let mut body = Vec::with_capacity(batches.iter().map(|b| b.body.len() + 64).sum());
        body.extend_from_slice(b"{\"agent\":");
        body.extend(serde_json::to_vec(&info).unwrap_or_default());
        body.extend_from_slice(b",\"devices\":");
        body.extend_from_slice(self.devices_json.as_bytes());
        body.extend_from_slice(b",\"batches\":[");
        for (i, batch) in batches.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend(format!("{{\"seq\":{},\"gap\":", batch.seq).into_bytes());
            body.extend(serde_json::to_vec(&batch.gap).unwrap_or_else(|_| b"{}".to_vec()));
            body.extend_from_slice(b",\"events\":");
            body.extend_from_slice(&batch.body);
            body.push(b'}');
        }
        body.extend_from_slice(b"]}");
        body
    }

    /// One request; the number of batches it stored.
    async fn upload(&self, batches: &[SpooledBatch]) -> Result<Option<i64>, String> {
        let response = self
            .http
            .post(self.url.clone())
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(REQUEST_TIMEOUT)
            .body(self.body(batches))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                    "the server refused the token (HTTP {status}): the agent needs an `ingest` token ({detail})"
                ),
                _ => format!("HTTP {status}: {detail}"),
            });
        }
        let receipt: UploadReceipt = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer: {e}"))?;
        Ok((!batches.is_empty()).then_some(receipt.stored_through))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.to_string()
    }
}

/// Sends until `stop` is cancelled; then tries once more to send what is
/// left (the agent is exiting; the spool keeps the rest for next time).
pub(super) async fn run(uploader: Uploader, spooled: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut last_report = tokio::time::Instant::now() - REPORT_EVERY;
    loop {
        let batches = match next_batches(&uploader.spool).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                Vec::new()
            }
        };
        let idle = batches.is_empty();
        if idle && last_report.elapsed() < REPORT_EVERY {
            if stop.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = spooled.notified() => {}
                _ = tokio::time::sleep(REPORT_EVERY) => {}
                _ = stop.cancelled() => {}
            }
            continue;
        }
        match uploader.upload(&batches).await {
            Ok(stored) => {
                backoff.reset();
                last_report = tokio::time::Instant::now();
                if let Some(through) = stored {
                    if let Err(e) = uploader.spool.remove_through(through).await {
                        tracing::error!(error = %e, "cannot update the spool");
                    }
                }
                let was_down = matches!(*uploader.state.borrow(), UploadState::Unreachable { .. });
                if was_down {
                    eprintln!(
                        "server reachable again; sending {} spooled events",
                        uploader.spool.stats().events
                    );
                }
                uploader.state.send_replace(UploadState::Connected {
                    stored_through: stored.unwrap_or(0),
                });
            }
            Err(why) => {
                let first = !matches!(*uploader.state.borrow(), UploadState::Unreachable { .. });
                if first {
                    eprintln!(
                        "cannot reach the server ({why}); spooling events to disk until it answers"
                    );
                }
                uploader
                    .state
                    .send_replace(UploadState::Unreachable { why });
                if stop.is_cancelled() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
        if stop.is_cancelled() && idle {
            return;
        }
    }
}

/// The oldest batches, up to [`MAX_BATCHES`] and about [`MAX_UPLOAD_BYTES`].
async fn next_batches(spool: &Spool) -> Result<Vec<SpooledBatch>, crate::store::StoreError> {
    let mut batches = spool.oldest(MAX_BATCHES).await?;
    let mut bytes = 0;
    let keep = batches
        .iter()
        .position(|b| {
            bytes += b.body.len();
            bytes > MAX_UPLOAD_BYTES
        })
        .map_or(batches.len(), |i| i.max(1));
    batches.truncate(keep);
    Ok(batches)
}
