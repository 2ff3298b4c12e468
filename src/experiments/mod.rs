//! The experiments log: one row per firmware change, linked to the runs and
//! run groups that measured it. Metric cells of linked rows are computed
//! from those runs in the plan's notation ([`notation`]); the table reads
//! and writes the plan's Markdown ([`markdown`]).

pub mod markdown;
pub mod notation;

use std::collections::HashMap;

use serde::Serialize;

use crate::analysis::{AcceptanceCriteria, Derived};
use crate::report::{ReportError, RunDocument};
use crate::store::{ExperimentFields, ExperimentRecord, Store, StoreError};
use markdown::{MarkdownError, Section, TableRow};
use notation::{cell_value, metric_cells, MetricCells};

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Markdown(#[from] MarkdownError),
    #[error("{0}")]
    Invalid(String),
}

pub const STATUSES: [&str; 4] = ["baseline", "candidate", "accepted", "rejected"];

/// Checks the fields a person or a file supplied.
pub fn validate(f: &ExperimentFields) -> Result<(), ExperimentError> {
    if let Some(status) = &f.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ExperimentError::Invalid(format!(
                "status {status:?} is not one of baseline, candidate, accepted, rejected"
            )));
        }
    }
    if let Some(section) = &f.section {
        if Section::parse(section).is_none() {
            return Err(ExperimentError::Invalid(format!(
                "section {section:?} is not log or history"
            )));
        }
    }
    Ok(())
}

/// B − baseline for each metric (on the single value or the average).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deltas {
    pub baseline_id: Option<i64>,
    pub hin_min: Option<i64>,
    pub frag_max: Option<i64>,
    pub psram_free_min: Option<i64>,
}

/// `hin_min`, `frag_max`, PSRAM free min of a row (single value or average).
type MetricValues = (Option<i64>, Option<i64>, Option<i64>);

/// An experiment as shown: stored fields, links, and its table cells.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentView {
    #[serde(flatten)]
    pub record: ExperimentRecord,
    pub run_ids: Vec<i64>,
    pub group_ids: Vec<i64>,
    /// The table's cells in header order, computed ones filled in.
    pub cells: Vec<String>,
    /// Present when the metric cells come from linked runs.
    pub computed: Option<MetricCells>,
    pub deltas: Deltas,
}

impl ExperimentView {
    pub fn section(&self) -> Section {
        Section::parse(&self.record.section).unwrap_or(Section::Log)
    }

    fn values(&self) -> MetricValues {
        match &self.computed {
            Some(c) => (c.hin_min_value, c.frag_max_value, c.psram_free_min_value),
            None => (
                cell_value(&self.record.hin_min),
                cell_value(&self.record.frag_max),
                cell_value(&self.record.psram_free_min),
            ),
        }
    }
}

/// Filters of the experiments page and API.
#[derive(Debug, Clone, Default)]
pub struct ExperimentFilter {
    pub board: Option<String>,
    pub scenario: Option<String>,
    pub status: Option<String>,
}

impl ExperimentFilter {
    fn matches(&self, e: &ExperimentRecord) -> bool {
        let has = |field: &str, want: &Option<String>| {
            want.as_deref()
                .filter(|w| !w.is_empty())
                .is_none_or(|w| field.to_lowercase().contains(&w.to_lowercase()))
        };
        has(&e.board, &self.board)
            && has(&e.scenarios, &self.scenario)
            && self
                .status
                .as_deref()
                .filter(|s| !s.is_empty())
                .is_none_or(|s| e.status == s)
    }
}

/// Derived metrics per run, loaded once per listing.
struct DerivedCache<'a> {
    store: &'a Store,
    criteria: &'a AcceptanceCriteria,
    runs: HashMap<i64, (Derived, Option<String>)>,
}

impl DerivedCache<'_> {
    async fn get(&mut self, id: i64) -> Result<&(Derived, Option<String>), ExperimentError> {
        if !self.runs.contains_key(&id) {
            let doc = RunDocument::load(self.store, id, self.criteria).await?;
            self.runs.insert(id, (doc.report.derived, doc.run.label));
        }
        Ok(&self.runs[&id])
    }
}

