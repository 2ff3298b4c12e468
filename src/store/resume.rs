//! Where an interrupted run stands, so a restarted server can go on with
//! it: a board that kept running while the server was down is still in the
//! same run, numbered on from its last row.

use super::{Result, RunKind, RunStatus, Store, StoredSummary};

/// The numbers an interrupted run's recording would go on from.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    pub run_id: i64,
    pub kind: RunKind,
    /// When the run was closed (the server's shutdown, or its last line
    /// after a crash): a board up since before then did not reboot.
    pub ended_us: i64,
    pub next_line: i64,
    pub next_snapshot: i64,
    pub next_event: i64,
    pub next_health: i64,
    pub boot: i64,
    pub summary: Option<StoredSummary>,
}

impl Store {
    /// The device's newest run if it is a live or soak run that was
    /// interrupted (rather than completed or failed).
    #[tracing::instrument(skip(self))]
    pub async fn resume_point(&self, device_id: i64) -> Result<Option<ResumePoint>> {
        let newest: Option<(i64, RunKind, RunStatus, Option<i64>, i64)> =
            with_pool!(self, |pool| sqlx::query_as(
                "SELECT id, kind, status, ended_us, started_us FROM runs WHERE device_id = $1 \
             ORDER BY started_us DESC, id DESC LIMIT 1",
            )
            .bind(device_id)
            .fetch_optional(pool)
            .await)?;
        let Some((run_id, kind, status, ended_us, started_us)) = newest else {
            return Ok(None);
        };
        if status != RunStatus::Interrupted || !matches!(kind, RunKind::Live | RunKind::Soak) {
            return Ok(None);
        }
        // Each maximum is one seek down the end of the run's key range.
        let last = |sql: &'static str| async move {
            with_pool!(self, |pool| sqlx::query_scalar::<_, i64>(sql)
                .bind(run_id)
                .fetch_optional(pool)
                .await)
            .map(|v| v.unwrap_or(0))
        };
        let raw_line = last(
            "SELECT line_no FROM serial_lines WHERE run_id = $1 ORDER BY line_no DESC LIMIT 1",
        )
        .await?;
        let block_line = last(
            "SELECT last_line FROM serial_blocks WHERE run_id = $1 ORDER BY first_line DESC LIMIT 1",
        )
        .await?;
        let snapshot =
            last("SELECT seq FROM snapshots WHERE run_id = $1 ORDER BY seq DESC LIMIT 1").await?;
        let event =
            last("SELECT seq FROM events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1").await?;
        let health =
            last("SELECT seq FROM health_samples WHERE run_id = $1 ORDER BY seq DESC LIMIT 1")
                .await?;
        let snapshot_boot =
            last("SELECT boot FROM snapshots WHERE run_id = $1 ORDER BY seq DESC LIMIT 1").await?;
        // A packed snapshot after the last row is the run's last.
        let (snapshot, snapshot_boot) = match self.packed_extent(run_id).await?.last {
            Some((seq, boot)) if seq > snapshot => (seq, boot),
            _ => (snapshot, snapshot_boot),
        };
        let event_boot =
            last("SELECT boot FROM events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1").await?;
        Ok(Some(ResumePoint {
            run_id,
            kind,
            ended_us: ended_us.unwrap_or(started_us),
            next_line: raw_line.max(block_line) + 1,
            next_snapshot: snapshot + 1,
            next_event: event + 1,
            next_health: health + 1,
            boot: snapshot_boot.max(event_boot),
            summary: self.run_summary(run_id).await?,
        }))
    }

    /// Makes an interrupted run active again.
    #[tracing::instrument(skip(self))]
    pub async fn reopen_run(&self, run_id: i64) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE runs SET status = 'active', ended_us = NULL WHERE id = $1"
        )
        .bind(run_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }
}

impl Store {
    /// Hands a finished run to a device as its interrupted soak, so the
    /// next server start records on into it. `heaplab bench soak` times a
    /// device page whose live run already holds a week this way, without
    /// recording a week first.
    #[tracing::instrument(skip(self))]
    pub async fn adopt_as_interrupted_soak(
        &self,
        run_id: i64,
        device_id: i64,
        ended_us: i64,
    ) -> Result<()> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
            "UPDATE runs SET device_id = $1, kind = 'soak', status = 'interrupted', ended_us = $2 \
             WHERE id = $3",
        )
        .bind(device_id)
        .bind(ended_us)
        .bind(run_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        })?;
        if done == 0 {
            return Err(super::StoreError::NotFound {
                what: "run",
                id: run_id.to_string(),
            });
        }
        Ok(())
    }
}
