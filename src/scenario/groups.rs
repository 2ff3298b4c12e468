//! Run groups (`--repeat N`): statistics of every derived metric across the
//! group, group-vs-group comparison ("within noise" vs "real change"), and
//! the per-tag `hin_min` regression gate for firmware CI.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::ScenarioError;
use crate::analysis::{AcceptanceCriteria, Derived};
use crate::report::RunDocument;
pub use crate::store::GroupRecord;
use crate::store::Store;
use crate::units::stat_value;

/// The metrics a group summarises, with their unit and which way is better.
pub const METRICS: [(&str, &str, bool); 8] = [
    ("hin_min", "B", true),
    ("hm_min", "B", true),
    ("pf_min", "B", true),
    ("pm_min", "B", true),
    ("frag_max", "%", false),
    ("steady_frag_max", "%", false),
    ("alloc_failures", "", false),
    ("reboots", "", false),
];

pub fn metric_value(d: &Derived, name: &str) -> Option<i64> {
    match name {
        "hin_min" => d.hin_min,
        "hm_min" => d.hm_min,
        "pf_min" => d.pf_min,
        "pm_min" => d.pm_min,
        "frag_max" => d.frag_max,
        "steady_frag_max" => d.steady_frag_max,
        "alloc_failures" => Some(d.alloc_failures),
        "reboots" => Some(d.reboots),
        _ => None,
    }
}

/// min, median, max and mean of one metric over the runs that have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub metric: String,
    pub unit: String,
    pub n: usize,
    pub min: Option<i64>,
    pub median: Option<f64>,
    pub max: Option<i64>,
    pub mean: Option<f64>,
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[i64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0),
    }
}

pub fn stats(metric: &str, unit: &str, values: &[i64]) -> Stats {
    Stats {
        metric: metric.to_owned(),
        unit: unit.to_owned(),
        n: values.len(),
        min: values.iter().copied().min(),
        median: median(values),
        max: values.iter().copied().max(),
        mean: (!values.is_empty())
            .then(|| values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64),
    }
}

/// Statistics of every metric over a set of runs.
pub fn group_stats(derived: &[&Derived]) -> Vec<Stats> {
    METRICS
        .iter()
        .map(|(name, unit, _)| {
            let values: Vec<i64> = derived
                .iter()
                .filter_map(|d| metric_value(d, name))
                .collect();
            stats(name, unit, &values)
        })
        .collect()
}