fn table_cells(
    e: &ExperimentRecord,
    computed: Option<&MetricCells>,
    run_labels: &[String],
) -> Vec<String> {
    let section = Section::parse(&e.section).unwrap_or(Section::Log);
    match section {
        Section::History => vec![
            e.date.clone(),
            e.branch_commit.clone(),
            e.board.clone(),
            e.change.clone(),
            e.scenarios.clone(),
            e.notes.clone(),
        ],
        Section::Log => {
            let pick = |computed_cell: Option<&String>, written: &String| match computed_cell {
                Some(c) if !c.is_empty() => c.clone(),
                _ => written.clone(),
            };
            let artifacts = if e.artifacts.is_empty() && !run_labels.is_empty() {
                run_labels.join(", ")
            } else {
                e.artifacts.clone()
            };
            vec![
                e.date.clone(),
                e.branch_commit.clone(),
                e.board.clone(),
                e.change.clone(),
                e.scenarios.clone(),
                artifacts,
                pick(computed.map(|c| &c.hin_min), &e.hin_min),
                pick(computed.map(|c| &c.frag_max), &e.frag_max),
                pick(computed.map(|c| &c.psram_free_min), &e.psram_free_min),
                pick(computed.map(|c| &c.tripwire), &e.tripwire),
                e.notes.clone(),
            ]
        }
    }
}

/// Every experiment (filtered), sorted by date, with computed cells and
/// deltas against each row's baseline experiment.
pub async fn list(
    store: &Store,
    filter: &ExperimentFilter,
    criteria: &AcceptanceCriteria,
) -> Result<Vec<ExperimentView>, ExperimentError> {
    let records = store.experiments().await?;
    let mut cache = DerivedCache {
        store,
        criteria,
        runs: HashMap::new(),
    };
    let mut views: Vec<ExperimentView> = Vec::with_capacity(records.len());
    for record in records {
        let run_ids = store.experiment_run_ids(record.id).await?;
        let group_ids = store.experiment_group_ids(record.id).await?;
        let mut derived = Vec::with_capacity(run_ids.len());
        let mut labels = Vec::new();
        for id in &run_ids {
            let (d, label) = cache.get(*id).await?;
            derived.push(d.clone());
            labels.push(label.clone().unwrap_or_else(|| format!("run #{id}")));
        }
        let computed =
            (!derived.is_empty()).then(|| metric_cells(&derived.iter().collect::<Vec<_>>()));
        let cells = table_cells(&record, computed.as_ref(), &labels);
        views.push(ExperimentView {
            record,
            run_ids,
            group_ids,
            cells,
            computed,
            deltas: Deltas::default(),
        });
    }
    // Deltas against the baseline experiment, whether or not it is shown.
    let values: HashMap<i64, MetricValues> =
        views.iter().map(|v| (v.record.id, v.values())).collect();
    for v in &mut views {
        if let Some(base) = v
            .record
            .baseline_id
            .and_then(|b| values.get(&b).map(|vals| (b, *vals)))
        {
            let mine = v.values();
            let d = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
            v.deltas = Deltas {
                baseline_id: Some(base.0),
                hin_min: d(mine.0, base.1 .0),
                frag_max: d(mine.1, base.1 .1),
                psram_free_min: d(mine.2, base.1 .2),
            };
        }
    }
    views.retain(|v| filter.matches(&v.record));
    views.sort_by(|a, b| {
        (
            a.section() == Section::History,
            &a.record.date,
            a.record.position,
            a.record.id,
        )
            .cmp(&(
                b.section() == Section::History,
                &b.record.date,
                b.record.position,
                b.record.id,
            ))
    });
    Ok(views)
}

