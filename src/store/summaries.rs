//! Stored run summaries: opaque JSON to this layer (the shape belongs to
//! `analysis::RunSummary`), written with the rows they summarise and read
//! instead of them.

use super::{Result, Store};

/// A summary as stored, with the format version it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSummary {
    pub version: u32,
    pub json: String,
}

/// The cached leak estimate and the snapshot count it was computed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeak {
    pub json: String,
    pub snapshots: i64,
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn run_summary(&self, run_id: i64) -> Result<Option<StoredSummary>> {
        let row: Option<(i64, String)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT version, summary FROM run_summaries WHERE run_id = $1"
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(version, json)| StoredSummary {
            version: u32::try_from(version).unwrap_or(0),
            json,
        }))
    }

    /// Stores a summary recomputed from the rows (a run recorded before
    /// summaries existed, or in an older format).
    #[tracing::instrument(skip(self, summary))]
    pub async fn put_run_summary(&self, run_id: i64, summary: &StoredSummary) -> Result<()> {
        Ok(with_pool!(self, |pool| upsert_summary!(
            pool, run_id, summary
        ))?)
    }

    /// Runs that have no summary of `version` yet (oldest first).
    #[tracing::instrument(skip(self))]
    pub async fn runs_without_summary(&self, version: u32) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT r.id FROM runs r LEFT JOIN run_summaries s ON s.run_id = r.id \
             WHERE s.run_id IS NULL OR s.version <> $1 ORDER BY r.id",
        )
        .bind(i64::from(version))
        .fetch_all(pool)
        .await)?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn leak_cache(&self, run_id: i64) -> Result<Option<StoredLeak>> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT leak, leak_snapshots FROM run_summaries WHERE run_id = $1"
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(match row {
            Some((Some(json), Some(snapshots))) => Some(StoredLeak { json, snapshots }),
            _ => None,
        })
    }

    /// Caches a leak estimate beside the run's summary (no-op when the run
    /// has no summary row yet).
    #[tracing::instrument(skip(self, leak))]
    pub async fn put_leak_cache(&self, run_id: i64, leak: &StoredLeak) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE run_summaries SET leak = $1, leak_snapshots = $2 WHERE run_id = $3"
        )
        .bind(&leak.json)
        .bind(leak.snapshots)
        .bind(run_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }
}

/// Inserts or replaces a run's summary.
pub(super) const UPSERT_SUMMARY: &str =
    "INSERT INTO run_summaries (run_id, version, summary, updated_us) VALUES ($1,$2,$3,$4) \
     ON CONFLICT(run_id) DO UPDATE SET version = excluded.version, \
     summary = excluded.summary, updated_us = excluded.updated_us";

/// Drops a run's summary that rows written without one made stale.
pub(super) const DROP_SUMMARY: &str = "DELETE FROM run_summaries WHERE run_id = $1";

/// Inserts or replaces a run's summary on `$conn` (inside the batch's
/// transaction when called from the writer), on either backend's
/// connection. The leak cache is kept.
macro_rules! upsert_summary {
    ($conn:expr, $run_id:expr, $summary:expr) => {
        sqlx::query($crate::store::summaries::UPSERT_SUMMARY)
            .bind($run_id)
            .bind(i64::from($summary.version))
            .bind(&$summary.json)
            .bind($crate::store::now_us())
            .execute($conn)
            .await
            .map(|_| ())
    };
}
pub(super) use upsert_summary;
