//! Runs and their content, and comparisons.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::report::{self, ComparisonDocument, RunDocument};
use crate::store::{EventKind, PageRequest, RunFilter, RunRecord, RunStatus};
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runs", get(list))
        .route("/api/v1/runs/{id}", get(get_one).delete(delete))
        .route("/api/v1/runs/{id}/snapshots", get(snapshots))
        .route("/api/v1/runs/{id}/health", get(health))
        .route("/api/v1/runs/{id}/events", get(events))
        .route("/api/v1/runs/{id}/serial", get(serial))
        .route("/api/v1/compare", get(compare))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    pub device: Option<i64>,
    pub scenario: Option<String>,
    pub status: Option<String>,
    /// RFC 3339 time or Unix seconds.
    pub since: Option<String>,
    /// Runs started before this time (RFC 3339 or Unix seconds).
    pub until: Option<String>,
    /// Text in the label, scenario, device name or firmware version.
    pub q: Option<String>,
    pub limit: Option<i64>,
    /// Keyset cursor: the last run id already seen.
    pub after: Option<i64>,
}

impl RunQuery {
    pub fn filter(&self) -> WebResult<RunFilter> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("active") => Some(RunStatus::Active),
            Some("completed") => Some(RunStatus::Completed),
            Some("interrupted") => Some(RunStatus::Interrupted),
            Some("failed") => Some(RunStatus::Failed),
            Some(other) => {
                return Err(WebError::BadRequest(format!(
                    "status {other:?} is not one of active, completed, interrupted, failed"
                )))
            }
        };
        let instant = |name: &str, v: &Option<String>| -> WebResult<Option<i64>> {
            match v.as_deref().filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => crate::harness::parse_ts(&serde_json::Value::String(s.to_owned()))
                    .map(Some)
                    .ok_or_else(|| WebError::BadRequest(format!("{name} {s:?} is not a time"))),
            }
        };
        Ok(RunFilter {
            device_id: self.device,
            scenario: self.scenario.clone().filter(|s| !s.is_empty()),
            status,
            since_us: instant("since", &self.since)?,
            until_us: instant("until", &self.until)?,
            text: self.q.clone().filter(|s| !s.is_empty()),
            limit: Some(self.limit.unwrap_or(200).clamp(1, 5000)),
            after: self.after,
        })
    }
}

#[tracing::instrument(skip(state))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<RunQuery>,
) -> WebResult<Json<Vec<RunRecord>>> {
    Ok(Json(state.store.runs(&q.filter()?).await?))
}

#[tracing::instrument(skip(state))]
async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Json<RunDocument>> {
    Ok(Json(
        RunDocument::load(&state.store, id, &state.config.criteria).await?,
    ))
}

