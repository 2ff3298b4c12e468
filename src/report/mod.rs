//! Read-side documents: a run with its analysis, a comparison of two runs,
//! an export. The CLI, the JSON API and the pages all call these, so every
//! surface shows the same numbers.

use std::path::Path;

use serde::Serialize;

use crate::analysis::{
    compare_runs, AcceptanceCriteria, RunComparison, RunReport, RunSummary, SUMMARY_EVENT_KINDS,
    SUMMARY_VERSION,
};
use crate::harness::FolderWriter;
use crate::soak::LeakEstimate;
use crate::store::{PageRequest, RunRecord, Store, StoreError, StoredSummary};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A run and its analysis, read from its stored summary: what it costs
/// does not grow with the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunDocument {
    pub run: RunRecord,
    #[serde(flatten)]
    pub report: RunReport,
    /// Leak slope of `hb` snapshots (B/h), per boot segment and overall.
    pub leak: LeakEstimate,
}

impl RunDocument {
    #[tracing::instrument(skip(store, criteria))]
    pub async fn load(
        store: &Store,
        id: i64,
        criteria: &AcceptanceCriteria,
    ) -> Result<Self, ReportError> {
        let run = store.run(id).await?;
        let summary = run_summary(store, id).await?;
        let threshold = summary.derived.tripwire.threshold;
        let snapshots = summary.derived.snapshots;
        let report = RunReport::from_summary(summary, criteria);
        let leak = leak_estimate(store, id, snapshots, threshold).await?;
        Ok(RunDocument { run, report, leak })
    }
}

/// The run's stored summary, or one folded from its rows (and stored) when
/// there is none of the current version: runs recorded before summaries
/// existed, or rows written without one.
pub async fn run_summary(store: &Store, id: i64) -> Result<RunSummary, ReportError> {
    if let Some(stored) = store.run_summary(id).await? {
        if stored.version == SUMMARY_VERSION {
            if let Ok(summary) = serde_json::from_str(&stored.json) {
                return Ok(summary);
            }
        }
    }
    let summary = recompute_summary(store, id).await?;
    store
        .put_run_summary(
            id,
            &StoredSummary {
                version: SUMMARY_VERSION,
                json: serde_json::to_string(&summary).map_err(StoreError::from)?,
            },
        )
        .await?;
    Ok(summary)
}

/// Folds every stored row of the run: what the recorder's summary must
/// equal.
pub async fn recompute_summary(store: &Store, id: i64) -> Result<RunSummary, ReportError> {
    let snapshots = store.snapshots(id).await?;
    let events = store.events(id, &SUMMARY_EVENT_KINDS).await?;
    Ok(RunSummary::from_rows(&snapshots, &events))
}

/// Runs with no current summary get one, oldest first; `progress` hears
/// `(done, total)` after each (the CLI prints it on a terminal).
pub async fn backfill_summaries(
    store: &Store,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<usize, ReportError> {
    let runs = store.runs_without_summary(SUMMARY_VERSION).await?;
    for (i, id) in runs.iter().enumerate() {
        run_summary(store, *id).await?;
        progress(i + 1, runs.len());
    }
    Ok(runs.len())
}

async fn leak_estimate(
    store: &Store,
    id: i64,
    snapshots: i64,
    threshold: Option<i64>,
) -> Result<LeakEstimate, ReportError> {
    Ok(crate::soak::views::cached_leak(store, id, snapshots, threshold).await?)
}

/// Two runs compared, with their identities.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonDocument {
    pub a: RunRecord,
    pub b: RunRecord,
    #[serde(flatten)]
    pub comparison: RunComparison,
}

pub async fn compare(
    store: &Store,
    a: i64,
    b: i64,
    criteria: &AcceptanceCriteria,
) -> Result<ComparisonDocument, ReportError> {
    let da = RunDocument::load(store, a, criteria).await?;
    let db = RunDocument::load(store, b, criteria).await?;
    let comparison = compare_runs(
        (&da.report.per_tag, &da.report.derived, &da.report.verdict),
        (&db.report.per_tag, &db.report.derived, &db.report.verdict),
    );
    Ok(ComparisonDocument {
        a: da.run,
        b: db.run,
        comparison,
    })
}

/// Rows read per page while exporting.
const EXPORT_PAGE: i64 = 10_000;

/// Writes a run as a harness folder, a page of rows at a time (a week-long
/// run is a million lines; memory stays at one page).
pub async fn export(
    store: &Store,
    id: i64,
    dir: &Path,
    criteria: &AcceptanceCriteria,
) -> Result<(), ReportError> {
    let doc = RunDocument::load(store, id, criteria).await?;
    let write_error = |source: std::io::Error| ReportError::Write {
        path: dir.display().to_string(),
        source,
    };
    let mut out = FolderWriter::create(dir).map_err(write_error)?;
    let mut after = 0;
    loop {
        let page = store
            .serial_lines_after(id, after, EXPORT_PAGE)
            .await?
            .lines;
        let Some(last) = page.last() else { break };
        after = last.line_no;
        out = off_the_runtime(out, move |w| w.lines(&page))
            .await
            .map_err(write_error)?;
    }
    let mut page = PageRequest {
        after: 0,
        limit: EXPORT_PAGE,
    };
    loop {
        let rows = store.snapshots_page(id, page).await?;
        let Some(last) = rows.last() else { break };
        page.after = last.seq;
        out = off_the_runtime(out, move |w| w.snapshots(&rows))
            .await
            .map_err(write_error)?;
    }
    page.after = 0;
    loop {
        let rows = store.events_page(id, &[], page).await?;
        let Some(last) = rows.last() else { break };
        page.after = last.seq;
        out = off_the_runtime(out, move |w| w.events(&rows))
            .await
            .map_err(write_error)?;
    }
    page.after = 0;
    loop {
        let rows = store.health_page(id, page).await?;
        let Some(last) = rows.last() else { break };
        page.after = last.seq;
        out = off_the_runtime(out, move |w| w.health(&rows))
            .await
            .map_err(write_error)?;
    }
    tokio::task::spawn_blocking(move || out.finish(&doc.run, &doc.report))
        .await
        .map_err(|e| write_error(std::io::Error::other(e.to_string())))?
        .map_err(write_error)
}

/// Writes a page on a blocking thread and hands the writer back.
async fn off_the_runtime(
    mut out: FolderWriter,
    write: impl FnOnce(&mut FolderWriter) -> std::io::Result<()> + Send + 'static,
) -> std::io::Result<FolderWriter> {
    tokio::task::spawn_blocking(move || write(&mut out).map(|()| out))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}
