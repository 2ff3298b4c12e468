//! Reads of a run's recorded content.

use serde::Serialize;
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite};

use super::{EventRow, HealthRow, Result, SerialLineRow, SnapshotRow, Store};

/// One page of serial lines plus the total that matched.
#[derive(Debug, Clone, Serialize)]
pub struct SerialPage {
    pub total: i64,
    pub lines: Vec<SerialLineRow>,
}

impl Store {
    /// Every snapshot of a run in order.
    #[tracing::instrument(skip(self))]
    pub async fn snapshots(&self, run_id: i64) -> Result<Vec<SnapshotRow>> {
        Ok(sqlx::query_as(
            "SELECT seq, line_no, ts_us, elapsed_ms, boot, tag, hf, hm, hl, hi, hin, frag, pf, \
             pm, pl, extras FROM snapshots WHERE run_id = ? ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Events of a run in order, optionally only the given kinds.
    #[tracing::instrument(skip(self))]
    pub async fn events(&self, run_id: i64, kinds: &[&str]) -> Result<Vec<EventRow>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT seq, line_no, ts_us, boot, kind, message, data FROM events WHERE run_id = ",
        );
        q.push_bind(run_id);
        if !kinds.is_empty() {
            q.push(" AND kind IN (");
            let mut list = q.separated(", ");
            for kind in kinds {
                list.push_bind(kind.to_string());
            }
            q.push(")");
        }
        q.push(" ORDER BY seq");
        Ok(q.build_query_as().fetch_all(&self.pool).await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn health(&self, run_id: i64) -> Result<Vec<HealthRow>> {
        Ok(sqlx::query_as(
            "SELECT seq, ts_us, http_status, latency_ms, raw, error FROM health_samples \
             WHERE run_id = ? ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A page of serial lines, optionally only those containing `search`
    /// (case-insensitive for ASCII, as SQLite's `LIKE` is).
    #[tracing::instrument(skip(self))]
    pub async fn serial_lines(
        &self,
        run_id: i64,
        offset: i64,
        limit: i64,
        search: Option<&str>,
    ) -> Result<SerialPage> {
        let pattern = search.map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let filter = if pattern.is_some() {
            " AND text LIKE ? ESCAPE '\\'"
        } else {
            ""
        };
        // `filter` is one of two constant strings; the pattern is bound.
        let mut count = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM serial_lines WHERE run_id = ?{filter}"
        )))
        .bind(run_id);
        let mut page = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE run_id = ?{filter} \
             ORDER BY line_no LIMIT ? OFFSET ?"
        )))
        .bind(run_id);
        if let Some(p) = &pattern {
            count = count.bind(p.clone());
            page = page.bind(p.clone());
        }
        let total = count.fetch_one(&self.pool).await?;
        let lines = page.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        Ok(SerialPage { total, lines })
    }
}
