//! `GET|POST /api/macros` (device-api.md §5): 8 screens × 16 buttons; a
//! POST is checked in the firmware's order and answered with its messages.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{fail, ok, AppState};
use crate::sim::device::MacroSaveError;

pub(super) async fn get(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        let _ = d.serve_small(4_096);
        d.macros().to_json()
    });
    ok(value)
}

pub(super) async fn post(State(shared): State<AppState>, body: Bytes) -> Response {
    match shared.with_device(|d| d.save_macros(&body)) {
        // The device's reply ends with a newline.
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"success\":true}\n",
        )
            .into_response(),
        Err(e) => {
            let status = match e {
                MacroSaveError::Invalid(_) => StatusCode::BAD_REQUEST,
                MacroSaveError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                MacroSaveError::OutOfMemory | MacroSaveError::SaveFailed => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            fail(status, e)
        }
    }
}
