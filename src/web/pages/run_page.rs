//! The run page, `/runs/{id}`: everything known about one run on one page.
//! Gathering it takes a dozen store reads and as many view conversions, so
//! it is a loader ([`RunPage::load`]) with one small function per section
//! and the handler stays a line.

use askama::Template;
use serde::Deserialize;

use super::devices::kind_word;
use super::runs::duration;
use super::PageError;
use crate::analysis::{RunReport, TagSummary, TaskMargin};
use crate::report::RunDocument;
use crate::store::{EventKind, EventRow, HealthRow, RunRecord, SerialLineRow, Store};
use crate::units::{bytes, delta_bytes, num, pct, time};
use crate::web::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct DetailQuery {
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
    /// `[Task]` lines of this task in the run.
    pub lines: i64,
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
    pub kind: &'static str,
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
pub(super) struct RunPage {
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
    /// More markers than the list shows.
    markers_more: bool,
    tags: Vec<TagView>,
    cliffs: Vec<CliffView>,
    stacks: Vec<StackView>,
    /// All `[Task]` lines of the run, linked (paged) from the stack table.
    task_lines: i64,
    health: Vec<HealthView>,
    /// Older polls exist (they are paged in the API).
    health_more: bool,
    serial: SerialSection,
    /// (id, "date change") of every experiment, for "add to experiment".
    experiments: Vec<(i64, String)>,
    /// The run groups this run is a member of.
    groups: Vec<i64>,
    leak: crate::soak::views::LeakView,
    soak: crate::soak::views::RunSoakView,
}

const SERIAL_PAGE: i64 = 200;
const HEALTH_SHOWN: i64 = 50;
/// Markers listed under the chart: a week has hundreds (every tripwire),
/// the chart draws them all, and the list links the rest through the API.
const MARKERS_SHOWN: i64 = 30;
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

impl RunPage {
    /// Reads everything the page shows; a run that does not exist is the
    /// store's not-found error.
    pub(super) async fn load(
        state: &AppState,
        id: i64,
        q: &DetailQuery,
    ) -> Result<RunPage, PageError> {
        let store = &state.store;
        let doc = RunDocument::load(store, id, &state.config.criteria).await?;
        let run = &doc.run;
        // Every section reads what it shows: the summary, the first
        // markers, the newest health polls, one serial page. Nothing here
        // grows with the run.
        let mut markers = store.marker_events(id, MARKERS_SHOWN + 1).await?;
        let markers_more = markers.len() > MARKERS_SHOWN as usize;
        markers.truncate(MARKERS_SHOWN as usize);
        let mut health_rows = store.latest_health(id, HEALTH_SHOWN + 1).await?;
        let health_more = health_rows.len() > HEALTH_SHOWN as usize;
        health_rows.truncate(HEALTH_SHOWN as usize);
        let serial = SerialSection::load(store, id, q).await?;
        let last_us = doc.report.last_snapshot_us;
        Ok(RunPage {
            id,
            pass: doc.report.verdict.pass,
            device_id: run.device_id,
            device: run.device_name.clone().unwrap_or_else(|| "–".into()),
            scenario: run.scenario.clone().unwrap_or_else(|| "–".into()),
            label: run.label.clone().unwrap_or_else(|| "–".into()),
            kind: kind_word(Some(run.kind)),
            status: run.status.as_str(),
            firmware: run.firmware_version.clone().unwrap_or_else(|| "–".into()),
            git: git_word(run),
            started: time(run.started_us),
            duration: duration(run, last_us),
            snapshots: doc.report.derived.snapshots,
            reboots: doc.report.derived.reboots,
            range_query: range_query(q),
            checks: check_views(&doc.report),
            markers: marker_views(&markers),
            markers_more,
            tags: tag_views(&doc.report.per_tag),
            cliffs: cliff_views(&doc.report),
            stacks: stack_views(&doc.report.task_stacks),
            task_lines: doc.report.task_lines,
            health: health_views(&health_rows),
            health_more,
            serial,
            experiments: experiment_choices(store).await?,
            groups: store.groups_of_run(id).await?,
            leak: crate::soak::views::LeakView::of(&doc.leak),
            soak: crate::soak::views::RunSoakView::load(store, run).await?,
        })
    }
}

/// `branch@commit`, flagged when the tree was dirty.
fn git_word(run: &RunRecord) -> String {
    match &run.git_commit {
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
    }
}

/// The chart time range carried over to the chart links.
fn range_query(q: &DetailQuery) -> String {
    match (&q.from, &q.to) {
        (Some(f), Some(t)) => format!("&from={}&to={}", urlencode(f), urlencode(t)),
        _ => String::new(),
    }
}

/// Tripwires, crashes, alloc failures and resets, linked to their line.
fn marker_views(events: &[EventRow]) -> Vec<MarkerView> {
    events
        .iter()
        .map(|e| MarkerView {
            kind: if e.kind == EventKind::Boot {
                "reboot"
            } else {
                e.kind.as_str()
            },
            time: time(e.ts_us),
            line_no: e.line_no.unwrap_or(1),
            message: e.message.clone(),
        })
        .collect()
}

/// One row per task, at the tightest margin it was seen with; tight stacks
/// are flagged in words.
fn stack_views(stacks: &[TaskMargin]) -> Vec<StackView> {
    stacks
        .iter()
        .map(|m| {
            let t = &m.task;
            StackView {
                name: t.name.clone(),
                prio: num(t.prio),
                core: match t.core {
                    Some(-1) | Some(2_147_483_647) => "any".into(),
                    other => num(other),
                },
                stack_rem: bytes(t.stack_rem),
                tight: t.stack_rem.is_some_and(|r| r < TIGHT_STACK_BYTES),
                dump_tag: m.dump_tag.clone().unwrap_or_else(|| "–".into()),
                lines: m.lines,
            }
        })
        .collect()
}

/// The newest `/api/health` polls, newest first (as read).
fn health_views(rows: &[HealthRow]) -> Vec<HealthView> {
    rows.iter()
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
        .collect()
}

/// The acceptance checks with the measured value in its unit.
fn check_views(report: &RunReport) -> Vec<CheckView> {
    report
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
        .collect()
}

/// The biggest drops of `hin`, then of `hi`, between two tags.
fn cliff_views(report: &RunReport) -> Vec<CliffView> {
    report
        .cliffs
        .hin
        .iter()
        .chain(&report.cliffs.hi)
        .map(|c| CliffView {
            metric: c.metric.clone(),
            drop: delta_bytes(Some(-c.drop)),
            tag_before: c.tag_before.clone(),
            tag_after: c.tag_after.clone(),
            before: bytes(Some(c.before)),
            after: bytes(Some(c.after)),
        })
        .collect()
}

/// (id, "#id date change") of every experiment, newest first, for "add to
/// experiment".
pub(super) async fn experiment_choices(store: &Store) -> Result<Vec<(i64, String)>, PageError> {
    Ok(store
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
        .collect())
}

/// One page of the serial log, searched or not.
struct SerialSection {
    /// The search as typed, and URL-encoded for the paging links.
    q: String,
    q_url: String,
    lines: Vec<LineView>,
    total_lines: i64,
    first_line: i64,
    last_line: i64,
    prev_offset: Option<i64>,
    next_offset: Option<i64>,
}

impl SerialSection {
    /// The page at `q.offset`; a jump to `q.line` centres the page on it.
    async fn load(store: &Store, id: i64, q: &DetailQuery) -> Result<SerialSection, PageError> {
        let search = q.q.clone().filter(|s| !s.is_empty());
        let offset = match (q.line, &search) {
            (Some(line), None) => (line - 1 - SERIAL_PAGE / 4).max(0),
            _ => q.offset.unwrap_or(0).max(0),
        };
        let page = store
            .serial_lines(id, offset, SERIAL_PAGE, search.as_deref())
            .await?;
        let lines = page
            .lines
            .iter()
            .map(|l| LineView {
                line_no: l.line_no,
                text: l.text.clone(),
                truncated: l.flags & SerialLineRow::TRUNCATED != 0,
                highlight: Some(l.line_no) == q.line,
            })
            .collect();
        Ok(SerialSection {
            q_url: urlencode(search.as_deref().unwrap_or("")),
            q: search.unwrap_or_default(),
            lines,
            total_lines: page.total,
            first_line: if page.lines.is_empty() { 0 } else { offset + 1 },
            last_line: offset + page.lines.len() as i64,
            prev_offset: (offset > 0).then(|| (offset - SERIAL_PAGE).max(0)),
            next_offset: (offset + SERIAL_PAGE < page.total).then_some(offset + SERIAL_PAGE),
        })
    }
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