/// A group with its members' verdicts and the statistics.
#[derive(Debug, Clone, Serialize)]
pub struct GroupDocument {
    #[serde(flatten)]
    pub group: GroupRecord,
    pub members: Vec<GroupMember>,
    pub stats: Vec<Stats>,
    /// Per tag, the median across members of each run's minimum `hin` at
    /// that tag (what the gate compares against).
    pub tag_hin_min: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupMember {
    pub run_id: i64,
    pub pass: bool,
    pub derived: Derived,
}

pub async fn create_group(
    store: &Store,
    scenario: Option<&str>,
    label: Option<&str>,
    device_id: Option<i64>,
    runs: &[i64],
) -> Result<i64, ScenarioError> {
    Ok(store.create_group(scenario, label, device_id, runs).await?)
}

pub async fn group(store: &Store, id: i64) -> Result<GroupRecord, ScenarioError> {
    Ok(store.group(id).await?)
}

pub async fn groups(store: &Store, limit: i64) -> Result<Vec<GroupRecord>, ScenarioError> {
    Ok(store.groups(limit).await?)
}

/// Per tag, the median across runs of each run's minimum `hin`.
pub fn median_tag_minimums(docs: &[RunDocument]) -> BTreeMap<String, f64> {
    let mut per_tag: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for d in docs {
        for t in &d.report.per_tag {
            if let Some(v) = t.hin_min {
                per_tag.entry(t.tag.clone()).or_default().push(v);
            }
        }
    }
    per_tag
        .into_iter()
        .filter_map(|(t, v)| median(&v).map(|m| (t, m)))
        .collect()
}

pub async fn load_docs(
    store: &Store,
    runs: &[i64],
    criteria: &AcceptanceCriteria,
) -> Result<Vec<RunDocument>, ScenarioError> {
    let mut docs = Vec::with_capacity(runs.len());
    for &id in runs {
        docs.push(RunDocument::load(store, id, criteria).await?);
    }
    Ok(docs)
}

pub fn document_of(group: GroupRecord, docs: &[RunDocument]) -> GroupDocument {
    let derived: Vec<&Derived> = docs.iter().map(|d| &d.report.derived).collect();
    GroupDocument {
        members: docs
            .iter()
            .map(|d| GroupMember {
                run_id: d.run.id,
                pass: d.report.verdict.pass,
                derived: d.report.derived.clone(),
            })
            .collect(),
        stats: group_stats(&derived),
        tag_hin_min: median_tag_minimums(docs),
        group,
    }
}

pub async fn group_document(
    store: &Store,
    id: i64,
    criteria: &AcceptanceCriteria,
) -> Result<GroupDocument, ScenarioError> {
    let g = group(store, id).await?;
    let docs = load_docs(store, &g.runs, criteria).await?;
    Ok(document_of(g, &docs))
}

// ---- a set of runs named on the command line or in a URL ----------------------

/// `12,13,14` (runs), `g3` / `group:3` (a stored group), or a mix.
pub async fn resolve_runs(store: &Store, spec: &str) -> Result<Vec<i64>, ScenarioError> {
    let mut runs = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let part = part.trim_start_matches('#');
        let group_id = part
            .strip_prefix("group:")
            .or_else(|| part.strip_prefix('g'))
            .or_else(|| part.strip_prefix('G'));
        if let Some(g) = group_id {
            let id: i64 = g
                .parse()
                .map_err(|_| ScenarioError::Options(format!("{part:?} is not a group id")))?;
            runs.extend(group(store, id).await?.runs);
        } else {
            let id = part
                .strip_prefix("run:")
                .unwrap_or(part)
                .parse()
                .map_err(|_| {
                    ScenarioError::Options(format!("{part:?} is not a run id (or g<group id>)"))
                })?;
            runs.push(id);
        }
    }
    if runs.is_empty() {
        return Err(ScenarioError::Options(format!("{spec:?} names no runs")));
    }
    Ok(runs)
}

// ---- group comparison ---------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub unit: String,
    pub a: Stats,
    pub b: Stats,
    /// median(B) − median(A).
    pub median_delta: Option<f64>,
    /// Whether [min, max] of A and of B overlap.
    pub overlap: Option<bool>,
    /// `within noise` (ranges overlap), `real change` (they do not), or
    /// `no data`.
    pub judgement: String,
    /// `better`, `worse` or `same` for a real change.
    pub direction: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupComparison {
    pub a_runs: Vec<i64>,
    pub b_runs: Vec<i64>,
    pub metrics: Vec<MetricComparison>,
    pub pass_a: usize,
    pub pass_b: usize,
}

pub fn compare_groups(a: &[RunDocument], b: &[RunDocument]) -> GroupComparison {
    let da: Vec<&Derived> = a.iter().map(|d| &d.report.derived).collect();
    let db: Vec<&Derived> = b.iter().map(|d| &d.report.derived).collect();
    let (sa, sb) = (group_stats(&da), group_stats(&db));
    let metrics = METRICS
        .iter()
        .zip(sa.into_iter().zip(sb))
        .map(|((name, unit, more_is_better), (a, b))| {
            let median_delta = a.median.zip(b.median).map(|(x, y)| y - x);
            let overlap = match (a.min, a.max, b.min, b.max) {
                (Some(amin), Some(amax), Some(bmin), Some(bmax)) => {
                    Some(amin <= bmax && bmin <= amax)
                }
                _ => None,
            };
            let judgement = match overlap {
                None => "no data",
                Some(true) => "within noise",
                Some(false) => "real change",
            };
            let direction = match (overlap, median_delta) {
                (Some(false), Some(d)) if (d > 0.0) == *more_is_better => "better",
                (Some(false), Some(_)) => "worse",
                _ => "same",
            };
            MetricComparison {
                metric: (*name).to_owned(),
                unit: (*unit).to_owned(),
                a,
                b,
                median_delta,
                overlap,
                judgement: judgement.to_owned(),
                direction: direction.to_owned(),
            }
        })
        .collect();
    GroupComparison {
        a_runs: a.iter().map(|d| d.run.id).collect(),
        b_runs: b.iter().map(|d| d.run.id).collect(),
        metrics,
        pass_a: a.iter().filter(|d| d.report.verdict.pass).count(),
        pass_b: b.iter().filter(|d| d.report.verdict.pass).count(),
    }
}

