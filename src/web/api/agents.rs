//! Agents (`heaplab agent`): the upload endpoint they feed the recorder
//! through (an `ingest` token), and their state for the dashboard.

use std::collections::HashMap;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::ingest::forward::{AgentCommand, AgentUpload, CommandResult, UploadReceipt};
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
        .route("/api/v1/agents/{name}/commands", get(commands))
        .route(
            "/api/v1/agents/{name}/commands/{id}",
            post(command_result).layer(DefaultBodyLimit::max(UPLOAD_LIMIT_BYTES)),
        )
}

/// The HTTP client for a device: the server's own, or one whose requests
/// the device's agent carries out (see `web/relay.rs`).
pub async fn http_for_device(state: &AppState, device_id: i64) -> WebResult<reqwest::Client> {
    let agent = state
        .store
        .device_agents()
        .await?
        .into_iter()
        .find(|d| d.device_id == device_id);
    match agent {
        None => Ok(state.http.clone()),
        Some(a) => state.relay.client_for(&a.agent).map_err(WebError::internal),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PollQuery {
    /// Longest the poll waits for a command, seconds [default 25, at most 60].
    wait_s: Option<u64>,
}

/// `GET /api/v1/agents/{name}/commands`: the agent's long poll.
#[tracing::instrument(skip(state))]
async fn commands(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PollQuery>,
) -> WebResult<Json<Vec<AgentCommand>>> {
    let wait = Duration::from_secs(q.wait_s.unwrap_or(25).min(60));
    Ok(Json(state.relay.next_commands(&name, wait).await))
}

/// `POST /api/v1/agents/{name}/commands/{id}`: what became of a command.
#[tracing::instrument(skip(state, result))]
async fn command_result(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, u64)>,
    Json(result): Json<CommandResult>,
) -> WebResult<StatusCode> {
    if state.relay.complete(&name, id, result) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(WebError::NotFound(format!(
            "command {id} of agent {name} (it timed out)"
        )))
    }
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
