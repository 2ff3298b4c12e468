//! Reads for boot timelines: reset markers, crashes and activity across
//! a device's runs. A boot is a `boot` event with `marker = "reset"` (the
//! ROM prints one `rst:` line per boot).

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{Dialect, EventKind, EventRow, Result, Store};

/// A run's id and the span it covers (`ended_us` is `None` while active).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RunSpan {
    pub id: i64,
    pub started_us: i64,
    pub ended_us: Option<i64>,
}

/// How much earlier than its `rst:` line's stamp a boot may have begun by
/// a health sample's reckoning (stamp − uptime): the serial line reaches
/// the host a little after the boot, a health answer a little after it was
/// sent. A sample that puts the boot earlier still belongs to the boot
/// before.
const BOOT_STAMP_SLACK_US: i64 = 2_000_000;

/// `run_id IN (…)` with every id bound.
fn push_in_runs<DB: Database>(q: &mut QueryBuilder<DB>, runs: &[i64])
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    q.push(" run_id IN (");
    let mut list = q.separated(", ");
    for r in runs {
        list.push_bind(*r);
    }
    q.push(")");
}

/// The window `ts_us >= from AND ts_us < to`.
fn push_window<DB: Database>(q: &mut QueryBuilder<DB>, from_us: i64, to_us: i64)
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    q.push(" AND ts_us >= ")
        .push_bind(from_us)
        .push(" AND ts_us < ")
        .push_bind(to_us);
}

