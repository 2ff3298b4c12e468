//! `POST /api/update` (device-api.md §9): a multipart `.bin` written to
//! the OTA partition, then a reboot ~500 ms after the reply.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;

use super::{fail, success, AppState};
use crate::sim::device::{OtaError, OTA_SLOT_BYTES};
use crate::sim::multipart;

/// The firmware restarts this long after queueing the reply.
const REBOOT_DELAY: Duration = Duration::from_millis(500);
/// Room for the multipart framing around the largest image.
const FRAMING_BYTES: usize = 64 * 1024;

fn status_of(e: &OtaError) -> StatusCode {
    match e {
        OtaError::NotBin | OtaError::TooLarge => StatusCode::BAD_REQUEST,
        OtaError::BeginFailed | OtaError::WriteFailed | OtaError::UpdateFailed(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

pub(super) async fn upload(State(shared): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // The size check uses Content-Length, before reading the body.
    if declared > u64::from(OTA_SLOT_BYTES) {
        return fail(StatusCode::BAD_REQUEST, OtaError::TooLarge);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let limit = OTA_SLOT_BYTES as usize + FRAMING_BYTES;
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), limit).await else {
        return fail(StatusCode::BAD_REQUEST, OtaError::TooLarge);
    };
    let (filename, image) = match multipart::first_named_file(&content_type, &bytes) {
        Ok(file) => file,
        Err(_) => return fail(StatusCode::BAD_REQUEST, OtaError::NotBin),
    };
    let result = shared.with_device(|d| {
        d.ota_precheck(&filename, declared.max(image.len() as u64))?;
        d.ota_update(&filename, &image)
    });
    match result {
        Ok(_) => {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REBOOT_DELAY).await;
                shared.with_device(|d| d.restart());
            });
            success("Update successful! Rebooting...")
        }
        Err(e) => fail(status_of(&e), e),
    }
}
