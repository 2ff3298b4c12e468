//! `/compare?a=&b=`: run B against run A, tag by tag, coloured and worded
//! by better/worse (more free heap is better, more fragmentation worse), or
//! group against group; above it the picker ([`super::compare_picker`]).

use askama::Template;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;

use super::compare_picker::{CompareQuery, Picker};
use super::{render, PageResult};
use crate::analysis::{MetricDelta, SnapshotValues, TagPresence};
use crate::report;
use crate::scenario::groups::{GroupComparison, Stats};
use crate::units::{bytes, delta_bytes, delta_pct, pct, stat_value, Direction};
use crate::web::error::WebError;
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/compare", get(compare))
}

pub struct Cell {
    pub text: String,
    pub class: &'static str,
    pub word: &'static str,
}

pub struct TagRow {
    pub tag: String,
    pub presence: &'static str,
    pub cells: Vec<Cell>,
}

pub struct Overall {
    pub name: &'static str,
    pub a: String,
    pub b: String,
    pub delta: String,
    pub class: &'static str,
    pub word: &'static str,
}

/// Who one side of a two-run comparison is.
pub struct Side {
    pub id: i64,
    /// The run's label, or `None`: shown as "unlabelled".
    pub label: Option<String>,
    pub device: String,
    pub scenario: String,
}

impl Side {
    fn of(run: &crate::store::RunRecord) -> Side {
        Side {
            id: run.id,
            label: run.label.clone().filter(|l| !l.is_empty()),
            device: run.device_name.clone().unwrap_or_else(|| "–".into()),
            scenario: run
                .scenario
                .clone()
                .unwrap_or_else(|| run.kind.as_str().to_owned()),
        }
    }
}

pub struct ComparisonView {
    pub a: Side,
    pub b: Side,
    pub pass_a: bool,
    pub pass_b: bool,
    pub verdict_change: String,
    pub overall: Vec<Overall>,
    pub tags: Vec<TagRow>,
}

/// One metric of a group comparison, formatted.
pub struct GroupRow {
    pub metric: String,
    pub median_a: String,
    pub spread_a: String,
    pub median_b: String,
    pub spread_b: String,
    pub delta: String,
    pub judgement: String,
    pub class: &'static str,
}

pub struct GroupView {
    /// The stored group each side is, when it is exactly one (`g3`).
    pub a_group: Option<i64>,
    pub b_group: Option<i64>,
    pub a_runs: String,
    pub b_runs: String,
    pub pass_a: String,
    pub pass_b: String,
    pub rows: Vec<GroupRow>,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    a_input: String,
    b_input: String,
    cmp: Option<ComparisonView>,
    groups: Option<GroupView>,
    /// `/compare?a=…&b=…`: the link to paste into a pull request.
    link: Option<String>,
    picker: Picker,
}

/// The page's own link for two sides, without the picker's filters.
fn link(a: &str, b: &str) -> String {
    use crate::web::access::urlencode;
    format!(
        "/compare?a={}&b={}",
        urlencode(a.trim()),
        urlencode(b.trim())
    )
}

/// The group id of a side that is exactly one stored group (`g3`).
fn one_group(spec: &str) -> Option<i64> {
    spec.trim().strip_prefix(['g', 'G'])?.parse().ok()
}

/// A comma list (`12,13,14`) or a stored group (`g3`): compare as groups.
fn is_group_spec(raw: &Option<String>) -> bool {
    raw.as_deref()
        .map(str::trim)
        .is_some_and(|s| s.contains(',') || s.starts_with('g') || s.starts_with('G'))
}