impl Store {
    /// Every run of a device with its span.
    #[tracing::instrument(skip(self))]
    pub async fn device_run_spans(&self, device_id: i64) -> Result<Vec<RunSpan>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, started_us, ended_us FROM runs WHERE device_id = $1"
        )
        .bind(device_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The device's runs that overlap `[from_us, to_us]`.
    #[tracing::instrument(skip(self))]
    pub async fn device_runs_overlapping(
        &self,
        device_id: i64,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM runs WHERE device_id = $1 AND started_us <= $2 \
             AND COALESCE(ended_us, $3) >= $4",
        )
        .bind(device_id)
        .bind(to_us)
        .bind(i64::MAX)
        .bind(from_us)
        .fetch_all(pool)
        .await)?)
    }

    /// The time of the run's last snapshot.
    #[tracing::instrument(skip(self))]
    pub async fn last_snapshot_ts(&self, run_id: i64) -> Result<Option<i64>> {
        let row: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT MAX(ts_us) FROM snapshots WHERE run_id = $1"
        )
        .bind(run_id)
        .fetch_one(pool)
        .await)?;
        let packed = self.packed_extent(run_id).await?.span.map(|(_, last)| last);
        Ok(row.max(packed))
    }

    /// Reset markers and crash events in `runs` within `[from_us, to_us]`,
    /// in time order, each with its run.
    #[tracing::instrument(skip(self))]
    pub async fn boot_markers(
        &self,
        runs: &[i64],
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(i64, EventRow)>> {
        // Crashes and resets are a handful among a run's events (a week
        // holds 100,000 task lines): read them through the kind index, one
        // range each, and merge by time.
        let hint = self.events_kind_hint();
        let is_reset = self.json_text("data", "marker");
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT run_id, seq, line_no, ts_us, boot, kind, message, data FROM (",
            );
            for (i, kind) in [EventKind::Crash, EventKind::Boot].into_iter().enumerate() {
                if i > 0 {
                    q.push(" UNION ALL ");
                }
                q.push(format!("SELECT * FROM events{hint} WHERE"));
                push_in_runs(&mut q, runs);
                q.push(" AND kind = ")
                    .push_bind(kind)
                    .push(" AND ts_us >= ")
                    .push_bind(from_us)
                    .push(" AND ts_us <= ")
                    .push_bind(to_us);
                if kind == EventKind::Boot {
                    q.push(format!(" AND {is_reset} = 'reset'"));
                }
            }
            q.push(") AS e ORDER BY ts_us, run_id, seq");
            let rows = q.build().fetch_all(pool).await?;
            use sqlx::{FromRow, Row};
            rows.iter()
                .map(|row| Ok((row.try_get("run_id")?, EventRow::from_row(row)?)))
                .collect::<std::result::Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// The last reset marker in `runs` before `before_us`: the boot running
    /// when a window opens (a soak starts mid-boot).
    #[tracing::instrument(skip(self))]
    pub async fn last_reset_before(&self, runs: &[i64], before_us: i64) -> Result<Option<i64>> {
        let hint = self.events_kind_hint();
        let marker = self.json_text("data", "marker");
        Ok(with_pool!(self, |pool| {
            let mut q =
                QueryBuilder::<Db>::new(format!("SELECT MAX(ts_us) FROM events{hint} WHERE"));
            push_in_runs(&mut q, runs);
            q.push(" AND kind = ")
                .push_bind(EventKind::Boot)
                .push(format!(" AND {marker} = 'reset' AND ts_us < "))
                .push_bind(before_us);
            q.build_query_scalar().fetch_one(pool).await
        })?)
    }

    /// The last snapshot or non-boot event in `[from_us, to_us)`: how long a
    /// boot ran before the next reset.
    #[tracing::instrument(skip(self))]
    pub async fn last_activity(
        &self,
        runs: &[i64],
        from_us: i64,
        to_us: i64,
    ) -> Result<Option<i64>> {
        let packed = self.packed_last_in(runs, from_us, to_us).await?;
        let rows = with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new("SELECT MAX(ts_us) FROM snapshots WHERE");
            push_in_runs(&mut q, runs);
            push_window(&mut q, from_us, to_us);
            let snapshot: Option<i64> = q.build_query_scalar().fetch_one(pool).await?;
            let mut q = QueryBuilder::<Db>::new("SELECT MAX(ts_us) FROM events WHERE");
            push_in_runs(&mut q, runs);
            push_window(&mut q, from_us, to_us);
            q.push(" AND kind NOT IN (")
                .push_bind(EventKind::Boot)
                .push(", ")
                .push_bind(EventKind::Status)
                .push(")");
            let event: Option<i64> = q.build_query_scalar().fetch_one(pool).await?;
            Ok::<_, super::StoreError>(snapshot.max(event))
        })?;
        Ok(rows.max(packed))
    }

    /// The first `reset_reason` `/api/health` reported in `[from_us, to_us)`
    /// by the boot that began at `from_us`. A poll answered by the firmware
    /// just before it rebooted can be stamped after the new boot's `rst:`
    /// line; its uptime (how long before its stamp the device booted) gives
    /// it away as the previous boot's, and it is skipped.
    #[tracing::instrument(skip(self))]
    pub async fn first_health_reset_reason(
        &self,
        runs: &[i64],
        from_us: i64,
        to_us: i64,
    ) -> Result<Option<String>> {
        // A body that is not JSON has no reason; SQLite skips it with
        // json_valid, PostgreSQL (15 has no IS JSON) through
        // heaplab_jsonb_or_null, which answers NULL where a cast would fail.
        let (reason, valid) = match self.dialect() {
            Dialect::Sqlite => ("json_extract(raw, '$.reset_reason')", "json_valid(raw)"),
            Dialect::Postgres => ("(heaplab_jsonb_or_null(raw) ->> 'reset_reason')", "TRUE"),
        };
        Ok(with_pool!(self, |pool| {
            let mut q =
                QueryBuilder::<Db>::new(format!("SELECT {reason} FROM health_samples WHERE"));
            push_in_runs(&mut q, runs);
            push_window(&mut q, from_us, to_us);
            q.push(" AND (uptime_seconds IS NULL OR ts_us - uptime_seconds * 1000000 >= ")
                .push_bind(from_us.saturating_sub(BOOT_STAMP_SLACK_US))
                .push(")");
            q.push(format!(
                " AND {valid} AND {reason} IS NOT NULL ORDER BY ts_us LIMIT 1"
            ));
            q.build_query_scalar().fetch_optional(pool).await
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Batch, HealthRow, NewRun};
    use super::*;
    use crate::protocol::HealthSample;

    fn health(seq: i64, ts_us: i64, body: &str) -> HealthRow {
        HealthRow {
            seq,
            ts_us,
            http_status: Some(200),
            latency_ms: Some(5),
            sample: HealthSample::from_json(body.as_bytes()).ok(),
            raw: Some(body.to_owned()),
            error: None,
        }
    }

    async fn reason_after(store: &Store, run: i64, boot_us: i64) -> Option<String> {
        store
            .first_health_reset_reason(&[run], boot_us, i64::MAX)
            .await
            .expect("read")
    }

    /// The old firmware answers a poll, then reboots; the answer is stamped
    /// after the new boot's `rst:` line. The boot's reason is the next
    /// answer's, from the new firmware.
    #[tokio::test]
    async fn a_poll_answered_before_the_reboot_does_not_name_the_new_boot() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("boots.db"))
            .await
            .expect("open");
        let run = store.create_run(&NewRun::default()).await.expect("run");
        let boot_us = 1_000_000_000_000;
        let mut batch = Batch::new(run);
        batch.health = vec![
            health(
                0,
                boot_us + 200_000,
                r#"{"uptime_seconds": 20, "reset_reason": "POWERON"}"#,
            ),
            health(
                1,
                boot_us + 1_200_000,
                r#"{"uptime_seconds": 1, "reset_reason": "SW"}"#,
            ),
        ];
        store.write_batches(&[batch]).await.expect("write");
        assert_eq!(
            reason_after(&store, run, boot_us).await.as_deref(),
            Some("SW")
        );

        // A sample without an uptime cannot be told apart: it counts.
        let mut batch = Batch::new(run);
        batch.health = vec![health(2, boot_us + 100_000, r#"{"reset_reason": "PANIC"}"#)];
        store.write_batches(&[batch]).await.expect("write");
        assert_eq!(
            reason_after(&store, run, boot_us).await.as_deref(),
            Some("PANIC")
        );
    }
}
