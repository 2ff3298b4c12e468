//! Display control (device-api.md §7): screen, brightness, sleep, wake and
//! activity. Runtime state only.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{fail, ok, AppState};

/// `{"screen": id}` → the switch, or the device's 400/404.
pub(super) async fn screen(State(shared): State<AppState>, body: Bytes) -> Response {
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let Some(id) = doc.get("screen").and_then(Value::as_str) else {
        return fail(StatusCode::BAD_REQUEST, "Missing screen ID");
    };
    if id.is_empty() {
        return fail(StatusCode::BAD_REQUEST, "Invalid screen ID");
    }
    if !shared.with_device(|d| d.request_screen(id)) {
        return fail(StatusCode::NOT_FOUND, "Screen not found");
    }
    ok(json!({"success": true, "screen": id}))
}

/// `{"brightness": 0..100}` (clamped), applied at once.
pub(super) async fn brightness(State(shared): State<AppState>, body: Bytes) -> Response {
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let Some(value) = doc.get("brightness").and_then(Value::as_f64) else {
        return fail(StatusCode::BAD_REQUEST, "Missing brightness value");
    };
    let b = value.clamp(0.0, 100.0) as u8;
    let b = shared.with_device(|d| d.set_brightness(b, false));
    ok(json!({"success": true, "brightness": b}))
}

pub(super) async fn sleep_status(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        json!({
            "enabled": d.config().screen_saver_enabled,
            "state": d.sleep_state() as u8,
            "current_brightness": d.current_brightness(),
            "target_brightness": d.config().backlight_brightness,
            "seconds_until_sleep": d.seconds_until_sleep(),
        })
    });
    ok(value)
}

pub(super) async fn sleep(State(shared): State<AppState>) -> Response {
    shared.with_device(|d| d.sleep());
    ok(json!({"success": true}))
}

pub(super) async fn wake(State(shared): State<AppState>) -> Response {
    shared.with_device(|d| d.wake());
    ok(json!({"success": true}))
}

/// Resets the idle timer; wakes only with `wake=1` exactly.
pub(super) async fn activity(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let wake = query.get("wake").map(String::as_str) == Some("1");
    shared.with_device(|d| d.activity(wake));
    ok(json!({"success": true}))
}
