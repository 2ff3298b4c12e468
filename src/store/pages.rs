//! Keyset-paged reads of a run's rows: `after` is the last key the caller
//! saw, so a page costs the same at row 10 as at row 600,000 (an `OFFSET`
//! would read and skip everything before it), and rows written while a
//! client pages through are neither skipped nor repeated.

use sqlx::QueryBuilder;

use super::snapshot_blocks::merge_by_seq;
use super::{EventKind, EventRow, HealthRow, Result, SnapshotRow, Store};

/// Which rows of a run, from where, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The last `seq` (or `line_no`) already seen; 0 starts at the beginning.
    pub after: i64,
    pub limit: i64,
}

impl PageRequest {
    /// Every row: what a whole-run read is.
    pub const ALL: PageRequest = PageRequest {
        after: 0,
        limit: i64::MAX,
    };
}

const HEALTH_COLUMNS: &str =
    "SELECT seq, ts_us, http_status, latency_ms, raw, error FROM health_samples WHERE run_id = $1";

impl Store {
    /// Snapshots with `seq > after`, in order, rows and packed blocks
    /// alike.
    #[tracing::instrument(skip(self))]
    pub async fn snapshots_page(&self, run_id: i64, page: PageRequest) -> Result<Vec<SnapshotRow>> {
        let rows = self.snapshot_rows_page(run_id, page).await?;
        let packed = self.packed_page(run_id, page.after, page.limit).await?;
        Ok(merge_by_seq(rows, packed, page.limit, |r| r.seq))
    }

    async fn snapshot_rows_page(&self, run_id: i64, page: PageRequest) -> Result<Vec<SnapshotRow>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, line_no, ts_us, elapsed_ms, boot, tag, hf, hm, hl, hi, hin, frag, pf, \
             pm, pl, extras FROM snapshots WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Events with `seq > after`, optionally only the given kinds, in order.
    #[tracing::instrument(skip(self))]
    pub async fn events_page(
        &self,
        run_id: i64,
        kinds: &[EventKind],
        page: PageRequest,
    ) -> Result<Vec<EventRow>> {
        // With kinds, the kind index (whose entries end in seq, the table's
        // key) reads just those events in order; the planner would rather
        // walk the whole run by key.
        let index = if kinds.is_empty() {
            ""
        } else {
            self.events_kind_hint()
        };
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT seq, line_no, ts_us, boot, kind, message, data FROM events{index} WHERE run_id = "
        ));
            q.push_bind(run_id)
                .push(" AND seq > ")
                .push_bind(page.after);
            if !kinds.is_empty() {
                q.push(" AND kind IN (");
                let mut list = q.separated(", ");
                for kind in kinds {
                    list.push_bind(*kind);
                }
                q.push(")");
            }
            q.push(" ORDER BY seq LIMIT ").push_bind(page.limit);
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Health polls with `seq > after`, in order.
    #[tracing::instrument(skip(self))]
    pub async fn health_page(&self, run_id: i64, page: PageRequest) -> Result<Vec<HealthRow>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!(
                "{HEALTH_COLUMNS} AND seq > $2 ORDER BY seq LIMIT $3"
            ))
        )
        .bind(run_id)
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(pool)
        .await)?)
    }

    /// The newest `limit` health polls, newest first (the run page's table).
    #[tracing::instrument(skip(self))]
    pub async fn latest_health(&self, run_id: i64, limit: i64) -> Result<Vec<HealthRow>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!("{HEALTH_COLUMNS} ORDER BY seq DESC LIMIT $2"))
        )
        .bind(run_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Events of the given kinds inside `[from_us, to_us]` (a chart's
    /// window), in order, through the kind index.
    #[tracing::instrument(skip(self))]
    pub async fn events_in_window(
        &self,
        run_id: i64,
        kinds: &[EventKind],
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Result<Vec<EventRow>> {
        let hint = self.events_kind_hint();
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT seq, line_no, ts_us, boot, kind, message, data FROM events{hint} WHERE run_id = "
        ));
            q.push_bind(run_id).push(" AND kind IN (");
            let mut list = q.separated(", ");
            for kind in kinds {
                list.push_bind(*kind);
            }
            q.push(") AND ts_us >= ")
                .push_bind(from_us.unwrap_or(i64::MIN))
                .push(" AND ts_us <= ")
                .push_bind(to_us.unwrap_or(i64::MAX))
                .push(" ORDER BY seq");
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Boot resets, tripwires, crashes and allocation failures, the first
    /// `limit` in order: the markers of a run page and its chart.
    #[tracing::instrument(skip(self))]
    pub async fn marker_events(&self, run_id: i64, limit: i64) -> Result<Vec<EventRow>> {
        // Two index ranges merged by seq: with an OR the planner walks every
        // event of the run (100,000 task lines in a week-long one).
        let (hint, marker) = (self.events_kind_hint(), self.json_text("data", "marker"));
        let sql = format!(
            "SELECT seq, line_no, ts_us, boot, kind, message, data FROM ( \
             SELECT * FROM events{hint} WHERE run_id = $1 AND kind IN ($2, $3, $4) \
             UNION ALL \
             SELECT * FROM events{hint} WHERE run_id = $5 AND kind = $6 \
             AND {marker} = 'reset') AS e ORDER BY seq LIMIT $7"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(run_id)
        .bind(EventKind::Tripwire)
        .bind(EventKind::Crash)
        .bind(EventKind::AllocFailed)
        .bind(run_id)
        .bind(EventKind::Boot)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }
}
