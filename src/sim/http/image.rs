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