pub async fn compare_specs(
    store: &Store,
    a: &str,
    b: &str,
    criteria: &AcceptanceCriteria,
) -> Result<GroupComparison, ScenarioError> {
    let ra = resolve_runs(store, a).await?;
    let rb = resolve_runs(store, b).await?;
    let da = load_docs(store, &ra, criteria).await?;
    let db = load_docs(store, &rb, criteria).await?;
    Ok(compare_groups(&da, &db))
}

/// What a group is judged against: the set named by `vs` (`g3`, `12,13`),
/// or else the newest older group of the same scenario.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseCall {
    /// The baseline as a spec the compare page accepts (`g3`, `12,13`).
    pub baseline: String,
    /// A = the baseline, B = this group.
    pub comparison: GroupComparison,
}

impl NoiseCall {
    /// The metrics whose ranges do not overlap: the real changes.
    pub fn real_changes(&self) -> impl Iterator<Item = &MetricComparison> {
        self.comparison
            .metrics
            .iter()
            .filter(|m| m.judgement == "real change")
    }
}

/// The noise call of a group (see [`NoiseCall`]); `None` when nothing was
/// named and no older group ran the same scenario.
pub async fn noise_call(
    store: &Store,
    group: &GroupRecord,
    docs: &[RunDocument],
    vs: Option<&str>,
    criteria: &AcceptanceCriteria,
) -> Result<Option<NoiseCall>, ScenarioError> {
    let baseline = match vs.map(str::trim).filter(|s| !s.is_empty()) {
        Some(spec) => spec.to_owned(),
        None => {
            let Some(scenario) = group.scenario.as_deref() else {
                return Ok(None);
            };
            match store.previous_group(scenario, group.id).await? {
                Some(id) => format!("g{id}"),
                None => return Ok(None),
            }
        }
    };
    let runs = resolve_runs(store, &baseline).await?;
    let base_docs = load_docs(store, &runs, criteria).await?;
    Ok(Some(NoiseCall {
        baseline,
        comparison: compare_groups(&base_docs, docs),
    }))
}

fn fmt_delta(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "–".into(),
        Some(d) if d > 0.0 => format!("+{}", stat_value(Some(d), unit)),
        Some(0.0) => format!("±{}", stat_value(Some(0.0), unit)),
        Some(d) => stat_value(Some(d), unit),
    }
}

/// A plain-text table of a group comparison.
pub fn comparison_table(c: &GroupComparison) -> String {
    let mut out = format!(
        "A = runs {:?} ({} of {} pass), B = runs {:?} ({} of {} pass); Δ = median(B) − median(A)\n",
        c.a_runs,
        c.pass_a,
        c.a_runs.len(),
        c.b_runs,
        c.pass_b,
        c.b_runs.len()
    );
    out.push_str(&format!(
        "{:<16} {:>14} {:>27} {:>14} {:>27} {:>14}  {}\n",
        "metric", "median A", "spread A", "median B", "spread B", "Δ median", "judgement"
    ));
    for m in &c.metrics {
        let spread = |s: &Stats| {
            format!(
                "{} – {}",
                stat_value(s.min.map(|v| v as f64), &m.unit),
                stat_value(s.max.map(|v| v as f64), &m.unit)
            )
        };
        out.push_str(&format!(
            "{:<16} {:>14} {:>27} {:>14} {:>27} {:>14}  {}{}\n",
            m.metric,
            stat_value(m.a.median, &m.unit),
            spread(&m.a),
            stat_value(m.b.median, &m.unit),
            spread(&m.b),
            fmt_delta(m.median_delta, &m.unit),
            m.judgement,
            if m.judgement == "real change" {
                format!(" ({})", m.direction)
            } else {
                String::new()
            }
        ));
    }
    out
}

