//! Chart endpoints: `/charts/runs/{id}.svg|.json`, `/charts/compare.svg|.json`,
//! `/charts/groups/{id}.svg|.json` and `/charts/devices/{id}/spark.svg`. Rendering is CPU work, so it runs in
//! `spawn_blocking`; the `.json` twin of each chart carries the plotted
//! points and plot area for hover in the browser.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::error::{WebError, WebResult};
use super::state::AppState;
use crate::charts::{
    compare_groups_chart, group_chart, run_chart, sparkline, ChartError, ChartRequest,
    CompareAlign, CompareLayout, Metric, RenderedChart,
};
use crate::store::{tier_for, EventKind, PageRequest, SnapshotRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/charts/runs/{file}", get(run))
        .route("/charts/compare.svg", get(compare_svg))
        .route("/charts/compare.json", get(compare_json))
        .route("/charts/groups/{file}", get(group))
        .route("/charts/devices/{id}/spark.svg", get(spark))
}

fn svg_response(svg: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}

fn respond(chart: RenderedChart, json: bool) -> Response {
    if json {
        Json(chart.hover).into_response()
    } else {
        svg_response(chart.svg)
    }
}

/// Runs CPU-bound rendering off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ChartError> + Send + 'static,
) -> WebResult<T> {
    tokio::task::spawn_blocking(f).await?.map_err(Into::into)
}

#[tracing::instrument(skip(state, query))]
async fn run(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> WebResult<Response> {
    let (id, json) = chart_file(&file)?;
    let mut req = ChartRequest::parse(query.as_deref().unwrap_or(""))?;
    req.floor_bytes = state.config.criteria.hin_min_bytes;
    let run = state.store.run(id).await?;
    // The window's width picks the pyramid tier: O(pixels) rows at any
    // zoom; a window narrow enough to show single snapshots reads them.
    let span = state.store.snapshot_span(id).await?;
    let window = match span {
        Some((first, last)) => {
            req.to_us.unwrap_or(last).min(last) - req.from_us.unwrap_or(first).max(first)
        }
        None => 0,
    };
    let snapshots = match tier_for(window, req.width) {
        Some(tier) => {
            state
                .store
                .tier_rows(id, tier, req.from_us, req.to_us)
                .await?
        }
        None => {
            state
                .store
                .snapshots_between(id, req.from_us, req.to_us)
                .await?
        }
    };
    // Markers inside the window only: a week's whole list is not drawn.
    let mut events = state
        .store
        .events_in_window(
            id,
            &[
                EventKind::Tripwire,
                EventKind::Crash,
                EventKind::AllocFailed,
                EventKind::Boot,
            ],
            req.from_us,
            req.to_us,
        )
        .await?;
    // The tripwire threshold line comes from the run's first tripwire, in
    // the window or not (marks outside the window are not drawn).
    if !events.iter().any(|e| e.kind == EventKind::Tripwire) {
        let first = PageRequest { after: 0, limit: 1 };
        events.extend(
            state
                .store
                .events_page(id, &[EventKind::Tripwire], first)
                .await?,
        );
    }
    let title = format!(
        "run #{id} · {} · {}",
        run.device_name
            .as_deref()
            .or(run.label.as_deref())
            .unwrap_or("-"),
        run.scenario.as_deref().unwrap_or(run.kind.as_str())
    );
    let chart = blocking(move || run_chart(&snapshots, &events, &req, &title)).await?;
    Ok(respond(chart, json))
}

#[derive(Debug)]
struct CompareParams {
    a: Vec<i64>,
    b: Vec<i64>,
    metric: Metric,
    align: CompareAlign,
    width: u32,
    height: u32,
}

fn compare_params(query: Option<&str>) -> WebResult<CompareParams> {
    let mut p = CompareParams {
        a: Vec::new(),
        b: Vec::new(),
        metric: Metric::Hin,
        align: CompareAlign::TagOrder,
        width: ChartRequest::DEFAULT_WIDTH,
        height: ChartRequest::DEFAULT_HEIGHT,
    };
    let ids = |name: &str, v: &str| -> WebResult<Vec<i64>> {
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim().parse().map_err(|_| {
                    WebError::BadRequest(format!("`{name}` must be run ids, got {v:?}"))
                })
            })
            .collect()
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.replace("%2C", ",").replace("%2c", ",");
        match k {
            "a" => p.a = ids("a", &v)?,
            "b" => p.b = ids("b", &v)?,
            "metric" => p.metric = v.parse()?,
            "align" => {
                p.align = match v.as_str() {
                    "tag" | "tags" | "tag_order" => CompareAlign::TagOrder,
                    "boot" | "time" | "since_boot" => CompareAlign::SinceBoot,
                    other => {
                        return Err(WebError::BadRequest(format!(
                            "`align` must be tag or boot, got {other:?}"
                        )))
                    }
                }
            }
            "width" => {
                p.width = v
                    .parse()
                    .map_err(|_| WebError::BadRequest(format!("bad `width` {v:?}")))?
            }
            "height" => {
                p.height = v
                    .parse()
                    .map_err(|_| WebError::BadRequest(format!("bad `height` {v:?}")))?
            }
            _ => {}
        }
    }
    Ok(p)
}