pub async fn view(
    store: &Store,
    id: i64,
    criteria: &AcceptanceCriteria,
) -> Result<ExperimentView, ExperimentError> {
    store.experiment(id).await?;
    list(store, &ExperimentFilter::default(), criteria)
        .await?
        .into_iter()
        .find(|v| v.record.id == id)
        .ok_or(ExperimentError::Store(StoreError::NotFound {
            what: "experiment",
            id: id.to_string(),
        }))
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MarkdownImport {
    pub created: Vec<i64>,
    /// Rows already in the log (same section and cells).
    pub unchanged: usize,
}

fn fields_from_row(row: &TableRow, position: i64) -> ExperimentFields {
    let c = &row.cells;
    let cell = |i: usize| Some(c.get(i).cloned().unwrap_or_default());
    let change = c.get(3).cloned().unwrap_or_default();
    let status = if change.to_lowercase().starts_with("baseline") {
        "baseline"
    } else {
        "candidate"
    };
    // The five leading columns are the same in both tables.
    let common = ExperimentFields {
        section: Some(row.section.as_str().into()),
        position: Some(position),
        date: cell(0),
        branch_commit: cell(1),
        board: cell(2),
        change: cell(3),
        scenarios: cell(4),
        status: Some(status.into()),
        ..Default::default()
    };
    match row.section {
        Section::Log => ExperimentFields {
            artifacts: cell(5),
            hin_min: cell(6),
            frag_max: cell(7),
            psram_free_min: cell(8),
            tripwire: cell(9),
            notes: cell(10),
            ..common
        },
        Section::History => ExperimentFields {
            notes: cell(5),
            ..common
        },
    }
}

/// Imports the Markdown tables of a file (the whole plan, or just a table).
/// Rows already present (same section and cells) are not duplicated.
pub async fn import_markdown(
    store: &Store,
    text: &str,
    criteria: &AcceptanceCriteria,
) -> Result<MarkdownImport, ExperimentError> {
    let rows = markdown::parse_tables(text)?;
    let existing = list(store, &ExperimentFilter::default(), criteria).await?;
    // A row matches as shown and as written: once linked to runs its
    // metric cells are computed, but the file still has what was typed.
    let mut seen: Vec<(Section, Vec<String>)> = existing
        .iter()
        .flat_map(|v| {
            [
                (v.section(), v.cells.clone()),
                (v.section(), table_cells(&v.record, None, &[])),
            ]
        })
        .collect();
    let base = store
        .experiments()
        .await?
        .iter()
        .map(|e| e.position)
        .max()
        .unwrap_or(0);
    let mut out = MarkdownImport::default();
    for (i, row) in rows.iter().enumerate() {
        if seen
            .iter()
            .any(|(s, c)| *s == row.section && *c == row.cells)
        {
            out.unchanged += 1;
            continue;
        }
        let created = store
            .create_experiment(&fields_from_row(row, base + 1 + i as i64))
            .await?;
        seen.push((row.section, row.cells.clone()));
        out.created.push(created.id);
    }
    Ok(out)
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Markdown,
    Csv,
    Json,
}

/// The log in the plan's table format, CSV (one file, a `section` column),
/// or JSON (every field, links, computed cells and deltas).
pub fn export(views: &[ExperimentView], format: ExportFormat) -> String {
    match format {
        ExportFormat::Markdown => markdown::write_tables(
            &views
                .iter()
                .map(|v| TableRow {
                    section: v.section(),
                    cells: v.cells.clone(),
                })
                .collect::<Vec<_>>(),
        ),
        ExportFormat::Json => serde_json::to_string_pretty(views).unwrap_or_else(|_| "[]".into()),
        ExportFormat::Csv => {
            let mut out = String::new();
            let quote = |s: &str| {
                if s.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_owned()
                }
            };
            let mut header = vec!["id".to_owned(), "section".to_owned(), "status".to_owned()];
            header.extend(markdown::LOG_HEADERS.iter().map(|h| h.replace('`', "")));
            out.push_str(
                &header
                    .iter()
                    .map(|h| quote(h))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
            for v in views {
                let mut cells = vec![
                    v.record.id.to_string(),
                    v.record.section.clone(),
                    v.record.status.clone(),
                ];
                let c = &v.cells;
                if v.section() == Section::History {
                    // Same columns as the log; metric columns empty.
                    cells.extend(
                        [&c[0], &c[1], &c[2], &c[3], &c[4]]
                            .iter()
                            .map(|s| (*s).clone()),
                    );
                    cells.extend(std::iter::repeat_n(String::new(), 5));
                    cells.push(c[5].clone());
                } else {
                    cells.extend(c.iter().cloned());
                }
                out.push_str(&cells.iter().map(|s| quote(s)).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            out
        }
    }
}