// ---- the CI gate --------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct GateRow {
    pub tag: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub delta: Option<f64>,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub baseline: String,
    pub max_regression: i64,
    pub rows: Vec<GateRow>,
    pub pass: bool,
}

/// Per tag (present in both), the current minimum `hin` must not fall more
/// than `max_regression` bytes below the baseline's.
pub fn gate(
    baseline_name: &str,
    baseline: &BTreeMap<String, f64>,
    current: &BTreeMap<String, f64>,
    max_regression: i64,
) -> GateReport {
    let mut tags: Vec<&String> = baseline.keys().chain(current.keys()).collect();
    tags.sort();
    tags.dedup();
    let rows: Vec<GateRow> = tags
        .into_iter()
        .map(|tag| {
            let (b, c) = (baseline.get(tag).copied(), current.get(tag).copied());
            let delta = b.zip(c).map(|(b, c)| c - b);
            GateRow {
                tag: tag.clone(),
                baseline: b,
                current: c,
                delta,
                pass: delta.is_none_or(|d| d >= -(max_regression as f64)),
            }
        })
        .collect();
    GateReport {
        baseline: baseline_name.to_owned(),
        max_regression,
        pass: rows.iter().all(|r| r.pass),
        rows,
    }
}

impl GateReport {
    /// A Markdown table to paste in a pull request.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### heaplab gate: {} — `hin_min` per tag vs {} (max regression {} B)\n\n",
            if self.pass { "✅ pass" } else { "❌ FAIL" },
            self.baseline,
            self.max_regression
        );
        out.push_str("| tag | baseline hin_min | this run | Δ | |\n|---|---:|---:|---:|---|\n");
        for r in &self.rows {
            let mark = match (r.baseline, r.current) {
                (None, _) => "new tag",
                (_, None) => "not reached",
                _ if r.pass => "ok",
                _ => "**regressed**",
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                r.tag,
                stat_value(r.baseline, "B"),
                stat_value(r.current, "B"),
                fmt_delta(r.delta, "B"),
                mark
            ));
        }
        out
    }
}

/// The per-tag baseline of `g<id>`/`group:<id>` (median across the group)
/// or a run id (that run's per-tag minimums).
pub async fn baseline_tags(
    store: &Store,
    spec: &str,
    criteria: &AcceptanceCriteria,
) -> Result<(String, BTreeMap<String, f64>), ScenarioError> {
    let s = spec.trim();
    let is_group = s.starts_with('g') || s.starts_with('G') || s.starts_with("group:");
    let runs = resolve_runs(store, s).await?;
    let docs = load_docs(store, &runs, criteria).await?;
    let name = if is_group {
        format!("group {s} (median of runs {runs:?})")
    } else if runs.len() == 1 {
        format!("run {}", runs[0])
    } else {
        format!("runs {runs:?} (median)")
    };
    Ok((name, median_tag_minimums(&docs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3, 1, 2]), Some(2.0));
        assert_eq!(median(&[4, 1, 2, 3]), Some(2.5));
    }

    #[test]
    fn gate_per_tag() {
        let b: BTreeMap<String, f64> = [("hb".to_owned(), 10_000.0)].into();
        let ok: BTreeMap<String, f64> = [("hb".to_owned(), 8_000.0)].into();
        let bad: BTreeMap<String, f64> = [("hb".to_owned(), 7_000.0)].into();
        assert!(gate("b", &b, &ok, 2048).pass);
        assert!(!gate("b", &b, &bad, 2048).pass);
    }
}
