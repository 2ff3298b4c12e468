//! Agents (`heaplab agent`): the upload endpoint they feed the recorder
//! through (an `ingest` token), and their state for the dashboard.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::ingest::forward::{AgentUpload, UploadReceipt};
use crate::recorder::IntakeError;
use crate::store::{now_us, AgentRecord, DeviceAgent};
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

/// Largest upload: agents send at most a few megabytes at a time.
pub const UPLOAD_LIMIT_BYTES: usize = 32 * 1024 * 1024;

/// An agent that has not reported for this long is shown offline (an idle
/// agent reports every few seconds).
const OFFLINE_AFTER_US: i64 = 30_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list))
        .route(
            "/api/v1/agents/{name}/batches",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT_BYTES)),
        )
}

/// What the dashboard says about an agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub name: String,
    pub host: String,
    pub version: String,
    /// `connected`, `spooling` (connected, still sending what it kept
    /// while away) or `offline`.
    pub state: &'static str,
    /// Events in the agent's spool not yet sent, as of its last report.
    pub spooled_events: i64,
    pub last_seen_us: i64,
}

impl AgentView {
    fn new(name: String, host: String, version: String, spooled: i64, last_seen_us: i64) -> Self {
        let state = if now_us() - last_seen_us > OFFLINE_AFTER_US {
            "offline"
        } else if spooled > 0 {
            "spooling"
        } else {
            "connected"
        };
        AgentView {
            name,
            host,
            version,
            state,
            spooled_events: spooled,
            last_seen_us,
        }
    }

    pub fn of_agent(a: AgentRecord) -> Self {
        AgentView::new(a.name, a.host, a.version, a.spooled_events, a.last_seen_us)
    }

    pub fn of_device(d: DeviceAgent) -> Self {
        AgentView::new(d.agent, d.host, d.version, d.spooled_events, d.last_seen_us)
    }

    /// The agent of every device plugged into one, by device id.
    pub async fn by_device(state: &AppState) -> WebResult<HashMap<i64, AgentView>> {
        Ok(state
            .store
            .device_agents()
            .await?
            .into_iter()
            .map(|d| (d.device_id, AgentView::of_device(d)))
            .collect())
    }
}

#[tracing::instrument(skip_all)]
async fn list(State(state): State<AppState>) -> WebResult<Json<Vec<AgentView>>> {
    let agents = state.store.agents().await?;
    Ok(Json(agents.into_iter().map(AgentView::of_agent).collect()))
}

/// `POST /api/v1/agents/{name}/batches`: answers once every batch of the
/// upload is stored (a retried batch is stored once).
#[tracing::instrument(skip(state, upload))]
async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(upload): Json<AgentUpload>,
) -> WebResult<Json<UploadReceipt>> {
    let receipt = state
        .agents
        .receive(&name, upload)
        .await
        .map_err(|e| match e {
            IntakeError::Store(e) => e.into(),
            IntakeError::BadUpload(m) => WebError::BadRequest(m),
            e @ IntakeError::NotYetStored(_) => WebError::Unavailable(e.to_string()),
        })?;
    Ok(Json(receipt))
}
