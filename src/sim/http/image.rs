//! The image API (device-api.md §8): a multipart upload of one baseline
//! 360×360 JPEG, strip uploads, and dismissal. The upload is answered once
//! it is queued; the decode follows in the "main loop" (a task a moment
//! later), and the display timeout dismisses the image unless a newer one
//! replaced it.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{fail, ok, success, AppState};
use crate::sim::device::{ImageFault, StripRequest};
use crate::sim::jpeg::PANEL_SIDE;
use crate::sim::multipart;

/// The board's limit on the whole multipart request.
pub const MAX_UPLOAD_BYTES: u64 = 300 * 1024;
/// Display time when the request names none.
const DEFAULT_TIMEOUT_S: u64 = 10;
/// The longest display time a full upload may ask for.
const MAX_TIMEOUT_S: u64 = 86_400;
/// When the main loop gets to a queued image.
const DECODE_DELAY: Duration = Duration::from_millis(20);

fn status_of(fault: &ImageFault) -> StatusCode {
    match fault {
        ImageFault::Busy => StatusCode::CONFLICT,
        ImageFault::InsufficientInternal
        | ImageFault::AllocFailed
        | ImageFault::StripOutOfMemory => StatusCode::INSUFFICIENT_STORAGE,
        ImageFault::Preflight(_) | ImageFault::StripIndex | ImageFault::StripData => {
            StatusCode::BAD_REQUEST
        }
    }
}

/// `timeout` in seconds: default 10, `0` shows until dismissed.
fn timeout_of(query: &HashMap<String, String>, cap: Option<u64>) -> u64 {
    let t = query
        .get("timeout")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT_S);
    cap.map_or(t, |c| t.min(c))
}

pub(super) async fn upload(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(body.len() as u64);
    if declared > MAX_UPLOAD_BYTES {
        return fail(StatusCode::BAD_REQUEST, "Image too large");
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let jpeg = match multipart::first_file(content_type, &body) {
        Ok(bytes) => bytes,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    let timeout = timeout_of(&query, Some(MAX_TIMEOUT_S));
    match shared.with_device(|d| d.upload_image(&jpeg)) {
        Ok(generation) => {
            schedule_display(shared, generation, timeout, true);
            success(&format!("Image queued for display ({timeout}s timeout)"))
        }
        Err(e) => fail(status_of(&e), e),
    }
}

/// Decode (for a full upload) now-ish, dismiss after `timeout` seconds.
fn schedule_display(shared: AppState, generation: u64, timeout: u64, decode: bool) {
    tokio::spawn(async move {
        if decode {
            tokio::time::sleep(DECODE_DELAY).await;
            shared.with_device(|d| d.process_pending_image());
        }
        if timeout > 0 {
            tokio::time::sleep(Duration::from_secs(timeout)).await;
            shared.with_device(|d| d.dismiss_image(Some(generation)));
        }
    });
}

pub(super) async fn dismiss(State(shared): State<AppState>) -> Response {
    shared.with_device(|d| d.dismiss_image(None));
    success("Image dismiss queued")
}

/// The four required query numbers, or `None` when one is missing.
fn strip_request(query: &HashMap<String, String>) -> Option<(u32, u32, u32, u32)> {
    let num = |k: &str| query.get(k).and_then(|v| v.trim().parse::<u32>().ok());
    Some((
        num("strip_index")?,
        num("strip_count")?,
        num("width")?,
        num("height")?,
    ))
}

pub(super) async fn strip(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some((index, count, width, height)) = strip_request(&query) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Missing required parameters: strip_index, strip_count, width, height",
        );
    };
    let side = 1..=u32::from(PANEL_SIDE);
    if !side.contains(&width) || !side.contains(&height) {
        return fail(StatusCode::BAD_REQUEST, "Invalid image dimensions");
    }
    if index >= count {
        return fail(StatusCode::BAD_REQUEST, "Invalid strip index");
    }
    let req = StripRequest {
        index,
        count,
        width: width as u16,
        height: height as u16,
        timeout_s: timeout_of(&query, None),
    };
    match shared.with_device(|d| d.upload_strip(req, &body)) {
        Ok(done) => {
            if let Some((generation, timeout)) = done {
                schedule_display(shared, generation, timeout, false);
            }
            ok(
                json!({"success": true, "strip_index": index, "strip_count": count,
                      "complete": done.is_some()}),
            )
        }
        Err(e) => fail(status_of(&e), e),
    }
}

/// `image_url`'s body limit and URL limit (device-api.md §8).
const URL_BODY_LIMIT: usize = 1024;
const URL_MAX_LEN: usize = 256;
/// The download's timeout when `timeout` is 0, and its ceiling.
const URL_DEFAULT_DOWNLOAD_S: u64 = 15;
const URL_MAX_DOWNLOAD_S: u64 = 30;

/// `POST /api/display/image_url[?timeout=s]`: checks the body, queues the
/// job and answers; the "main loop" (a task) downloads, decodes, shows.
pub(super) async fn image_url(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if body.len() > URL_BODY_LIMIT {
        return fail(StatusCode::PAYLOAD_TOO_LARGE, "Body too large");
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let Some(url) = doc
        .get("url")
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
    else {
        return fail(StatusCode::BAD_REQUEST, "Missing url");
    };
    if url.len() >= URL_MAX_LEN {
        return fail(StatusCode::BAD_REQUEST, "URL too long");
    }
    if !shared.with_device(|d| d.queue_image_url()) {
        return fail(StatusCode::CONFLICT, "Busy");
    }
    // One number, two uses: download timeout (0 → 15 s, ≤ 30 s) and
    // display time (0 → the 10 s default).
    let t = timeout_of(&query, None);
    let download = if t == 0 {
        URL_DEFAULT_DOWNLOAD_S
    } else {
        t.min(URL_MAX_DOWNLOAD_S)
    };
    let display = if t == 0 {
        DEFAULT_TIMEOUT_S
    } else {
        t.min(MAX_TIMEOUT_S)
    };
    let url = url.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(DECODE_DELAY).await;
        shared.with_device(|d| d.image_url_download_begin(&url));
        let body = download_jpeg(&url, Duration::from_secs(download)).await;
        if let Some(generation) = shared.with_device(|d| d.image_url_download_end(body)) {
            schedule_display(shared, generation, display, true);
        }
    });
    success("Image URL queued")
}

/// The device's download rules: HTTP 200, a Content-Length, no chunked
/// encoding, at most 300 KiB, JPEG magic. (HTTPS is accepted without
/// checking the certificate on the device; the twin checks it.)
async fn download_jpeg(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("unsupported URL scheme".into());
    }
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    let chunked = response
        .headers()
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let Some(length) = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| !chunked)
    else {
        return Err("no Content-Length (chunked replies are not supported)".into());
    };
    if length > MAX_UPLOAD_BYTES {
        return Err(format!("too large ({length} bytes)"));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !body.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err("not a JPEG".into());
    }
    Ok(body.to_vec())
}
