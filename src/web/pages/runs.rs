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
use crate::analysis::{judge, Derived, TagSummary};
use crate::harness::summary_markdown;
use crate::report::{self, RunDocument};
use crate::store::{now_us, RunFilter, RunRecord};
use crate::units::{bytes, delta_bytes, duration_us, num, pct, time};
use crate::web::error::WebError;
use crate::web::state::AppState;

use super::devices::kind_word;

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

fn duration(run: &RunRecord, last_us: Option<i64>) -> String {
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
        let agg = state.store.run_aggregates(run.id).await?;
        let derived = Derived {
            hin_min: agg.hin_min,
            steady_frag_max: agg.steady_frag_max,
            alloc_failures: agg.alloc_failures,
            tripwire: crate::analysis::TripwireSummary {
                fired: agg.tripwires > 0,
                ..Default::default()
            },
            panic: crate::analysis::PanicSummary {
                detected: agg.crashes > 0,
                ..Default::default()
            },
            ..Default::default()
        };
        let pass = judge(&derived, &state.config.criteria).pass;
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
            duration: duration(&run, agg.last_ts_us),
            status: run.status.as_str(),
            hin_min: bytes(agg.hin_min),
            steady_frag: pct(agg.steady_frag_max),
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

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    offset: Option<i64>,
    q: Option<String>,
    /// Jump to this serial line (from a marker).
    line: Option<i64>,
    from: Option<String>,
    to: Option<String>,
}

pub struct CheckView {
    pub name: String,
    pub threshold: String,
    pub measured: String,
    pub pass: bool,
    pub detail: String,
}

pub struct TagView {
    pub tag: String,
    pub count: usize,
    pub last_hi: String,
    pub last_hin: String,
    pub min_hin: String,
    pub last_frag: String,
    pub max_frag: String,
    pub last_pf: String,
    pub min_pf: String,
}

pub struct CliffView {
    pub metric: String,
    pub drop: String,
    pub tag_before: String,
    pub tag_after: String,
    pub before: String,
    pub after: String,
}

pub struct StackView {
    pub name: String,
    pub prio: String,
    pub core: String,
    pub stack_rem: String,
    pub tight: bool,
    pub dump_tag: String,
}

pub struct HealthView {
    pub time: String,
    pub status: String,
    pub latency: String,
    pub free: String,
    pub min: String,
    pub window_min: String,
    pub frag: String,
    pub psram: String,
    pub error: String,
}

pub struct MarkerView {
    pub kind: String,
    pub time: String,
    pub line_no: i64,
    pub message: String,
}

pub struct LineView {
    pub line_no: i64,
    pub text: String,
    pub truncated: bool,
    pub highlight: bool,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    id: i64,
    pass: bool,
    device_id: Option<i64>,
    device: String,
    scenario: String,
    label: String,
    kind: &'static str,
    status: &'static str,
    firmware: String,
    git: String,
    started: String,
    duration: String,
    snapshots: i64,
    reboots: i64,
    range_query: String,
    checks: Vec<CheckView>,
    markers: Vec<MarkerView>,
    tags: Vec<TagView>,
    cliffs: Vec<CliffView>,
    stacks: Vec<StackView>,
    health: Vec<HealthView>,
    health_more: usize,
    q: String,
    q_url: String,
    lines: Vec<LineView>,
    total_lines: i64,
    first_line: i64,
    last_line: i64,
    prev_offset: Option<i64>,
    next_offset: Option<i64>,
    /// (id, "date change") of every experiment, for "add to experiment".
    experiments: Vec<(i64, String)>,
    leak: crate::soak::views::LeakView,
    soak: crate::soak::views::RunSoakView,
}

const SERIAL_PAGE: i64 = 200;
const HEALTH_SHOWN: usize = 50;
const TIGHT_STACK_BYTES: i64 = 512;

