//! The `http` step and the one request path every step uses to talk to the
//! device, so each request is recorded as an `http` event the same way
//! whichever step sent it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::body::BodySource;
use crate::ingest::device_url;
use crate::scenario::model::{substitute, ExpectStatus, Num};
use crate::scenario::runner::Runner;
use crate::store::EventKind;

/// One HTTP request.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: String,
}

/// A page load `--no-pages` skips.
pub(super) fn is_page(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    path == "/" || path.ends_with(".html")
}

pub(super) fn is_health(path: &str) -> bool {
    path.split('?').next() == Some("/api/health")
}

/// Whether `status` passes: `expect_status` when given, else any 2xx.
pub(super) fn status_ok(
    expect: Option<&ExpectStatus>,
    status: u16,
    params: &BTreeMap<String, String>,
) -> Result<bool, String> {
    match expect {
        Some(e) => e.accepts(status, params),
        None => Ok((200..300).contains(&status)),
    }
}

impl Runner<'_> {
    /// `path` on the device: its configured URL, else the IP it announced.
    pub(in crate::scenario) fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        let ip = self
            .ctx
            .recorder
            .hub()
            .device(self.device.id)
            .and_then(|d| d.ip);
        let base = device_url(self.device.url.as_deref(), ip.as_deref(), "/").ok_or_else(|| {
            format!(
                "device {} has no URL and has not announced an IP",
                self.device.name
            )
        })?;
        base.join(path)
            .map_err(|e| format!("bad path {path:?}: {e}"))
    }

    /// One request, recorded as an `http` event.
    pub(super) async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, String)>,
        timeout: Duration,
    ) -> Result<Response, String> {
        let url = self.url(path)?;
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("bad HTTP method {method:?}"))?;
        let mut req = self
            .ctx
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout);
        if let Some((user, pass)) = &self.auth {
            req = req.basic_auth(user, Some(pass));
        }
        if let Some((bytes, content_type)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let started = Instant::now();
        let result = async {
            let r = req.send().await?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>(Response { status, body })
        }
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let (status, error) = match &result {
            Ok(r) => (Some(r.status), None),
            Err(e) => (None, Some(e.to_string())),
        };
        self.note(
            EventKind::Http,
            format!(
                "{method} {path} → {}",
                status.map_or_else(|| "error".to_owned(), |s| s.to_string())
            ),
            json!({"method": method.as_str(), "path": path, "status": status, "ms": ms, "error": error}),
        )
        .await;
        result.map_err(|e| {
            if e.is_timeout() {
                format!("{method} {path} timed out after {} s", timeout.as_secs())
            } else {
                format!("{method} {path}: {e}")
            }
        })
    }

    /// One request; its response body is kept under the step's name for
    /// later `body_from` and `when`.
    pub(super) async fn http(
        &mut self,
        name: &str,
        method: &str,
        path: &str,
        body: BodySource<'_>,
        expect_status: Option<&ExpectStatus>,
        timeout: Option<&Num>,
    ) -> Result<String, String> {
        let p = &self.params.clone();
        let method = substitute(method, p)?;
        let path = substitute(path, p)?;
        let timeout = match timeout {
            Some(t) => Duration::from_secs_f64(t.resolve_secs(p)?.max(0.0)),
            None => HTTP_TIMEOUT,
        };
        let payload = body.payload(&self.responses, p)?;
        let sent = payload.as_ref().map_or(0, |b| b.0.len());
        let r = self.request(&method, &path, payload, timeout).await?;
        let ok = status_ok(expect_status, r.status, p)?;
        let detail = format!(
            "{method} {path} → {} ({sent} B sent, {} B received)",
            r.status,
            r.body.len()
        );
        self.responses.insert(name.to_owned(), r.body);
        if ok {
            Ok(detail)
        } else {
            Err(format!("{detail}: unexpected status"))
        }
    }
}
