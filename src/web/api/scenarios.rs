//! The scenario API: built-ins, starting a scenario on a device (a task in
//! the server; progress goes to the device's live stream as `event`s), and
//! run groups with their statistics.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::scenario::groups::{self, GroupDocument};
use crate::scenario::launch;
use crate::scenario::model::{self, Scenario, BUILTINS};
use crate::scenario::runner::{RunContext, RunOptions};
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scenarios", get(list))
        .route("/api/v1/devices/{id}/scenario", post(start))
        .route("/api/v1/groups", get(list_groups).post(create_group))
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
    let ctx = RunContext {
        store: state.store.clone(),
        recorder: state.recorder.clone(),
        http: crate::web::api::agents::http_for_device(&state, id).await?,
        criteria: state.config.criteria.clone(),
    };
    let launched = launch(ctx, device, scenario, body.options).await?;
    let (run_id, name) = (launched.run_id, launched.scenario);
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoiseQuery {
    /// The baseline (`g3`, `12,13,14`); the previous group of the same
    /// scenario when absent.
    vs: Option<String>,
}

/// A group, its statistics, and its noise call: what `/groups/{id}` shows.
#[derive(Debug, Serialize)]
struct GroupWithCall {
    #[serde(flatten)]
    document: GroupDocument,
    /// `null` when no baseline was named and no older group ran the
    /// same scenario.
    noise_call: Option<groups::NoiseCall>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    runs: Vec<i64>,
    scenario: Option<String>,
    label: Option<String>,
    device_id: Option<i64>,
}

/// `POST /api/v1/groups`: runs recorded apart (a repeat done by hand, or
/// runs picked after the fact) kept as one group, to judge and log together.
#[tracing::instrument(skip(state))]
async fn create_group(
    State(state): State<AppState>,
    Json(g): Json<NewGroup>,
) -> WebResult<(StatusCode, Json<GroupWithCall>)> {
    if g.runs.is_empty() || g.runs.len() > 1000 {
        return Err(WebError::BadRequest("a group needs 1 to 1000 runs".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = g.runs.iter().find(|r| !seen.insert(**r)) {
        return Err(WebError::BadRequest(format!("run {dup} is listed twice")));
    }
    for run in &g.runs {
        state.store.run(*run).await?;
    }
    if let Some(device) = g.device_id {
        state.store.device(device).await?;
    }
    let label = g.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    if label.is_some_and(|l| l.chars().count() > 200) {
        return Err(WebError::BadRequest("label is over 200 characters".into()));
    }
    let id = groups::create_group(
        &state.store,
        g.scenario.as_deref(),
        label,
        g.device_id,
        &g.runs,
    )
    .await?;
    let Json(doc) = get_group(State(state), Path(id), Query(NoiseQuery::default())).await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

async fn get_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<NoiseQuery>,
) -> WebResult<Json<GroupWithCall>> {
    let criteria = &state.config.criteria;
    let group = groups::group(&state.store, id).await?;
    let docs = groups::load_docs(&state.store, &group.runs, criteria).await?;
    let noise_call =
        groups::noise_call(&state.store, &group, &docs, q.vs.as_deref(), criteria).await?;
    Ok(Json(GroupWithCall {
        document: groups::document_of(group, &docs),
        noise_call,
    }))
}