/// `id.svg` or `id.json` of a chart path: the id and whether JSON is asked.
fn chart_file(file: &str) -> WebResult<(i64, bool)> {
    let (id, json) = match file.rsplit_once('.') {
        Some((id, "svg")) => (id, false),
        Some((id, "json")) => (id, true),
        _ => return Err(WebError::NotFound(format!("chart {file}"))),
    };
    let id = id
        .parse()
        .map_err(|_| WebError::NotFound(format!("chart {file}")))?;
    Ok((id, json))
}

/// Each run's rows for a chart `width` columns wide: its pyramid tier when
/// a column holds several buckets (a week-long run is a few thousand rows,
/// every minimum kept), its snapshots when it is short enough to show them.
async fn load_group(state: &AppState, ids: &[i64], width: u32) -> WebResult<Vec<Vec<SnapshotRow>>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        state.store.run(*id).await?;
        let span = state.store.snapshot_span(*id).await?;
        let window = span.map_or(0, |(first, last)| last - first);
        let rows = match tier_for(window, width) {
            Some(tier) => state.store.tier_rows(*id, tier, None, None).await?,
            None => state.store.snapshots(*id).await?,
        };
        out.push(rows);
    }
    Ok(out)
}

fn group_label(ids: &[i64]) -> String {
    match ids {
        [one] => format!("run #{one}"),
        many => format!(
            "runs {}",
            many.iter()
                .map(|i| format!("#{i}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

async fn compare_chart_for(state: &AppState, query: Option<&str>) -> WebResult<RenderedChart> {
    let p = compare_params(query)?;
    if p.a.is_empty() || p.b.is_empty() {
        return Err(WebError::BadRequest("`a` and `b` are required".into()));
    }
    let a = load_group(state, &p.a, p.width).await?;
    let b = load_group(state, &p.b, p.width).await?;
    let labels = (
        format!("A: {}", group_label(&p.a)),
        format!("B: {}", group_label(&p.b)),
    );
    let floor_bytes = state.config.criteria.hin_min_bytes;
    blocking(move || {
        let a_refs: Vec<&[SnapshotRow]> = a.iter().map(Vec::as_slice).collect();
        let b_refs: Vec<&[SnapshotRow]> = b.iter().map(Vec::as_slice).collect();
        compare_groups_chart(
            &a_refs,
            &b_refs,
            &CompareLayout {
                metric: p.metric,
                align: p.align,
                width: p.width,
                height: p.height,
                floor_bytes,
            },
            (&labels.0, &labels.1),
        )
    })
    .await
}

#[tracing::instrument(skip(state, query))]
async fn compare_svg(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> WebResult<Response> {
    Ok(respond(
        compare_chart_for(&state, query.as_deref()).await?,
        false,
    ))
}

#[tracing::instrument(skip(state, query))]
async fn compare_json(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> WebResult<Response> {
    Ok(respond(
        compare_chart_for(&state, query.as_deref()).await?,
        true,
    ))
}

/// `/charts/groups/{id}.svg`: every member of a stored group on one
/// metric (`metric`, `align`, `width`, `height` as for the comparison).
/// Each member is read at the pyramid tier the width needs, so a group of
/// week-long runs costs its pixels, not its rows.
#[tracing::instrument(skip(state, query))]
async fn group(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> WebResult<Response> {
    let (id, json) = chart_file(&file)?;
    let p = compare_params(query.as_deref())?;
    if !p.a.is_empty() || !p.b.is_empty() {
        return Err(WebError::BadRequest(
            "a group chart draws the group's own runs: drop `a` and `b`".into(),
        ));
    }
    let g = state.store.group(id).await?;
    let runs = load_group(&state, &g.runs, p.width).await?;
    let label = match g.label.as_deref().or(g.scenario.as_deref()) {
        Some(name) => format!("group g{id} {name}"),
        None => format!("group g{id}"),
    };
    let floor_bytes = state.config.criteria.hin_min_bytes;
    let chart = blocking(move || {
        let refs: Vec<&[SnapshotRow]> = runs.iter().map(Vec::as_slice).collect();
        group_chart(
            &refs,
            &CompareLayout {
                metric: p.metric,
                align: p.align,
                width: p.width,
                height: p.height,
                floor_bytes,
            },
            &label,
        )
    })
    .await?;
    Ok(respond(chart, json))
}

#[tracing::instrument(skip(state))]
async fn spark(State(state): State<AppState>, Path(id): Path<i64>) -> WebResult<Response> {
    state.store.device(id).await?;
    let points: Vec<(i64, i64)> = state
        .hub
        .device(id)
        .map(|d| d.spark.into_iter().collect())
        .unwrap_or_default();
    Ok(svg_response(sparkline(&points, 240, 40)))
}
