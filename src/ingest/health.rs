//! The health source: polls `GET {url}/api/health` of a registered device.
//! The device's address may change on every boot, so the IP from its last
//! `Got IP` line wins over the configured URL's host.

use std::time::{Duration, Instant};

use reqwest::Url;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{Backoff, DeviceEvent, SourceKind};
use crate::store::now_us;

#[derive(Debug, Clone)]
pub struct HealthSourceConfig {
    pub device_id: i64,
    /// Configured base URL (scheme, port and fallback host).
    pub base_url: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    /// `(user, pass)` for HTTP basic auth.
    pub auth: Option<(String, String)>,
}

/// The URL to poll: the configured one with its host replaced by the IP the
/// device last announced, or `http://<ip>` when only the IP is known.
pub fn health_url(base: Option<&str>, announced_ip: Option<&str>) -> Option<Url> {
    device_url(base, announced_ip, "/api/health")
}

/// `path` on a registered device, at the address it last announced.
pub fn device_url(base: Option<&str>, announced_ip: Option<&str>, path: &str) -> Option<Url> {
    let mut url = match (base, announced_ip) {
        (Some(base), _) => Url::parse(base).ok()?,
        (None, Some(ip)) => Url::parse(&format!("http://{ip}/")).ok()?,
        (None, None) => return None,
    };
    if let Some(ip) = announced_ip {
        url.set_host(Some(ip)).ok()?;
    }
    url.set_path(path);
    url.set_query(None);
    Some(url)
}

/// Runs until `shutdown` is cancelled or the event channel closes. A failed
/// poll is an event, never a crash; while the device is unreachable the
/// interval backs off up to a minute.
#[tracing::instrument(name = "health_source", skip_all, fields(device = config.device_id))]
pub async fn run_health_source(
    config: HealthSourceConfig,
    client: reqwest::Client,
    announced_ip: watch::Receiver<Option<String>>,
    out: mpsc::Sender<DeviceEvent>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(
        config.interval,
        Duration::from_secs(60).max(config.interval),
    );
    let mut online: Option<bool> = None;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let ip = announced_ip.borrow().clone();
        let Some(url) = health_url(config.base_url.as_deref(), ip.as_deref()) else {
            // No URL and no announced IP yet: nothing to poll.
            wait = config.interval;
            continue;
        };
        let Poll { event, ok, ts_us } = poll(&client, &config, &url).await;
        if out.send(event).await.is_err() {
            return;
        }
        if online != Some(ok) {
            online = Some(ok);
            let detail = if ok {
                format!("{url} answers")
            } else {
                format!("{url} unreachable")
            };
            let status = DeviceEvent::Status {
                device_id: config.device_id,
                ts_us,
                source: SourceKind::Health,
                online: ok,
                detail,
            };
            if out.send(status).await.is_err() {
                return;
            }
        }
        wait = if ok {
            backoff.reset();
            config.interval
        } else {
            backoff.next_delay()
        };
    }
}

/// One poll's outcome.
struct Poll {
    /// The health event, a failure included.
    event: DeviceEvent,
    /// Whether the device answered with a 2xx status.
    ok: bool,
    /// When the answer (or the failure) arrived.
    ts_us: i64,
}

/// One `GET` of the health URL, timed, as a health event.
async fn poll(client: &reqwest::Client, config: &HealthSourceConfig, url: &Url) -> Poll {
    let mut request = client.get(url.clone()).timeout(config.timeout);
    if let Some((user, pass)) = &config.auth {
        request = request.basic_auth(user, Some(pass));
    }
    let started = Instant::now();
    let result = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    let latency_ms = started.elapsed().as_millis() as i64;
    let ts_us = now_us();
    let (event, ok) = match result {
        Ok((status, body)) => (
            DeviceEvent::Health {
                device_id: config.device_id,
                ts_us,
                http_status: Some(i64::from(status)),
                latency_ms: Some(latency_ms),
                body: Some(body),
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
            },
            (200..300).contains(&status),
        ),
        Err(e) => (
            DeviceEvent::Health {
                device_id: config.device_id,
                ts_us,
                http_status: None,
                latency_ms: Some(latency_ms),
                body: None,
                error: Some(describe(&e, url)),
            },
            false,
        ),
    };
    Poll { event, ok, ts_us }
}

fn describe(e: &reqwest::Error, url: &Url) -> String {
    if e.is_timeout() {
        format!("GET {url} timed out")
    } else if e.is_connect() {
        format!("GET {url}: cannot connect")
    } else {
        format!("GET {url}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_ip_replaces_the_configured_host_but_keeps_the_port() {
        let url = health_url(Some("http://192.168.1.10:8081/"), Some("192.168.1.112"));
        assert_eq!(
            url.map(String::from).as_deref(),
            Some("http://192.168.1.112:8081/api/health")
        );
        let url = health_url(None, Some("10.0.0.7"));
        assert_eq!(
            url.map(String::from).as_deref(),
            Some("http://10.0.0.7/api/health")
        );
        assert!(health_url(None, None).is_none());
        let url = health_url(Some("http://desk.local"), None);
        assert_eq!(
            url.map(String::from).as_deref(),
            Some("http://desk.local/api/health")
        );
    }
}
