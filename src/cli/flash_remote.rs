//! `heaplab flash --server URL`: the checked files go to the central
//! server's `POST /api/v1/devices/{id}/flash`, which uploads them to the
//! device (through the device's agent when it is plugged into one), waits
//! for the new version and records the build in the central store. The
//! answer is the same outcome the local path prints.

use std::time::Duration;

use super::flash::{FlashArgs, ProgressBar};
use super::CliError;
use crate::flash::{Firmware, FlashOutcome, Form};

const USER_AGENT: &str = concat!("heaplab-flash/", env!("CARGO_PKG_VERSION"));
/// Beyond the device's own wait: time for the upload itself.
const UPLOAD_ALLOWANCE: Duration = Duration::from_secs(300);

fn failed(message: impl Into<String>) -> CliError {
    CliError::Failed(message.into())
}

/// `server` with `segments` appended to its path.
fn endpoint(server: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = server.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The server's `{detail}` of a refusal, or its status.
async fn refusal(server: &reqwest::Url, response: reqwest::Response) -> CliError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or(body);
    let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
        " (give a write token: --token or HEAPLAB_TOKEN)"
    } else {
        ""
    };
    failed(format!("{server} answered {status}: {detail}{hint}"))
}

pub(super) async fn run(
    args: &FlashArgs,
    server: &reqwest::Url,
    firmware: &Firmware,
) -> Result<FlashOutcome, CliError> {
    let client = match &args.ca_file {
        Some(path) => {
            crate::tls::client_trusting(path, USER_AGENT).map_err(|e| failed(e.to_string()))?
        }
        None => crate::tls::client_builder()
            .user_agent(USER_AGENT)
            .build()?,
    };
    let auth = |request: reqwest::RequestBuilder| match &args.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let unreachable = |e: reqwest::Error| failed(format!("cannot reach {server}: {e}"));

    let response = auth(client.get(endpoint(server, &["api", "v1", "devices"])))
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refusal(server, response).await);
    }
    let devices: Vec<serde_json::Value> = response.json().await?;
    let name = args
        .device
        .as_deref()
        .ok_or_else(|| failed("--device NAME is needed with --server"))?;
    let id = devices
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["id"].as_i64())
        .ok_or_else(|| failed(format!("{server} has no device {name:?}")))?;

    let mut form = Form::new().file("image", "firmware.bin", &firmware.image);
    if let Some(elf) = &firmware.elf {
        form = form.file("elf", "firmware.elf", elf);
    }
    if let Some(version) = &args.expect_version {
        form = form.text("expect_version", version);
    }
    form = form.text("timeout_s", &args.timeout.to_string());
    eprintln!("uploading to {server} for device #{id}");
    let content_type = form.content_type();
    let (body, len) = form.into_body(ProgressBar::progress());
    let url = endpoint(server, &["api", "v1", "devices", &id.to_string(), "flash"]);
    let response = auth(client.post(url))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header(reqwest::header::CONTENT_LENGTH, len)
        .timeout(Duration::from_secs(args.timeout) + UPLOAD_ALLOWANCE)
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refusal(server, response).await);
    }
    Ok(response.json().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let root: reqwest::Url = "http://lab:8080".parse().expect("url");
        assert_eq!(
            endpoint(&root, &["api", "v1", "devices"]).as_str(),
            "http://lab:8080/api/v1/devices"
        );
        let prefixed: reqwest::Url = "https://lab/heaplab/".parse().expect("url");
        assert_eq!(
            endpoint(&prefixed, &["api", "v1", "devices", "3", "flash"]).as_str(),
            "https://lab/heaplab/api/v1/devices/3/flash"
        );
    }
}
