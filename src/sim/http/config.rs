//! `GET|POST|DELETE /api/config` (device-api.md §4): passwords are never
//! shown, an empty one keeps the stored secret, `?no_reboot` (present with
//! any value) saves without the restart.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{fail, ok, schedule_reboot, success, AppState};
use crate::sim::settings::ConfigError;

pub(super) async fn get(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        let _ = d.serve_small(2_304);
        d.config().to_json()
    });
    ok(value)
}

pub(super) async fn post(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let result = shared.with_device(|d| d.save_config(&body));
    if let Err(e) = result {
        let status = match e {
            ConfigError::AuthInApMode => StatusCode::FORBIDDEN,
            ConfigError::InvalidJson | ConfigError::Invalid => StatusCode::BAD_REQUEST,
        };
        return fail(status, e);
    }
    if !query.contains_key("no_reboot") {
        shared.with_device(|d| d.api_log("Portal", "Rebooting device"));
        schedule_reboot(shared);
    }
    success("Configuration saved")
}

/// Clears `device_cfg` and reboots (macros and icons stay).
pub(super) async fn reset(State(shared): State<AppState>) -> Response {
    shared.with_device(|d| d.reset_config());
    schedule_reboot(shared);
    success("Configuration reset")
}
