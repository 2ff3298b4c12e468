//! Stored run summaries: opaque JSON to this layer (the shape belongs to
//! `analysis::RunSummary`), written with the rows they summarise and read
//! instead of them.

use sqlx::SqliteConnection;

use super::{now_us, Result, Store};

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
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT version, summary FROM run_summaries WHERE run_id = ?")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(version, json)| StoredSummary {
            version: u32::try_from(version).unwrap_or(0),
            json,
        }))
    }

    /// Stores a summary recomputed from the rows (a run recorded before
    /// summaries existed, or in an older format).
    #[tracing::instrument(skip(self, summary))]
    pub async fn put_run_summary(&self, run_id: i64, summary: &StoredSummary) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        upsert_summary(&mut conn, run_id, summary).await
    }

    /// Runs that have no summary of `version` yet (oldest first).
    #[tracing::instrument(skip(self))]
    pub async fn runs_without_summary(&self, version: u32) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT r.id FROM runs r LEFT JOIN run_summaries s ON s.run_id = r.id \
             WHERE s.run_id IS NULL OR s.version <> ? ORDER BY r.id",
        )
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn leak_cache(&self, run_id: i64) -> Result<Option<StoredLeak>> {
        let row: Option<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT leak, leak_snapshots FROM run_summaries WHERE run_id = ?")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some((Some(json), Some(snapshots))) => Some(StoredLeak { json, snapshots }),
            _ => None,
        })
    }

    /// Caches a leak estimate beside the run's summary (no-op when the run
    /// has no summary row yet).
    #[tracing::instrument(skip(self, leak))]
    pub async fn put_leak_cache(&self, run_id: i64, leak: &StoredLeak) -> Result<()> {
        sqlx::query("UPDATE run_summaries SET leak = ?, leak_snapshots = ? WHERE run_id = ?")
            .bind(&leak.json)
            .bind(leak.snapshots)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Inserts or replaces a run's summary on `conn` (inside the batch's
/// transaction when called from the writer). The leak cache is kept.
pub(super) async fn upsert_summary(
    conn: &mut SqliteConnection,
    run_id: i64,
    summary: &StoredSummary,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO run_summaries (run_id, version, summary, updated_us) VALUES (?,?,?,?) \
         ON CONFLICT(run_id) DO UPDATE SET version = excluded.version, \
         summary = excluded.summary, updated_us = excluded.updated_us",
    )
    .bind(run_id)
    .bind(i64::from(summary.version))
    .bind(&summary.json)
    .bind(now_us())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