fn tag_views(tags: &[TagSummary]) -> Vec<TagView> {
    tags.iter()
        .map(|t| TagView {
            tag: t.tag.clone(),
            count: t.count,
            last_hi: bytes(t.last.hi),
            last_hin: bytes(t.last.hin),
            min_hin: bytes(t.hin_min),
            last_frag: pct(t.last.frag),
            max_frag: pct(t.frag_max),
            last_pf: bytes(t.last.pf),
            min_pf: bytes(t.pf_min),
        })
        .collect()
}

#[tracing::instrument(skip(state))]
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> PageResult {
    let doc = RunDocument::load(&state.store, id, &state.config.criteria).await?;
    let run = &doc.run;
    let events = state
        .store
        .events(
            id,
            &[
                "tripwire",
                "crash",
                "alloc_failed",
                "boot",
                "task",
                "task_dump",
            ],
        )
        .await?;
    let d = &doc.report.derived;

    let markers = events
        .iter()
        .filter(|e| {
            matches!(e.kind.as_str(), "tripwire" | "crash" | "alloc_failed")
                || (e.kind == "boot" && e.data["marker"] == "reset")
        })
        .take(200)
        .map(|e| MarkerView {
            kind: if e.kind == "boot" {
                "reboot".into()
            } else {
                e.kind.clone()
            },
            time: time(e.ts_us),
            line_no: e.line_no.unwrap_or(1),
            message: e.message.clone(),
        })
        .collect();

    // Every task line, worst margin first; tight stacks are flagged in words.
    let mut stacks: Vec<(i64, StackView)> = events
        .iter()
        .filter(|e| e.kind == "task")
        .map(|e| {
            let rem = e.data["stack_rem"].as_i64();
            (
                rem.unwrap_or(i64::MAX),
                StackView {
                    name: e.data["name"].as_str().unwrap_or("?").to_owned(),
                    prio: num(e.data["prio"].as_i64()),
                    core: match e.data["core"].as_i64() {
                        Some(-1) | Some(2_147_483_647) => "any".into(),
                        other => num(other),
                    },
                    stack_rem: bytes(rem),
                    tight: rem.is_some_and(|r| r < TIGHT_STACK_BYTES),
                    dump_tag: e.data["dump_tag"].as_str().unwrap_or("–").to_owned(),
                },
            )
        })
        .collect();
    stacks.sort_by_key(|(rem, _)| *rem);

    let health_rows = state.store.health(id).await?;
    let health_more = health_rows.len().saturating_sub(HEALTH_SHOWN);
    let health = health_rows
        .iter()
        .rev()
        .take(HEALTH_SHOWN)
        .map(|h| {
            let s = h.sample.clone().unwrap_or_default();
            HealthView {
                time: time(h.ts_us),
                status: h.http_status.map_or_else(|| "–".into(), |s| s.to_string()),
                latency: h
                    .latency_ms
                    .map_or_else(|| "–".into(), |ms| format!("{ms} ms")),
                free: bytes(s.heap_internal_free),
                min: bytes(s.heap_internal_min),
                window_min: bytes(s.heap_internal_free_min_window),
                frag: pct(s.heap_fragmentation),
                psram: bytes(s.psram_free),
                error: h.error.clone().unwrap_or_default(),
            }
        })
        .collect();

    // Serial page: a jump-to-line centres the page on that line.
    let search = q.q.clone().filter(|s| !s.is_empty());
    let offset = match (q.line, &search) {
        (Some(line), None) => (line - 1 - SERIAL_PAGE / 4).max(0),
        _ => q.offset.unwrap_or(0).max(0),
    };
    let page = state
        .store
        .serial_lines(id, offset, SERIAL_PAGE, search.as_deref())
        .await?;
    let lines: Vec<LineView> = page
        .lines
        .iter()
        .map(|l| LineView {
            line_no: l.line_no,
            text: l.text.clone(),
            truncated: l.flags & crate::store::SerialLineRow::TRUNCATED != 0,
            highlight: Some(l.line_no) == q.line,
        })
        .collect();
    let range_query = match (&q.from, &q.to) {
        (Some(f), Some(t)) => format!("&from={}&to={}", urlencode(f), urlencode(t)),
        _ => String::new(),
    };

    let checks = doc
        .report
        .verdict
        .checks
        .iter()
        .map(|c| CheckView {
            name: c.name.clone(),
            threshold: c.threshold.clone(),
            measured: match c.unit.as_str() {
                "B" => bytes(c.measured),
                "%" => pct(c.measured),
                _ => num(c.measured),
            },
            pass: c.pass,
            detail: c.detail.clone(),
        })
        .collect();
    let cliffs = doc
        .report
        .cliffs
        .hin
        .iter()
        .chain(&doc.report.cliffs.hi)
        .map(|c| CliffView {
            metric: c.metric.clone(),
            drop: delta_bytes(Some(-c.drop)),
            tag_before: c.tag_before.clone(),
            tag_after: c.tag_after.clone(),
            before: bytes(Some(c.before)),
            after: bytes(Some(c.after)),
        })
        .collect();
    let last_us = doc.report.last_snapshot_us;
    let page = RunPage {
        id,
        pass: doc.report.verdict.pass,
        device_id: run.device_id,
        device: run.device_name.clone().unwrap_or_else(|| "–".into()),
        scenario: run.scenario.clone().unwrap_or_else(|| "–".into()),
        label: run.label.clone().unwrap_or_else(|| "–".into()),
        kind: kind_word(Some(run.kind)),
        status: run.status.as_str(),
        firmware: run.firmware_version.clone().unwrap_or_else(|| "–".into()),
        git: match &run.git_commit {
            Some(c) => format!(
                "{}@{}{}",
                run.git_branch.as_deref().unwrap_or("?"),
                c,
                if run.git_dirty == Some(true) {
                    " (dirty)"
                } else {
                    ""
                }
            ),
            None => "–".into(),
        },
        started: time(run.started_us),
        duration: duration(run, last_us),
        snapshots: doc.report.derived.snapshots,
        reboots: d.reboots,
        range_query,
        checks,
        markers,
        tags: tag_views(&doc.report.per_tag),
        cliffs,
        stacks: stacks.into_iter().map(|(_, s)| s).collect(),
        health,
        health_more,
        q_url: urlencode(search.as_deref().unwrap_or("")),
        q: search.unwrap_or_default(),
        first_line: if page.lines.is_empty() { 0 } else { offset + 1 },
        last_line: offset + page.lines.len() as i64,
        total_lines: page.total,
        prev_offset: (offset > 0).then(|| (offset - SERIAL_PAGE).max(0)),
        next_offset: (offset + SERIAL_PAGE < page.total).then_some(offset + SERIAL_PAGE),
        experiments: state
            .store
            .experiments()
            .await?
            .into_iter()
            .rev()
            .map(|e| {
                (
                    e.id,
                    format!(
                        "#{} {} {}",
                        e.id,
                        e.date,
                        e.change.chars().take(50).collect::<String>()
                    ),
                )
            })
            .collect(),
        lines,
        leak: crate::soak::views::LeakView::of(&doc.leak),
        soak: crate::soak::views::RunSoakView::load(&state.store, run).await?,
    };
    render(&page)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tracing::instrument(skip(state))]
async fn summary_md(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, PageError> {
    let doc = RunDocument::load(&state.store, id, &state.config.criteria).await?;
    let md = summary_markdown(&doc.run, &doc.report, &[]);
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
    let dir = tempfile::tempdir().map_err(WebError::internal)?;
    let folder = dir.path().join(format!("run-{id}"));
    report::export(&state.store, id, &folder, &state.config.criteria).await?;
    let bytes = tokio::task::spawn_blocking(move || zip_folder(&folder))
        .await
        .map_err(WebError::internal)?
        .map_err(WebError::internal)?;
    drop(dir);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"heaplab-run-{id}.zip\""),
            ),
        ],
        bytes,
    ))
}

fn zip_folder(folder: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
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
            zip.write_all(&std::fs::read(&path)?)?;
        }
        zip.finish().map_err(std::io::Error::other)?;
    }
    Ok(out.into_inner())
}
