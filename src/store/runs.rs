//! Runs: one device's recording over a span of time (a boot, a soak, a
//! scenario or an imported artifact folder).

use serde::Serialize;
use serde_json::Value;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{Result, Store, StoreError};

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// The device's run for one boot, outside any scenario or soak.
    Live,
    /// A soak spans reboots until it is stopped.
    Soak,
    Scenario,
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Active,
    Completed,
    /// The server stopped (or the device vanished) while it was active.
    Interrupted,
    Failed,
}

impl RunKind {
    /// The stored and serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunKind::Live => "live",
            RunKind::Soak => "soak",
            RunKind::Scenario => "scenario",
            RunKind::Import => "import",
        }
    }
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Active => "active",
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

/// What is known about a run when it is created.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub device_id: Option<i64>,
    pub kind: Option<RunKind>,
    pub scenario: Option<String>,
    pub label: Option<String>,
    pub board: Option<String>,
    pub firmware_version: Option<String>,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    pub git_dirty: Option<bool>,
    pub started_us: i64,
    pub ended_us: Option<i64>,
    pub status: Option<RunStatus>,
    pub notes: Option<String>,
    pub source: Option<String>,
    pub source_digest: Option<String>,
    pub meta: Option<Value>,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub kind: RunKind,
    pub scenario: Option<String>,
    pub label: Option<String>,
    pub board: Option<String>,
    pub firmware_version: Option<String>,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    pub git_dirty: Option<bool>,
    pub started_us: i64,
    pub ended_us: Option<i64>,
    pub status: RunStatus,
    pub notes: Option<String>,
    pub source: Option<String>,
    pub meta: Option<Value>,
}

from_row_on_both!(RunRecord, |row| {
    let meta: Option<String> = row.try_get("meta")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        device_id: row.try_get("device_id")?,
        device_name: row.try_get("device_name")?,
        kind: row.try_get("kind")?,
        scenario: row.try_get("scenario")?,
        label: row.try_get("label")?,
        board: row.try_get("board")?,
        firmware_version: row.try_get("firmware_version")?,
        git_commit: row.try_get("git_commit")?,
        git_branch: row.try_get("git_branch")?,
        git_dirty: row.try_get("git_dirty")?,
        started_us: row.try_get("started_us")?,
        ended_us: row.try_get("ended_us")?,
        status: row.try_get("status")?,
        notes: row.try_get("notes")?,
        source: row.try_get("source")?,
        meta: meta.and_then(|m| serde_json::from_str(&m).ok()),
    })
});

/// Filters for listing runs; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub device_id: Option<i64>,
    pub scenario: Option<String>,
    pub status: Option<RunStatus>,
    pub since_us: Option<i64>,
    /// Runs started before this time (the end of a picked date).
    pub until_us: Option<i64>,
    /// Text found in the label, scenario, device name or firmware version
    /// (case-insensitive for ASCII): what a person types to find a run.
    pub text: Option<String>,
    pub limit: Option<i64>,
    /// Keyset cursor: only runs that come after this run in the listing.
    pub after: Option<i64>,
}

const RUN_COLUMNS: &str = "SELECT r.id, r.device_id, d.name AS device_name, r.kind, r.scenario, \
     r.label, r.board, r.firmware_version, r.git_commit, r.git_branch, r.git_dirty, \
     r.started_us, r.ended_us, r.status, r.notes, r.source, r.meta \
     FROM runs r LEFT JOIN devices d ON d.id = r.device_id";

impl Store {
    #[tracing::instrument(skip_all)]
    pub async fn create_run(&self, run: &NewRun) -> Result<i64> {
        let meta = run.meta.as_ref().map(serde_json::to_string).transpose()?;
        let id = with_pool!(self, |pool| sqlx::query_scalar(
            "INSERT INTO runs (device_id, kind, scenario, label, board, firmware_version, \
             git_commit, git_branch, git_dirty, started_us, ended_us, status, notes, source, \
             source_digest, meta) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) \
             RETURNING id",
        )
        .bind(run.device_id)
        .bind(run.kind.unwrap_or(RunKind::Import))
        .bind(&run.scenario)
        .bind(&run.label)
        .bind(&run.board)
        .bind(&run.firmware_version)
        .bind(&run.git_commit)
        .bind(&run.git_branch)
        .bind(run.git_dirty)
        .bind(run.started_us)
        .bind(run.ended_us)
        .bind(run.status.unwrap_or(RunStatus::Active))
        .bind(&run.notes)
        .bind(&run.source)
        .bind(&run.source_digest)
        .bind(meta)
        .fetch_one(pool)
        .await)?;
        Ok(id)
    }