async fn group_view(state: &AppState, a: &str, b: &str) -> Result<GroupView, WebError> {
    let c =
        crate::scenario::groups::compare_specs(&state.store, a, b, &state.config.criteria).await?;
    let ids = |v: &[i64]| {
        v.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(GroupView {
        a_group: one_group(a),
        b_group: one_group(b),
        a_runs: ids(&c.a_runs),
        b_runs: ids(&c.b_runs),
        pass_a: format!("{} of {}", c.pass_a, c.a_runs.len()),
        pass_b: format!("{} of {}", c.pass_b, c.b_runs.len()),
        rows: group_rows(&c),
    })
}

/// A group comparison's metrics formatted with their units: median and
/// spread (min – max) of each side, the difference of medians, the call.
pub(super) fn group_rows(c: &GroupComparison) -> Vec<GroupRow> {
    c.metrics
        .iter()
        .map(|m| {
            let spread = |s: &Stats| {
                format!(
                    "{} – {}",
                    stat_value(s.min.map(|v| v as f64), &m.unit),
                    stat_value(s.max.map(|v| v as f64), &m.unit)
                )
            };
            let delta = match m.median_delta {
                Some(d) if d > 0.0 => format!("+{}", stat_value(Some(d), &m.unit)),
                other => stat_value(other, &m.unit),
            };
            GroupRow {
                metric: m.metric.clone(),
                median_a: stat_value(m.a.median, &m.unit),
                spread_a: spread(&m.a),
                median_b: stat_value(m.b.median, &m.unit),
                spread_b: spread(&m.b),
                delta,
                judgement: if m.judgement == "real change" {
                    format!("real change ({})", m.direction)
                } else {
                    m.judgement.clone()
                },
                class: match m.direction.as_str() {
                    "better" => "better",
                    "worse" => "worse",
                    _ => "same",
                },
            }
        })
        .collect()
}

fn cell(delta: Option<i64>, more_is_better: bool, percent: bool) -> Cell {
    let dir = Direction::of(delta, more_is_better);
    Cell {
        text: if percent {
            delta_pct(delta)
        } else {
            delta_bytes(delta)
        },
        class: dir.class(),
        word: dir.word(),
    }
}

fn cells(last: Option<SnapshotValues>, min: Option<SnapshotValues>) -> Vec<Cell> {
    let l = |f: fn(&SnapshotValues) -> Option<i64>| last.as_ref().and_then(f);
    let m = |f: fn(&SnapshotValues) -> Option<i64>| min.as_ref().and_then(f);
    vec![
        cell(l(|v| v.hin), true, false),
        cell(l(|v| v.hm), true, false),
        cell(l(|v| v.hi), true, false),
        cell(l(|v| v.frag), false, true),
        cell(l(|v| v.pf), true, false),
        cell(m(|v| v.hin), true, false),
        cell(m(|v| v.hi), true, false),
    ]
}

fn parse_id(raw: &Option<String>, which: &str) -> Result<Option<i64>, WebError> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            s.trim_start_matches('#').parse().map(Some).map_err(|_| {
                WebError::BadRequest(format!("run {which} must be a run id, got {s:?}"))
            })
        }
    }
}

#[tracing::instrument(skip(state))]
async fn compare(State(state): State<AppState>, Query(q): Query<CompareQuery>) -> PageResult {
    let picker = Picker::load(&state.store, &q).await?;
    if is_group_spec(&q.a) || is_group_spec(&q.b) {
        let (a, b) = (
            q.a.clone().unwrap_or_default(),
            q.b.clone().unwrap_or_default(),
        );
        let groups = group_view(&state, &a, &b).await?;
        return render(&ComparePage {
            link: Some(link(&a, &b)),
            a_input: a,
            b_input: b,
            cmp: None,
            groups: Some(groups),
            picker,
        });
    }
    let (a, b) = (parse_id(&q.a, "A")?, parse_id(&q.b, "B")?);
    let cmp = match (a, b) {
        (Some(a), Some(b)) => Some(comparison_view(&state, a, b).await?),
        _ => None,
    };
    let (a_input, b_input) = (
        a.map(|v| v.to_string()).unwrap_or_default(),
        b.map(|v| v.to_string()).unwrap_or_default(),
    );
    render(&ComparePage {
        link: cmp.as_ref().map(|_| link(&a_input, &b_input)),
        a_input,
        b_input,
        cmp,
        groups: None,
        picker,
    })
}

/// Run `a` against run `b`: the whole-run numbers, then tag by tag.
async fn comparison_view(state: &AppState, a: i64, b: i64) -> Result<ComparisonView, WebError> {
    let doc = report::compare(&state.store, a, b, &state.config.criteria).await?;
    let c = &doc.comparison;
    let tags = c
        .tags
        .iter()
        .map(|t| TagRow {
            tag: t.tag.clone(),
            presence: match t.presence {
                TagPresence::Both => "A & B",
                TagPresence::OnlyA => "A only",
                TagPresence::OnlyB => "B only",
            },
            cells: cells(t.last_delta, t.min_delta),
        })
        .collect();
    Ok(ComparisonView {
        a: Side::of(&doc.a),
        b: Side::of(&doc.b),
        pass_a: c.pass_a,
        pass_b: c.pass_b,
        verdict_change: c.verdict_change.clone(),
        overall: vec![
            overall("hin_min", &c.hin_min, true, false),
            overall("frag_max", &c.frag_max, false, true),
            overall("pf_min", &c.pf_min, true, false),
        ],
        tags,
    })
}

/// A value or delta formatter from `units`.
type Format = fn(Option<i64>) -> String;

/// One whole-run number on both sides, in bytes or percent.
fn overall(name: &'static str, m: &MetricDelta, more_is_better: bool, percent: bool) -> Overall {
    let dir = Direction::of(m.delta, more_is_better);
    let (value, delta): (Format, Format) = if percent {
        (pct, delta_pct)
    } else {
        (bytes, delta_bytes)
    };
    Overall {
        name,
        a: value(m.a),
        b: value(m.b),
        delta: delta(m.delta),
        class: dir.class(),
        word: dir.word(),
    }
}
