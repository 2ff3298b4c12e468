//! The scenario API: built-ins, starting a scenario on a device (a task in
//! the server; progress goes to the device's live stream as `event`s), and
//! run groups with their statistics.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::scenario::groups::{self, GroupDocument};
use crate::scenario::model::{self, Scenario, BUILTINS};
use crate::scenario::runner::{run_scenario, Progress, RunContext, RunOptions};
use crate::store::RunKind;
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scenarios", get(list))
        .route("/api/v1/devices/{id}/scenario", post(start))
        .route("/api/v1/groups", get(list_groups))
        .route("/api/v1/groups/{id}", get(get_group))
}

async fn list() -> WebResult<Json<Vec<Value>>> {
    let mut out = Vec::new();
    for (name, text) in BUILTINS {
        let s = Scenario::parse(name, text)?;
        out.push(json!({
            "name": name, "title": s.title, "description": s.description,
            "params": s.params, "steps": s.steps.len(), "file": text,
        }));
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    /// A built-in name (`s2`) …
    #[serde(default)]
    scenario: Option<String>,
    /// … or a whole scenario file (TOML text).
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    options: RunOptions,
}

#[tracing::instrument(skip(state, body))]
async fn start(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<StartRequest>,
) -> WebResult<(StatusCode, Json<Value>)> {
    let device = state.store.device(id).await?;
    let scenario = match (&body.scenario, &body.file) {
        (Some(name), None) => {
            let text = model::builtin(name).ok_or_else(|| {
                WebError::BadRequest(format!(
                    "no built-in scenario {name:?} (s1, s2, s3, s4, s5, s6, prompt); send a file instead"
                ))
            })?;
            Scenario::parse(&format!("builtin {name}"), text)?
        }
        (None, Some(text)) => Scenario::parse("request", text)?,
        _ => {
            return Err(WebError::BadRequest(
                "give exactly one of `scenario` (a built-in name) and `file` (TOML text)".into(),
            ))
        }
    };
    if state.hub.device(id).and_then(|d| d.active_kind) == Some(RunKind::Scenario) {
        return Err(WebError::Conflict(format!(
            "device {} is already running a scenario",
            device.name
        )));
    }
    let mut options = body.options;
    // Nobody is at a terminal: pauses become notes.
    options.non_interactive = true;
    let ctx = RunContext {
        store: state.store.clone(),
        recorder: state.recorder.clone(),
        http: crate::web::api::agents::http_for_device(&state, id).await?,
        criteria: state.config.criteria.clone(),
    };
    let (tx, rx) = oneshot::channel::<i64>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let observer: crate::scenario::runner::Observer = Arc::new(move |p: &Progress| {
        if let Progress::Started { run_id, .. } = p {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(*run_id);
            }
        }
    });
    let name = scenario.name.clone();
    tokio::spawn(async move {
        match run_scenario(&ctx, &device, &scenario, &options, Some(observer)).await {
            Ok(run) => tracing::info!(run = run.run_id, pass = run.pass(), "scenario finished"),
            Err(e) => tracing::warn!(error = %e, "scenario could not run"),
        }
    });
    let run_id = rx.await.map_err(|_| {
        WebError::Conflict(format!(
            "scenario {name} could not start (see the server log)"
        ))
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run_id": run_id, "scenario": name})),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupQuery {
    limit: Option<i64>,
}

async fn list_groups(
    State(state): State<AppState>,
    Query(q): Query<GroupQuery>,
) -> WebResult<Json<Vec<groups::GroupRecord>>> {
    Ok(Json(
        groups::groups(&state.store, q.limit.unwrap_or(100).clamp(1, 1000)).await?,
    ))
}

async fn get_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<GroupDocument>> {
    Ok(Json(
        groups::group_document(&state.store, id, &state.config.criteria).await?,
    ))
}