#[tracing::instrument(skip(state))]
async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<StatusCode> {
    let run = state.store.run(id).await?;
    if run.status == RunStatus::Active {
        return Err(WebError::Conflict(format!(
            "run {id} is still recording; stop it (or remove its device) first"
        )));
    }
    state.store.delete_run(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?after=SEQ&limit=N`: keyset paging over a run's rows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// The last `seq` already seen (0 or absent: from the start).
    after: Option<i64>,
    /// Rows per page [default 1000, at most 10000].
    limit: Option<i64>,
    /// Comma-separated event kinds (events only).
    kind: Option<String>,
}

const DEFAULT_PAGE: i64 = 1000;
const MAX_PAGE: i64 = 10_000;

impl PageQuery {
    fn page(&self) -> WebResult<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(WebError::BadRequest(format!(
                "limit must be 1 to {MAX_PAGE}, not {limit}"
            )));
        }
        Ok(PageRequest {
            after: self.after.unwrap_or(0).max(0),
            limit,
        })
    }
}

/// A page of rows as a JSON array; when the page is full, a `Link` header
/// names the next one (`rel="next"`), so a client follows links until
/// there is none and visits every row once.
fn paged<T: serde::Serialize>(
    uri: &Uri,
    page: PageRequest,
    rows: Vec<T>,
    key: impl Fn(&T) -> i64,
) -> Response {
    let next = (rows.len() as i64 == page.limit)
        .then(|| rows.last().map(&key))
        .flatten();
    let mut response = Json(rows).into_response();
    if let Some(after) = next {
        let kept: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("after=") && !p.starts_with("limit="))
            .map(str::to_owned)
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        let link = format!(
            "<{}?{query}after={after}&limit={}>; rel=\"next\"",
            uri.path(),
            page.limit
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

#[tracing::instrument(skip(state))]
async fn snapshots(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
    uri: Uri,
) -> WebResult<Response> {
    state.store.run(id).await?;
    let page = q.page()?;
    let rows = state.store.snapshots_page(id, page).await?;
    Ok(paged(&uri, page, rows, |r| r.seq))
}

#[tracing::instrument(skip(state))]
async fn health(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
    uri: Uri,
) -> WebResult<Response> {
    state.store.run(id).await?;
    let page = q.page()?;
    let rows = state.store.health_page(id, page).await?;
    Ok(paged(&uri, page, rows, |r| r.seq))
}

#[tracing::instrument(skip(state))]
async fn events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
    uri: Uri,
) -> WebResult<Response> {
    state.store.run(id).await?;
    let page = q.page()?;
    let kinds = q
        .kind
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|k| {
            EventKind::parse(k).ok_or_else(|| {
                WebError::BadRequest(format!(
                    "kind {k:?} is not one of {}",
                    EventKind::ALL.map(EventKind::as_str).join(", ")
                ))
            })
        })
        .collect::<WebResult<Vec<EventKind>>>()?;
    let rows = state.store.events_page(id, &kinds, page).await?;
    Ok(paged(&uri, page, rows, |r| r.seq))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialQuery {
    pub offset: Option<i64>,
    /// Keyset paging: the lines after this line number (unsearched only).
    pub after: Option<i64>,
    pub limit: Option<i64>,
    pub q: Option<String>,
}

#[tracing::instrument(skip(state))]
async fn serial(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    uri: Uri,
    Query(q): Query<SerialQuery>,
) -> WebResult<Response> {
    state.store.run(id).await?;
    let search = q.q.as_deref().filter(|s| !s.is_empty());
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    let Some(after) = q.after else {
        let page = state
            .store
            .serial_lines(id, q.offset.unwrap_or(0).max(0), limit, search)
            .await?;
        return Ok(Json(page).into_response());
    };
    if search.is_some() || q.offset.is_some() {
        return Err(WebError::BadRequest(
            "`after` pages the whole log; it does not combine with `q` or `offset`".into(),
        ));
    }
    let page = state.store.serial_lines_after(id, after, limit).await?;
    // The same `Link: rel="next"` as the other lists, on the object's lines.
    let next = (page.lines.len() as i64 == limit)
        .then(|| page.lines.last().map(|l| l.line_no))
        .flatten();
    let mut response = Json(page).into_response();
    if let Some(next) = next {
        let link = format!("<{}?after={next}&limit={limit}>; rel=\"next\"", uri.path());
        if let Ok(value) = axum::http::HeaderValue::from_str(&link) {
            response
                .headers_mut()
                .insert(axum::http::header::LINK, value);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareQuery {
    a: String,
    b: String,
}

/// Two runs (`a=12&b=20`), or two groups (`a=12,13,14&b=20,21,22`, `a=g3`):
/// groups get per-metric medians, spreads and "within noise"/"real change".
#[tracing::instrument(skip(state))]
async fn compare(
    State(state): State<AppState>,
    Query(q): Query<CompareQuery>,
) -> WebResult<axum::response::Response> {
    if let (Ok(a), Ok(b)) = (q.a.trim().parse::<i64>(), q.b.trim().parse::<i64>()) {
        let doc: ComparisonDocument =
            report::compare(&state.store, a, b, &state.config.criteria).await?;
        return Ok(Json(doc).into_response());
    }
    let groups =
        crate::scenario::groups::compare_specs(&state.store, &q.a, &q.b, &state.config.criteria)
            .await?;
    Ok(Json(groups).into_response())
}
