//! Reads of a run's recorded content.

use serde::Serialize;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::snapshot_blocks::merge_by_seq;
use super::{
    Dialect, EventKind, EventRow, HealthRow, PageRequest, Result, SerialLineRow, SnapshotRow, Store,
};
use crate::protocol::HEARTBEAT_TAG;

/// One page of serial lines plus the total that matched.
#[derive(Debug, Clone, Serialize)]
pub struct SerialPage {
    pub total: i64,
    pub lines: Vec<SerialLineRow>,
}

impl Store {
    /// Every snapshot of a run in order (a whole run: for exports and
    /// recomputation, never for a page).
    pub async fn snapshots(&self, run_id: i64) -> Result<Vec<SnapshotRow>> {
        self.snapshots_page(run_id, PageRequest::ALL).await
    }

    /// Events of a run in order, optionally only the given kinds.
    pub async fn events(&self, run_id: i64, kinds: &[EventKind]) -> Result<Vec<EventRow>> {
        self.events_page(run_id, kinds, PageRequest::ALL).await
    }

    /// Every `/api/health` poll of a run in order.
    pub async fn health(&self, run_id: i64) -> Result<Vec<HealthRow>> {
        self.health_page(run_id, PageRequest::ALL).await
    }

    /// A page of serial lines, optionally only those containing `search`
    /// (case-insensitive for ASCII, as SQLite's `LIKE` is). Lines compacted
    /// by retention (`serial_blocks`) are included.
    pub async fn serial_lines(
        &self,
        run_id: i64,
        offset: i64,
        limit: i64,
        search: Option<&str>,
    ) -> Result<SerialPage> {
        if self.has_serial_blocks(run_id).await? {
            if search.is_none() {
                return self
                    .serial_blocks_by_number(run_id, SerialStart::Offset(offset), limit)
                    .await;
            }
            return self
                .serial_lines_with_blocks(run_id, offset, limit, search)
                .await;
        }
        self.serial_lines_raw(run_id, offset, limit, search).await
    }

    /// The lines after line number `after` (a keyset page: follow the last
    /// line's number to the next page; cost does not grow with the page's
    /// place in the log).
    pub async fn serial_lines_after(
        &self,
        run_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<SerialPage> {
        let start = SerialStart::AfterLine(after);
        if self.has_serial_blocks(run_id).await? {
            return self.serial_blocks_by_number(run_id, start, limit).await;
        }
        self.serial_lines_by_number(run_id, start, limit).await
    }

    /// [`Store::serial_lines`] over the raw (uncompacted) lines only.
    #[tracing::instrument(skip(self))]
    pub async fn serial_lines_raw(
        &self,
        run_id: i64,
        offset: i64,
        limit: i64,
        search: Option<&str>,
    ) -> Result<SerialPage> {
        let Some(search) = search else {
            return self
                .serial_lines_by_number(run_id, SerialStart::Offset(offset), limit)
                .await;
        };
        let pattern = super::contains_pattern(search);
        // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE.
        let like = match self.dialect() {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        let filter = format!("run_id = $1 AND text {like} $2 ESCAPE '\\'");
        let (total, lines) = with_pool!(self, |pool| {
            let total = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM serial_lines WHERE {filter}"
            )))
            .bind(run_id)
            .bind(&pattern)
            .fetch_one(pool)
            .await?;
            let lines = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE {filter} \
                 ORDER BY line_no LIMIT $3 OFFSET $4"
            )))
            .bind(run_id)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            (total, lines)
        });
        Ok(SerialPage { total, lines })
    }

    /// An unsearched page read by line number, so page 5,000 of a week-long
    /// log costs what page 1 does (an `OFFSET` reads and skips every line
    /// before it, a `COUNT` reads them all). A run's raw lines are numbered
    /// without gaps from its first kept line (retention only ever removes a
    /// run's oldest lines), so the range gives the total and the offset.
    async fn serial_lines_by_number(
        &self,
        run_id: i64,
        start: SerialStart,
        limit: i64,
    ) -> Result<SerialPage> {
        // Two one-row reads from the ends of the run's key range: SQLite
        // optimises a lone MIN or MAX, not both in one query (that scans).
        let first: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT line_no FROM serial_lines WHERE run_id = $1 ORDER BY line_no LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        let last: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT line_no FROM serial_lines WHERE run_id = $1 ORDER BY line_no DESC LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(SerialPage {
                total: 0,
                lines: Vec::new(),
            });
        };
        let lines = with_pool!(self, |pool| sqlx::query_as(
            "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE run_id = $1 \
             AND line_no >= $2 ORDER BY line_no LIMIT $3",
        )
        .bind(run_id)
        .bind(start.line(first))
        .bind(limit.max(0))
        .fetch_all(pool)
        .await)?;
        Ok(SerialPage {
            total: last - first + 1,
            lines,
        })
    }
}

