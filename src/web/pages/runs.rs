//! `/runs` (filterable table, pick two to compare) and `/runs/{id}` (one
//! run in full), plus its exports.

use std::io::Write;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{render, PageError, PageResult};
use crate::analysis::judge;
use crate::harness::summary_markdown;
use crate::report::{self, RunDocument};
use crate::store::{now_us, RunFilter, RunRecord};
use crate::units::{bytes, duration_us, pct, time};
use crate::web::error::WebError;
use crate::web::state::AppState;

use super::devices::kind_word;
use super::run_page::{DetailQuery, RunPage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/runs", get(list))
        .route("/runs/{id}", get(detail))
        .route("/runs/{id}/summary.md", get(summary_md))
        .route("/runs/{id}/export.zip", get(export_zip))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    device: Option<String>,
    scenario: Option<String>,
    verdict: Option<String>,
    since: Option<String>,
}

pub struct RunRow {
    pub id: i64,
    pub label: String,
    pub device: String,
    pub kind: &'static str,
    pub scenario: String,
    pub started: String,
    pub duration: String,
    pub status: &'static str,
    pub hin_min: String,
    pub steady_frag: String,
    pub pass: bool,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    rows: Vec<RunRow>,
    devices: Vec<(i64, String, bool)>,
    scenario: String,
    verdict: String,
    since: String,
}

pub(super) fn duration(run: &RunRecord, last_us: Option<i64>) -> String {
    let end = run.ended_us.or(last_us).unwrap_or_else(now_us);
    duration_us(end - run.started_us)
}

#[tracing::instrument(skip_all)]
async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> PageResult {
    let device_id = q.device.as_deref().and_then(|d| d.parse().ok());
    let since_us = q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros());
    let runs = state
        .store
        .runs(&RunFilter {
            device_id,
            scenario: q.scenario.clone().filter(|s| !s.is_empty()),
            since_us,
            limit: Some(300),
            ..Default::default()
        })
        .await?;
    let verdict = q.verdict.clone().unwrap_or_default();
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        // The run's stored summary: the same verdict its page shows, for
        // the cost of one row.
        let summary = report::run_summary(&state.store, run.id).await?;
        let derived = &summary.derived;
        let pass = judge(derived, &state.config.criteria).pass;
        if (verdict == "pass" && !pass) || (verdict == "fail" && pass) {
            continue;
        }
        rows.push(RunRow {
            id: run.id,
            label: run.label.clone().unwrap_or_default(),
            device: run.device_name.clone().unwrap_or_else(|| "–".into()),
            kind: kind_word(Some(run.kind)),
            scenario: run.scenario.clone().unwrap_or_else(|| "–".into()),
            started: time(run.started_us),
            duration: duration(&run, summary.last_snapshot_us),
            status: run.status.as_str(),
            hin_min: bytes(derived.hin_min),
            steady_frag: pct(derived.steady_frag_max),
            pass,
        });
    }
    let devices = state
        .store
        .devices()
        .await?
        .into_iter()
        .map(|d| {
            let selected = Some(d.id) == device_id;
            (d.id, d.name, selected)
        })
        .collect();
    render(&RunsPage {
        rows,
        devices,
        scenario: q.scenario.unwrap_or_default(),
        verdict,
        since: q.since.unwrap_or_default(),
    })
}

/// `/runs/{id}`: the run in full (see [`RunPage::load`]).
#[tracing::instrument(skip(state))]
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> PageResult {
    render(&RunPage::load(&state, id, &q).await?)
}

#[tracing::instrument(skip(state))]
async fn summary_md(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, PageError> {
    let doc = RunDocument::load(&state.store, id, &state.config.criteria).await?;
    let md = summary_markdown(&doc.run, &doc.report);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"run-{id}-summary.md\""),
            ),
        ],
        md,
    ))
}

/// The harness folder of a run, zipped.
#[tracing::instrument(skip(state))]
async fn export_zip(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, PageError> {
    // Folder and archive go through a temporary directory, and the archive
    // is streamed from disk: a week-long run's export is tens of megabytes,
    // and ten people downloading one must not hold ten copies in memory.
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join(format!("run-{id}"));
    report::export(&state.store, id, &folder, &state.config.criteria).await?;
    let archive = dir.path().join("run.zip");
    let target = archive.clone();
    tokio::task::spawn_blocking(move || zip_folder(&folder, &target))
        .await?
        .map_err(WebError::internal)?;
    let file = tokio::fs::File::open(&archive).await?;
    let len = file.metadata().await?.len();
    // The open file outlives its directory entry on Unix; the directory
    // goes now, the bytes when the download ends.
    drop(dir);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"heaplab-run-{id}.zip\""),
            ),
        ],
        body,
    ))
}

/// Zips the folder's files (under its name) into `archive`, copying each
/// file through rather than reading it whole.
fn zip_folder(folder: &std::path::Path, archive: &std::path::Path) -> std::io::Result<()> {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = std::io::BufWriter::new(std::fs::File::create(archive)?);
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut entries: Vec<_> = std::fs::read_dir(folder)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let file_name = format!("{name}/{}", entry.file_name().to_string_lossy());
        zip.start_file(file_name, options)
            .map_err(std::io::Error::other)?;
        std::io::copy(&mut std::fs::File::open(&path)?, &mut zip)?;
    }
    zip.finish().map_err(std::io::Error::other)?.flush()
}
