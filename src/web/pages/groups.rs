//! `/groups/{id}`: one run group (the runs of a `--repeat N`): its members,
//! min/median/max/mean of every metric, the noise call against a baseline
//! group, every member overlaid in one chart, and "add to experiment".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::compare::{group_rows, GroupRow};
use super::run_page::experiment_choices;
use super::{render, PageError, PageResult};
use crate::experiments;
use crate::report::RunDocument;
use crate::scenario::groups::{self, NoiseCall, Stats};
use crate::store::{ExperimentFields, GroupRecord};
use crate::units::{bytes, pct, stat_value, time};
use crate::web::error::WebError;
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups/{id}", get(page))
        .route("/groups/{id}/experiments", post(add_to_experiment))
}

#[derive(Debug, Default, Deserialize)]
struct GroupQuery {
    /// The baseline to judge against (`g3`, `12,13,14`); the previous group
    /// of the same scenario when absent.
    vs: Option<String>,
}

pub struct MemberRow {
    pub run_id: i64,
    /// The run's label, or `None` for "unlabelled".
    pub label: Option<String>,
    pub device: String,
    pub started: String,
    pub pass: bool,
    pub hin_min: String,
    pub frag_max: String,
    pub pf_min: String,
}

pub struct StatRow {
    pub metric: String,
    pub n: usize,
    pub min: String,
    pub median: String,
    pub max: String,
    pub mean: String,
}

/// The noise call, formatted.
pub struct CallView {
    /// `g3` or `12,13,14`, as typed into the compare page.
    pub baseline: String,
    /// The baseline group's id when it is one stored group.
    pub baseline_group: Option<i64>,
    /// "real change" or "within noise".
    pub verdict: &'static str,
    /// "hin_min better, frag_max worse": the metrics that really changed.
    pub changes: String,
    pub rows: Vec<GroupRow>,
    pub compare_url: String,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    id: i64,
    label: Option<String>,
    scenario: String,
    device: String,
    device_id: Option<i64>,
    created: String,
    passed: String,
    members: Vec<MemberRow>,
    stats: Vec<StatRow>,
    call: Option<CallView>,
    vs_input: String,
    experiments: Vec<(i64, String)>,
    linked: Vec<i64>,
    /// The suggested "Scenario(s)" cell of a new experiment row (`S4 ×5`).
    scenarios_cell: String,
}

#[tracing::instrument(skip(state))]
async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<GroupQuery>,
) -> PageResult {
    let store = &state.store;
    let criteria = &state.config.criteria;
    let group = groups::group(store, id).await?;
    let docs = groups::load_docs(store, &group.runs, criteria).await?;
    let doc = groups::document_of(group.clone(), &docs);
    let call = groups::noise_call(store, &group, &docs, q.vs.as_deref(), criteria).await?;
    let device = docs
        .iter()
        .find_map(|d| d.run.device_name.clone())
        .unwrap_or_else(|| "–".into());
    render(&GroupPage {
        id,
        label: group.label.clone(),
        scenario: group.scenario.clone().unwrap_or_else(|| "–".into()),
        device,
        device_id: group.device_id,
        created: time(group.created_us),
        passed: format!(
            "{} of {}",
            doc.members.iter().filter(|m| m.pass).count(),
            doc.members.len()
        ),
        members: docs.iter().map(member_row).collect(),
        stats: doc.stats.iter().map(stat_row).collect(),
        call: call.map(|c| call_view(&group, c)),
        vs_input: q.vs.unwrap_or_default(),
        experiments: experiment_choices(store).await?,
        linked: store.experiments_of_group(id).await?,
        scenarios_cell: scenarios_cell(&group),
    })
}

fn member_row(d: &RunDocument) -> MemberRow {
    let derived = &d.report.derived;
    MemberRow {
        run_id: d.run.id,
        label: d.run.label.clone().filter(|l| !l.is_empty()),
        device: d.run.device_name.clone().unwrap_or_else(|| "–".into()),
        started: time(d.run.started_us),
        pass: d.report.verdict.pass,
        hin_min: bytes(derived.hin_min),
        frag_max: pct(derived.frag_max),
        pf_min: bytes(derived.pf_min),
    }
}

fn stat_row(s: &Stats) -> StatRow {
    let whole = |v: Option<i64>| stat_value(v.map(|v| v as f64), &s.unit);
    StatRow {
        metric: s.metric.clone(),
        n: s.n,
        min: whole(s.min),
        median: stat_value(s.median, &s.unit),
        max: whole(s.max),
        mean: stat_value(s.mean, &s.unit),
    }
}

fn call_view(group: &GroupRecord, call: NoiseCall) -> CallView {
    let changes: Vec<String> = call
        .real_changes()
        .map(|m| format!("{} {}", m.metric, m.direction))
        .collect();
    let baseline_group = call
        .baseline
        .strip_prefix(['g', 'G'])
        .and_then(|id| id.parse().ok());
    CallView {
        verdict: if changes.is_empty() {
            "within noise"
        } else {
            "real change"
        },
        changes: changes.join(", "),
        rows: group_rows(&call.comparison),
        compare_url: format!(
            "/compare?a={}&b=g{}",
            crate::web::access::urlencode(&call.baseline),
            group.id
        ),
        baseline_group,
        baseline: call.baseline,
    }
}

/// `S4 ×5`: the plan's notation for "scenario S4, five runs".
fn scenarios_cell(group: &GroupRecord) -> String {
    match group.scenario.as_deref() {
        Some(s) => format!("{s} ×{}", group.runs.len()),
        None => format!("×{}", group.runs.len()),
    }
}

#[derive(Debug, Deserialize)]
struct AddToExperiment {
    /// An experiment id, or `new` for a new row.
    experiment: String,
    /// The new row's "Change" cell.
    #[serde(default)]
    change: String,
}

/// Links the group to an experiment (an existing row, or a new one made
/// from the form), then shows that row. A plain form post, so it works
/// without JavaScript; the access layer holds it to a write credential
/// from this origin.
#[tracing::instrument(skip(state))]
async fn add_to_experiment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<AddToExperiment>,
) -> Result<impl IntoResponse, PageError> {
    let group = groups::group(&state.store, id).await?;
    let experiment = match form.experiment.trim() {
        "new" => {
            let change = form.change.trim();
            if change.is_empty() {
                return Err(WebError::BadRequest(
                    "a new experiment needs its change: say what the firmware change is".into(),
                )
                .into());
            }
            let fields = ExperimentFields {
                date: Some(chrono::Utc::now().format("%Y-%m-%d").to_string()),
                change: Some(change.to_owned()),
                scenarios: Some(scenarios_cell(&group)),
                ..Default::default()
            };
            experiments::validate(&fields)?;
            state.store.create_experiment(&fields).await?.id
        }
        other => other.parse().map_err(|_| {
            WebError::BadRequest(format!(
                "experiment must be an experiment id or `new`, got {other:?}"
            ))
        })?,
    };
    state.store.link_experiment_group(experiment, id).await?;
    Ok(Redirect::to(&format!("/experiments#exp-{experiment}")))
}
