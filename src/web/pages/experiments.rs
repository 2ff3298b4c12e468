//! `/experiments`: the experiments log, filterable, editable inline.

use askama::Template;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{render, PageResult};
use crate::experiments::{self, ExperimentFilter, ExperimentView, STATUSES};
use crate::units::{delta_bytes, delta_pct, Direction};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/experiments", get(page))
}

#[derive(Debug, Default, Deserialize)]
struct Filter {
    board: Option<String>,
    scenario: Option<String>,
    status: Option<String>,
}

pub struct MetricCell {
    pub name: &'static str,
    pub text: String,
    pub computed: bool,
    pub delta: String,
    pub class: &'static str,
    pub word: &'static str,
}

pub struct Row {
    pub id: i64,
    pub history: bool,
    pub date: String,
    pub branch_commit: String,
    pub board: String,
    pub change: String,
    pub scenarios: String,
    pub artifacts: String,
    pub runs: Vec<i64>,
    pub groups: Vec<i64>,
    pub compare_url: Option<String>,
    pub metrics: Vec<MetricCell>,
    pub tripwire: String,
    pub notes: String,
    pub status: String,
    pub baseline_id: Option<i64>,
    /// `baseline_id` or -1, for the select's `selected` test.
    pub baseline_value: i64,
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ExperimentsPage {
    rows: Vec<Row>,
    board: String,
    scenario: String,
    statuses: Vec<(&'static str, bool)>,
    baselines: Vec<(i64, String)>,
    today: String,
}

fn ids(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[tracing::instrument(skip_all)]
async fn page(State(state): State<AppState>, Query(q): Query<Filter>) -> PageResult {
    let filter = ExperimentFilter {
        board: q.board.clone(),
        scenario: q.scenario.clone(),
        status: q.status.clone(),
    };
    let views = experiments::list(&state.store, &filter, &state.config.criteria).await?;
    let all = experiments::list(
        &state.store,
        &ExperimentFilter::default(),
        &state.config.criteria,
    )
    .await?;
    let rows = views.iter().map(|v| row(v, &all)).collect();
    let baselines = all
        .iter()
        .map(|v| {
            (
                v.record.id,
                format!(
                    "{} {}",
                    v.record.date,
                    v.record.change.chars().take(40).collect::<String>()
                ),
            )
        })
        .collect();
    let status = q.status.clone().unwrap_or_default();
    render(&ExperimentsPage {
        rows,
        board: q.board.unwrap_or_default(),
        scenario: q.scenario.unwrap_or_default(),
        statuses: STATUSES.iter().map(|s| (*s, *s == status)).collect(),
        baselines,
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
    })
}

/// One table row. History rows (the old table's shape) have no artifacts,
/// metrics or tripwire column; their notes sit where artifacts are in the
/// log. `all` is every experiment, unfiltered, to find the baseline's runs.
fn row(v: &ExperimentView, all: &[ExperimentView]) -> Row {
    let history = v.section() == experiments::markdown::Section::History;
    let get = |i: usize| v.cells.get(i).cloned().unwrap_or_default();
    let compare_url = v.record.baseline_id.and_then(|b| {
        let base_runs = all
            .iter()
            .find(|v| v.record.id == b)
            .map(|v| v.run_ids.clone())
            .unwrap_or_default();
        (!base_runs.is_empty() && !v.run_ids.is_empty())
            .then(|| format!("/compare?a={}&b={}", ids(&base_runs), ids(&v.run_ids)))
    });
    Row {
        id: v.record.id,
        history,
        date: get(0),
        branch_commit: get(1),
        board: get(2),
        change: get(3),
        scenarios: get(4),
        artifacts: if history { String::new() } else { get(5) },
        runs: v.run_ids.clone(),
        groups: v.group_ids.clone(),
        compare_url,
        metrics: metric_cells(v, history),
        tripwire: if history { String::new() } else { get(9) },
        notes: if history { get(5) } else { get(10) },
        status: v.record.status.clone(),
        baseline_id: v.record.baseline_id,
        baseline_value: v.record.baseline_id.unwrap_or(-1),
    }
}

/// hin_min, frag_max and psram_free_min with their change against the
/// baseline; empty for history rows.
fn metric_cells(v: &ExperimentView, history: bool) -> Vec<MetricCell> {
    let get = |i: usize| v.cells.get(i).cloned().unwrap_or_default();
    let metric =
        |name: &'static str, text: String, delta: Option<i64>, more_is_better: bool, pct: bool| {
            let dir = Direction::of(delta, more_is_better);
            MetricCell {
                name,
                text,
                computed: v.computed.is_some(),
                delta: match delta {
                    None => String::new(),
                    Some(_) if pct => format!("{} vs baseline", delta_pct(delta)),
                    Some(_) => format!("{} vs baseline", delta_bytes(delta)),
                },
                class: dir.class(),
                word: dir.word(),
            }
        };
    if history {
        vec![
            metric("hin_min", String::new(), None, true, false),
            metric("frag_max", String::new(), None, false, true),
            metric("psram_free_min", String::new(), None, true, false),
        ]
    } else {
        vec![
            metric("hin_min", get(6), v.deltas.hin_min, true, false),
            metric("frag_max", get(7), v.deltas.frag_max, false, true),
            metric(
                "psram_free_min",
                get(8),
                v.deltas.psram_free_min,
                true,
                false,
            ),
        ]
    }
}