/// Where an unsearched page of serial lines begins.
#[derive(Debug, Clone, Copy)]
pub(super) enum SerialStart {
    /// This many lines past the run's first kept line.
    Offset(i64),
    /// Just after this line number.
    AfterLine(i64),
}

impl SerialStart {
    /// The first line number of the page, given the run's first kept line.
    pub(super) fn line(self, first: i64) -> i64 {
        match self {
            SerialStart::Offset(offset) => first.saturating_add(offset.max(0)),
            SerialStart::AfterLine(after) => after.saturating_add(1).max(first),
        }
    }
}

impl Store {
    /// Reboots of a device since `since_us`: every boot prints one ROM
    /// `rst:` line; those that are not a power-on (`POWERON…`) are resets
    /// of a running device (software, panic, watchdog, brownout).
    pub async fn device_reboots_since(&self, device_id: i64, since_us: i64) -> Result<i64> {
        let (marker, reason) = (
            self.json_text("e.data", "marker"),
            self.json_text("e.data", "reason"),
        );
        let hint = self.events_kind_hint();
        // The JSON fields and the hint are constant expressions; the values
        // are bound. The kind index reaches a run's few boots; without it
        // SQLite walks every event since `since_us` (a week's 100,000 task
        // lines), 150 ms on each device tile.
        let sql = format!(
            "SELECT COUNT(*) FROM events e{hint} JOIN runs r ON r.id = e.run_id \
             WHERE r.device_id = $1 AND e.kind = $2 AND e.ts_us >= $3 \
             AND {marker} = 'reset' AND COALESCE({reason}, '') NOT LIKE 'POWERON%'"
        );
        Ok(with_pool!(self, |pool| sqlx::query_scalar(AssertSqlSafe(
            sql.clone()
        ))
        .bind(device_id)
        .bind(EventKind::Boot)
        .bind(since_us)
        .fetch_one(pool)
        .await)?)
    }
}

impl Store {
    /// The newest events of the given kinds across a device's runs.
    pub async fn device_events(
        &self,
        device_id: i64,
        kinds: &[EventKind],
        limit: i64,
    ) -> Result<Vec<(i64, EventRow)>> {
        // Through the kind index, as device_reboots_since: the kinds asked
        // for are a handful among a soak's task lines.
        let hint = self.events_kind_hint();
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT e.run_id, e.seq, e.line_no, e.ts_us, e.boot, e.kind, e.message, e.data \
                 FROM events e{hint} JOIN runs r ON r.id = e.run_id WHERE r.device_id = "
            ));
            q.push_bind(device_id);
            q.push(" AND e.kind IN (");
            let mut list = q.separated(", ");
            for kind in kinds {
                list.push_bind(*kind);
            }
            q.push(") ORDER BY e.ts_us DESC, e.seq DESC LIMIT ")
                .push_bind(limit);
            let rows = q.build().fetch_all(pool).await?;
            use sqlx::{FromRow, Row};
            rows.iter()
                .map(|row| Ok((row.try_get("run_id")?, EventRow::from_row(row)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }
}

impl Store {
    /// A run's snapshots between two instants (inclusive), for charts of a
    /// zoomed window.
    pub async fn snapshots_between(
        &self,
        run_id: i64,
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Result<Vec<SnapshotRow>> {
        let (from_us, to_us) = (from_us.unwrap_or(i64::MIN), to_us.unwrap_or(i64::MAX));
        let rows: Vec<SnapshotRow> = with_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT seq, line_no, ts_us, elapsed_ms, boot, tag, hf, hm, hl, hi, hin, frag, pf, \
             pm, pl, extras FROM snapshots WHERE run_id = $1 AND ts_us >= $2 AND ts_us <= $3 ORDER BY seq",
        )
        .bind(run_id)
        .bind(from_us)
        .bind(to_us)
        .fetch_all(pool)
        .await
        })?;
        let packed = self.packed_between(run_id, from_us, to_us).await?;
        Ok(merge_by_seq(rows, packed, i64::MAX, |r| r.seq))
    }
}

