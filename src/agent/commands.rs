//! Work from the centre: the agent long-polls the server for commands for
//! its devices and carries each out (today: a device HTTP request of a
//! scenario run, a reboot or a flash started on the server; see
//! `web/relay.rs`).
//! The agent only ever talks to its own devices: a request for any other
//! host is refused, whatever the server asks.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::sink::AnnouncedIps;
use crate::ingest::forward::{AgentCommand, CommandResult, LineBytes, DEVICE_UNREACHABLE};
use crate::ingest::Backoff;

/// How long one poll may wait on the server.
const POLL_WAIT_S: u64 = 25;

pub(super) struct CommandRunner {
    pub(super) http: reqwest::Client,
    pub(super) server: reqwest::Url,
    pub(super) name: String,
    pub(super) token: String,
    /// Hosts of the devices' configured URLs.
    pub(super) configured_hosts: Vec<String>,
    pub(super) announced: AnnouncedIps,
}

impl CommandRunner {
    fn url(&self, tail: &[&str]) -> reqwest::Url {
        let mut url = self.server.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["api", "v1", "agents", &self.name, "commands"])
                .extend(tail);
        }
        url
    }

    async fn poll(&self) -> Result<Vec<AgentCommand>, reqwest::Error> {
        self.http
            .get(self.url(&[]))
            .query(&[("wait_s", POLL_WAIT_S)])
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(POLL_WAIT_S + 15))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    fn allowed(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        self.configured_hosts.iter().any(|h| h == host)
            || self.announced.all().iter().any(|ip| ip == host)
    }

    async fn carry_out(&self, command: AgentCommand) {
        let AgentCommand::DeviceHttp {
            id,
            method,
            url,
            headers,
            body,
            timeout_ms,
        } = command;
        let result = self
            .device_http(&method, &url, headers, body, timeout_ms)
            .await;
        let result = result.unwrap_or_else(|error| CommandResult {
            status: None,
            headers: Vec::new(),
            body: LineBytes::Text(String::new()),
            error: Some(error),
        });
        let answer = self
            .http
            .post(self.url(&[&id.to_string()]))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .json(&result)
            .send()
            .await;
        if let Err(e) = answer {
            tracing::warn!(id, error = %e, "cannot report a command's result");
        }
    }

    async fn device_http(
        &self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: LineBytes,
        timeout_ms: u64,
    ) -> Result<CommandResult, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
        if !self.allowed(&url) {
            return Err(format!(
                "{} is not the address of a device of this agent",
                url.host_str().unwrap_or("?")
            ));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("bad method {method:?}"))?;
        let mut request = self
            .http
            .request(method, url)
            .timeout(Duration::from_millis(timeout_ms.clamp(100, 120_000)))
            .body(body.into_bytes());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                DEVICE_UNREACHABLE.to_owned()
            } else {
                e.to_string()
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        Ok(CommandResult {
            status: Some(status),
            headers,
            body: LineBytes::new(&bytes),
            error: None,
        })
    }
}

/// Polls until `stop`; each command runs in its own task (a scenario's
/// burst sends several requests at once).
pub(super) async fn run(runner: CommandRunner, stop: CancellationToken) {
    let runner = std::sync::Arc::new(runner);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => return,
            p = runner.poll() => p,
        };
        match polled {
            Ok(commands) => {
                backoff.reset();
                for command in commands {
                    let runner = runner.clone();
                    tokio::spawn(async move { runner.carry_out(command).await });
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "command poll failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}