    #[tracing::instrument(skip(self))]
    pub async fn run(&self, id: i64) -> Result<RunRecord> {
        with_pool!(self, |pool| sqlx::query_as(AssertSqlSafe(format!(
            "{RUN_COLUMNS} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await)?
        .ok_or(StoreError::NotFound {
            what: "run",
            id: id.to_string(),
        })
    }

    /// The run already imported from content with this digest, if any.
    pub async fn run_by_digest(&self, digest: &str) -> Result<Option<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM runs WHERE source_digest = $1"
        )
        .bind(digest)
        .fetch_optional(pool)
        .await)?)
    }

    /// Runs, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE.
        let like = match self.dialect() {
            super::Dialect::Sqlite => "LIKE",
            super::Dialect::Postgres => "ILIKE",
        };
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(RUN_COLUMNS);
            q.push(" WHERE 1=1");
            if let Some(device) = filter.device_id {
                q.push(" AND r.device_id = ").push_bind(device);
            }
            if let Some(scenario) = &filter.scenario {
                q.push(" AND r.scenario = ").push_bind(scenario.clone());
            }
            if let Some(status) = filter.status {
                q.push(" AND r.status = ").push_bind(status);
            }
            if let Some(since) = filter.since_us {
                q.push(" AND r.started_us >= ").push_bind(since);
            }
            if let Some(until) = filter.until_us {
                q.push(" AND r.started_us < ").push_bind(until);
            }
            if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
                let pattern = super::contains_pattern(text);
                q.push(" AND (");
                let mut any = q.separated(" OR ");
                for column in ["r.label", "r.scenario", "d.name", "r.firmware_version"] {
                    any.push(format!("{column} {like} "))
                        .push_bind_unseparated(pattern.clone())
                        .push_unseparated(" ESCAPE '\\'");
                }
                q.push(")");
            }
            if let Some(after) = filter.after {
                // Keyset: the runs listed after run `after` in this order.
                q.push(" AND (r.started_us, r.id) < (SELECT started_us, id FROM runs WHERE id = ")
                    .push_bind(after)
                    .push(")");
            }
            q.push(" ORDER BY r.started_us DESC, r.id DESC LIMIT ")
                .push_bind(filter.limit.unwrap_or(500));
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }

    /// Closes a run with its final status.
    #[tracing::instrument(skip(self))]
    pub async fn finish_run(&self, id: i64, status: RunStatus, ended_us: i64) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE runs SET status = $1, ended_us = $2 WHERE id = $3"
        )
        .bind(status)
        .bind(ended_us)
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Records the firmware version once the boot log names it.
    pub async fn set_run_firmware(&self, id: i64, version: &str) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE runs SET firmware_version = $1 WHERE id = $2"
        )
        .bind(version)
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_run(&self, id: i64) -> Result<()> {
        let done = with_pool!(self, |pool| sqlx::query("DELETE FROM runs WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "run",
                id: id.to_string(),
            });
        }
        Ok(())
    }
}

impl Store {
    /// Runs still `active` from a server that did not shut down cleanly are
    /// closed as `interrupted` at their last recorded moment.
    pub async fn interrupt_stale_runs(&self) -> Result<u64> {
        let done = with_pool!(self, |pool| sqlx::query(
            "UPDATE runs SET status = 'interrupted', ended_us = COALESCE( \
               (SELECT MAX(ts_us) FROM serial_lines WHERE run_id = runs.id), started_us) \
             WHERE status = 'active' AND kind != 'import'",
        )
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(done)
    }
}

impl Store {
    /// Every scenario name a run or group was recorded under, sorted: the
    /// choices of a scenario filter.
    #[tracing::instrument(skip(self))]
    pub async fn scenario_names(&self) -> Result<Vec<String>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT scenario FROM runs WHERE scenario IS NOT NULL \
             UNION SELECT scenario FROM run_groups WHERE scenario IS NOT NULL ORDER BY 1",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The device's newest run, active or not.
    #[tracing::instrument(skip(self))]
    pub async fn latest_run_of_device(&self, device_id: i64) -> Result<Option<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM runs WHERE device_id = $1 ORDER BY started_us DESC, id DESC LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(pool)
        .await)?)
    }
}