/// One steady-state (`hb`) sample's heap figures, for leak slopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct HeapPoint {
    pub ts_us: i64,
    pub boot: i64,
    pub hi: Option<i64>,
    pub pf: Option<i64>,
}

/// A heartbeat sample and its `seq`: what rows and packed blocks are
/// merged by.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(super) struct NumberedPoint {
    pub seq: i64,
    #[sqlx(flatten)]
    pub point: HeapPoint,
}

impl Store {
    /// A run's heartbeat samples in order, read without whole snapshots.
    #[tracing::instrument(skip(self))]
    pub async fn heartbeat_points(&self, run_id: i64) -> Result<Vec<HeapPoint>> {
        let rows: Vec<NumberedPoint> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, ts_us, boot, hi, pf FROM snapshots WHERE run_id = $1 AND tag = $2 \
             ORDER BY seq",
        )
        .bind(run_id)
        .bind(HEARTBEAT_TAG)
        .fetch_all(pool)
        .await)?;
        let packed = self.packed_heartbeats(run_id).await?;
        let merged = merge_by_seq(rows, packed, i64::MAX, |p| p.seq);
        Ok(merged.into_iter().map(|p| p.point).collect())
    }

    /// The threshold of the run's first tripwire, if one fired.
    #[tracing::instrument(skip(self))]
    pub async fn tripwire_threshold(&self, run_id: i64) -> Result<Option<i64>> {
        // A JSON number: SQLite's json_extract gives an integer, PostgreSQL's
        // ->> text, cast back.
        let threshold = match self.dialect() {
            Dialect::Sqlite => "json_extract(data, '$.threshold')".to_owned(),
            Dialect::Postgres => "(data::jsonb ->> 'threshold')::BIGINT".to_owned(),
        };
        let sql = format!(
            "SELECT {threshold} FROM events WHERE run_id = $1 AND kind = $2 ORDER BY seq LIMIT 1"
        );
        Ok(
            with_pool!(self, |pool| sqlx::query_scalar(AssertSqlSafe(sql.clone()),)
                .bind(run_id)
                .bind(EventKind::Tripwire)
                .fetch_optional(pool)
                .await)?
            .flatten(),
        )
    }
}

impl Store {
    /// Raw serial lines stored across all runs (what the ingest benchmark
    /// counts as written).
    pub async fn serial_line_count(&self) -> Result<i64> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM serial_lines"
        )
        .fetch_one(pool)
        .await)?)
    }
}

impl Store {
    /// Snapshots stored for a run (a count over the run's key range, and
    /// the packed blocks' counts).
    #[tracing::instrument(skip(self))]
    pub async fn snapshot_count(&self, run_id: i64) -> Result<i64> {
        let rows: i64 = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM snapshots WHERE run_id = $1"
        )
        .bind(run_id)
        .fetch_one(pool)
        .await)?;
        Ok(rows + self.packed_extent(run_id).await?.count)
    }
}
