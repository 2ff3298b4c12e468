//! `/api/icons` (compiled mask icons), `/api/icons/installed`,
//! `/api/icons/install?id=` and `/api/icons/gc` (device-api.md §6).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{fail, ok, AppState};
use crate::sim::device::{GcOutcome, InstallError};
use crate::sim::icons::{self, BUILTIN_ICONS};

/// The compiled registry; no `success` key, like the device.
pub(super) async fn list(State(shared): State<AppState>) -> Response {
    let _ = shared.with_device(|d| d.serve_small(2_048));
    let icons: Vec<Value> = BUILTIN_ICONS
        .iter()
        .map(|id| json!({"id": id, "kind": "mask"}))
        .collect();
    ok(json!({"icons": icons}))
}

pub(super) async fn installed(State(shared): State<AppState>) -> Response {
    let icons: Vec<Value> = shared.with_device(|d| {
        d.installed_icons()
            .iter()
            .map(|(id, _)| json!({"id": id, "kind": "color"}))
            .collect()
    });
    ok(json!({"success": true, "source": "ffat", "icons": icons}))
}

pub(super) async fn install(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let id = match icons::check_id(query.get("id").map(String::as_str)) {
        Ok(id) => id.to_owned(),
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    match shared.with_device(|d| d.install_icon(&id, &body)) {
        Ok(()) => ok(json!({"success": true})),
        Err(e @ InstallError::Invalid(_)) => fail(StatusCode::BAD_REQUEST, e),
        Err(e @ InstallError::OutOfMemory) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub(super) async fn gc(State(shared): State<AppState>) -> Response {
    match shared.with_device(|d| d.icons_gc()) {
        GcOutcome::Collected {
            deleted,
            bytes_freed,
        } => ok(json!({"success": true, "deleted": deleted, "bytes_freed": bytes_freed})),
        // The real device resets mid-request; the closest an HTTP server
        // can get is an error with no body.
        GcOutcome::Crashed => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header(header::CONNECTION, "close")
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}
