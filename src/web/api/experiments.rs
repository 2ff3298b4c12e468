//! The experiments log over JSON.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::experiments::{self, ExperimentFilter, ExperimentView, ExportFormat};
use crate::store::ExperimentFields;
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/experiments", get(list).post(create))
        .route("/api/v1/experiments/export", get(export))
        .route("/api/v1/experiments/import", post(import))
        .route(
            "/api/v1/experiments/{id}",
            get(get_one).put(update).delete(remove),
        )
        .route("/api/v1/experiments/{id}/runs", post(link_run))
        .route("/api/v1/experiments/{id}/runs/{run}", delete(unlink_run))
        .route("/api/v1/experiments/{id}/groups", post(link_group))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub board: Option<String>,
    pub scenario: Option<String>,
    pub status: Option<String>,
}

impl From<ListQuery> for ExperimentFilter {
    fn from(q: ListQuery) -> Self {
        ExperimentFilter {
            board: q.board,
            scenario: q.scenario,
            status: q.status,
        }
    }
}

#[tracing::instrument(skip(state))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> WebResult<Json<Vec<ExperimentView>>> {
    Ok(Json(
        experiments::list(&state.store, &q.into(), &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state, fields))]
async fn create(
    State(state): State<AppState>,
    Json(fields): Json<ExperimentFields>,
) -> WebResult<(StatusCode, Json<ExperimentView>)> {
    experiments::validate(&fields)?;
    let created = state.store.create_experiment(&fields).await?;
    let view = experiments::view(&state.store, created.id, &state.config.criteria).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[tracing::instrument(skip(state))]
async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<ExperimentView>> {
    Ok(Json(
        experiments::view(&state.store, id, &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state, fields))]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(fields): Json<ExperimentFields>,
) -> WebResult<Json<ExperimentView>> {
    experiments::validate(&fields)?;
    state.store.update_experiment(id, &fields).await?;
    Ok(Json(
        experiments::view(&state.store, id, &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state))]
async fn remove(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<StatusCode> {
    state.store.delete_experiment(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunLink {
    run_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupLink {
    group_id: i64,
}

#[tracing::instrument(skip(state))]
async fn link_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(link): Json<RunLink>,
) -> WebResult<Json<ExperimentView>> {
    state.store.link_experiment_run(id, link.run_id).await?;
    Ok(Json(
        experiments::view(&state.store, id, &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state))]
async fn unlink_run(
    State(state): State<AppState>,
    Path((id, run)): Path<(i64, i64)>,
) -> WebResult<Json<ExperimentView>> {
    state.store.unlink_experiment_run(id, run).await?;
    Ok(Json(
        experiments::view(&state.store, id, &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state))]
async fn link_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(link): Json<GroupLink>,
) -> WebResult<Json<ExperimentView>> {
    state.store.link_experiment_group(id, link.group_id).await?;
    Ok(Json(
        experiments::view(&state.store, id, &state.config.criteria).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

#[tracing::instrument(skip(state))]
async fn export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> WebResult<Response> {
    let (format, mime, ext) = match q.format.as_deref().unwrap_or("markdown") {
        "markdown" | "md" => (ExportFormat::Markdown, "text/markdown; charset=utf-8", "md"),
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (ExportFormat::Json, "application/json", "json"),
        other => {
            return Err(WebError::BadRequest(format!(
                "format {other:?} is not markdown, csv or json"
            )))
        }
    };
    let views = experiments::list(
        &state.store,
        &ExperimentFilter::default(),
        &state.config.criteria,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"experiments.{ext}\""),
            ),
        ],
        experiments::export(&views, format),
    )
        .into_response())
}

/// Body: the Markdown text (the whole plan file, or a table).
#[tracing::instrument(skip(state, body))]
async fn import(
    State(state): State<AppState>,
    body: Bytes,
) -> WebResult<(StatusCode, Json<Value>)> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| WebError::BadRequest("the Markdown is not UTF-8".into()))?;
    let outcome = experiments::import_markdown(&state.store, text, &state.config.criteria).await?;
    Ok((StatusCode::CREATED, Json(json!(outcome))))
}
