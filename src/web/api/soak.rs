//! Soak endpoints under `/api/v1` (documented in `docs/api.md` and
//! `docs/soak.md`).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use crate::soak::alerts::AlertsDocument;
use crate::soak::crashes::RunCrashes;
use crate::soak::symbolize::{check_elf, valid_version, ElfInfo, ELF_LIMIT_BYTES};
use crate::soak::timeline::Timeline;
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices/{id}/timeline", get(device_timeline))
        .route("/api/v1/runs/{id}/timeline", get(run_timeline))
        .route("/api/v1/runs/{id}/crashes", get(crashes))
        .route("/api/v1/firmware", get(firmware_list))
        .route(
            "/api/v1/firmware/{version}/elf",
            put(put_elf)
                .delete(delete_elf)
                .layer(DefaultBodyLimit::max(ELF_LIMIT_BYTES)),
        )
        .route("/api/v1/alerts", get(alerts))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinceQuery {
    /// RFC 3339 time or Unix seconds.
    since: Option<String>,
}

async fn device_timeline(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<SinceQuery>,
) -> WebResult<Json<Timeline>> {
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            crate::harness::parse_ts(&serde_json::Value::String(s.to_owned()))
                .ok_or_else(|| WebError::BadRequest(format!("since {s:?} is not a time")))?,
        ),
    };
    Ok(Json(Timeline::for_device(&state.store, id, since).await?))
}

async fn run_timeline(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<Timeline>> {
    Ok(Json(Timeline::for_run(&state.store, id).await?))
}

async fn crashes(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<RunCrashes>> {
    Ok(Json(RunCrashes::load(&state.store, id).await?))
}

async fn firmware_list(State(state): State<AppState>) -> WebResult<Json<Vec<ElfInfo>>> {
    Ok(Json(state.store.firmware_elves().await?))
}

fn version_param(version: &str) -> WebResult<String> {
    let v = crate::store::normalize_version(version);
    if !valid_version(&v) {
        return Err(WebError::BadRequest(format!(
            "firmware version {version:?} must be 1 to 64 of A-Z a-z 0-9 . _ + -"
        )));
    }
    Ok(v)
}

/// `PUT /api/v1/firmware/{version}/elf` with the ELF as the raw body.
async fn put_elf(
    State(state): State<AppState>,
    Path(version): Path<String>,
    body: Bytes,
) -> WebResult<Json<ElfInfo>> {
    let version = version_param(&version)?;
    if body.is_empty() {
        return Err(WebError::BadRequest("the body must be the ELF file".into()));
    }
    let data = body.clone();
    tokio::task::spawn_blocking(move || check_elf(&data))
        .await?
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    Ok(Json(state.store.put_firmware_elf(&version, &body).await?))
}

async fn delete_elf(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> WebResult<axum::http::StatusCode> {
    let version = version_param(&version)?;
    state.store.delete_firmware_elf(&version).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<i64>,
}

async fn alerts(
    State(state): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> WebResult<Json<AlertsDocument>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    Ok(Json(
        AlertsDocument::load(&state.store, &state.config.alerts, limit).await?,
    ))
}
