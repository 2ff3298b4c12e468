//! Devices: register, edit, remove, status, soak, reboot.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ingest::device_url;
use crate::recorder::{DeviceLive, RecorderCommand};
use crate::store::{DeviceRecord, DeviceSpec, RunKind, RunStatus};
use crate::web::api::agents::AgentView;
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices", get(list).post(create))
        .route(
            "/api/v1/devices/{id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/devices/{id}/status", get(status))
        .route(
            "/api/v1/devices/{id}/soak",
            post(start_soak).delete(stop_soak),
        )
        .route("/api/v1/devices/{id}/reboot", post(reboot))
}

/// A device with its live state.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    #[serde(flatten)]
    pub device: DeviceRecord,
    pub online: bool,
    pub live: DeviceLive,
    /// The agent the device is plugged into, when it is not this server's
    /// own: its host and state.
    pub agent: Option<AgentView>,
}

fn view(state: &AppState, device: DeviceRecord) -> DeviceView {
    view_with(state, device, None)
}

fn view_with(state: &AppState, device: DeviceRecord, agent: Option<AgentView>) -> DeviceView {
    let live = state.hub.device(device.id).unwrap_or(DeviceLive {
        device_id: device.id,
        ..Default::default()
    });
    DeviceView {
        online: live.online(),
        device,
        live,
        agent,
    }
}

#[tracing::instrument(skip_all)]
async fn list(State(state): State<AppState>) -> WebResult<Json<Vec<DeviceView>>> {
    let devices = state.store.devices().await?;
    let mut agents = AgentView::by_device(&state).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| {
                let agent = agents.remove(&d.id);
                view_with(&state, d, agent)
            })
            .collect(),
    ))
}

#[tracing::instrument(skip_all, fields(name = %spec.name))]
async fn create(
    State(state): State<AppState>,
    Json(spec): Json<DeviceSpec>,
) -> WebResult<(StatusCode, Json<DeviceView>)> {
    spec.validate()?;
    let device = state.store.create_device(&spec).await?;
    state.sources.start(&device);
    Ok((StatusCode::CREATED, Json(view(&state, device))))
}

#[tracing::instrument(skip(state))]
async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<DeviceView>> {
    let device = state.store.device(id).await?;
    let agent = AgentView::by_device(&state).await?.remove(&id);
    Ok(Json(view_with(&state, device, agent)))
}

#[tracing::instrument(skip(state, spec))]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(spec): Json<DeviceSpec>,
) -> WebResult<Json<DeviceView>> {
    spec.validate()?;
    let device = state.store.update_device(id, &spec).await?;
    state.sources.restart(&device).await;
    Ok(Json(view(&state, device)))
}

#[tracing::instrument(skip(state))]
async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<StatusCode> {
    state.store.device(id).await?;
    state.sources.stop(id).await;
    state
        .recorder
        .command(RecorderCommand::Forget { device_id: id })
        .await?;
    state.recorder.flush().await;
    state.store.delete_device(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip(state))]
async fn status(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<Json<DeviceView>> {
    get_one(State(state), Path(id)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SoakRequest {
    #[serde(default)]
    label: Option<String>,
}

#[tracing::instrument(skip(state, body))]
async fn start_soak(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Option<Json<SoakRequest>>,
) -> WebResult<(StatusCode, Json<Value>)> {
    state.store.device(id).await?;
    let label = body.and_then(|Json(b)| b.label);
    let run_id = state
        .recorder
        .start_run(id, RunKind::Soak, Some("soak".into()), label)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"run_id": run_id}))))
}

#[tracing::instrument(skip(state))]
async fn stop_soak(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<Json<Value>> {
    state.store.device(id).await?;
    if state.hub.device(id).and_then(|d| d.active_kind) != Some(RunKind::Soak) {
        return Err(WebError::Conflict(format!(
            "device {id} has no soak running"
        )));
    }
    let ended = state.recorder.end_run(id, RunStatus::Completed).await?;
    Ok(Json(json!({"run_id": ended})))
}

/// Asks the device to reboot (`POST /api/reboot`). The device may reset
/// before it answers, so this only sends and does not wait for a reply.
#[tracing::instrument(skip(state))]
async fn reboot(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<(StatusCode, Json<Value>)> {
    let device = state.store.device(id).await?;
    let ip = state.hub.device(id).and_then(|d| d.ip);
    let url = device_url(device.url.as_deref(), ip.as_deref(), "/api/reboot").ok_or_else(|| {
        WebError::Conflict(format!(
            "device {} has no URL and has not announced an IP",
            device.name
        ))
    })?;
    let mut request = crate::web::api::agents::http_for_device(&state, id)
        .await?
        .post(url.clone())
        .timeout(std::time::Duration::from_secs(2));
    if let Some((user, pass)) = device.auth.as_deref().and_then(|a| a.split_once(':')) {
        request = request.basic_auth(user, Some(pass));
    }
    tokio::spawn(async move {
        let _ = request.send().await;
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sent": format!("POST {url}")})),
    ))
}
