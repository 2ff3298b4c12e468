//! Read-side documents: a run with its analysis, a comparison of two runs,
//! an export. The CLI, the JSON API and the pages all call these, so every
//! surface shows the same numbers.

use std::path::Path;

use serde::Serialize;

use crate::analysis::{compare_runs, AcceptanceCriteria, RunComparison, RunReport};
use crate::harness::{write_folder, ExportedRun};
use crate::soak::LeakEstimate;
use crate::store::{RunRecord, SnapshotRow, Store, StoreError};

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

/// A run, its analysis, and (for callers that need them) its snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct RunDocument {
    pub run: RunRecord,
    #[serde(flatten)]
    pub report: RunReport,
    /// Leak slope of `hb` snapshots (B/h), per boot segment and overall.
    pub leak: LeakEstimate,
    #[serde(skip)]
    pub snapshots: Vec<SnapshotRow>,
}

impl RunDocument {
    #[tracing::instrument(skip(store, criteria))]
    pub async fn load(
        store: &Store,
        id: i64,
        criteria: &AcceptanceCriteria,
    ) -> Result<Self, ReportError> {
        let run = store.run(id).await?;
        let snapshots = store.snapshots(id).await?;
        let events = store
            .events(
                id,
                &[
                    "tripwire",
                    "task",
                    "task_dump",
                    "crash",
                    "alloc_failed",
                    "boot",
                ],
            )
            .await?;
        let report = RunReport::build(&snapshots, &events, criteria);
        let tripwire = events
            .iter()
            .filter(|e| e.kind == "tripwire")
            .find_map(|e| e.data["threshold"].as_i64());
        let leak = LeakEstimate::from_snapshots(&snapshots, tripwire);
        Ok(RunDocument {
            run,
            report,
            leak,
            snapshots,
        })
    }
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
        (&da.snapshots, &da.report.derived, &da.report.verdict),
        (&db.snapshots, &db.report.derived, &db.report.verdict),
    );
    Ok(ComparisonDocument {
        a: da.run,
        b: db.run,
        comparison,
    })
}

/// Writes a run as a harness folder.
pub async fn export(
    store: &Store,
    id: i64,
    dir: &Path,
    criteria: &AcceptanceCriteria,
) -> Result<(), ReportError> {
    let doc = RunDocument::load(store, id, criteria).await?;
    let events = store.events(id, &[]).await?;
    let lines = store.serial_lines(id, 0, i64::MAX, None).await?.lines;
    let health = store.health(id).await?;
    let dir_owned = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        write_folder(
            &dir_owned,
            &ExportedRun {
                run: &doc.run,
                snapshots: &doc.snapshots,
                events: &events,
                lines: &lines,
                health: &health,
                report: &doc.report,
            },
        )
    })
    .await
    .map_err(|e| ReportError::Write {
        path: dir.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|source| ReportError::Write {
        path: dir.display().to_string(),
        source,
    })
}
