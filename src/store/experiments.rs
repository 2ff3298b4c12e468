//! Experiments-log rows and their links to runs and run groups.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{now_us, Result, Store, StoreError};

/// One stored experiment (cells as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct ExperimentRecord {
    pub id: i64,
    pub section: String,
    pub position: i64,
    pub date: String,
    pub branch_commit: String,
    pub board: String,
    pub change: String,
    pub scenarios: String,
    pub artifacts: String,
    pub hin_min: String,
    pub frag_max: String,
    pub psram_free_min: String,
    pub tripwire: String,
    pub notes: String,
    pub status: String,
    pub baseline_id: Option<i64>,
}

/// The editable fields; `None` leaves a field unchanged on update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFields {
    pub section: Option<String>,
    pub position: Option<i64>,
    pub date: Option<String>,
    pub branch_commit: Option<String>,
    pub board: Option<String>,
    pub change: Option<String>,
    pub scenarios: Option<String>,
    pub artifacts: Option<String>,
    pub hin_min: Option<String>,
    pub frag_max: Option<String>,
    pub psram_free_min: Option<String>,
    pub tripwire: Option<String>,
    pub notes: Option<String>,
    pub status: Option<String>,
    /// `Some(None)` clears the baseline.
    #[serde(default, with = "double_option")]
    pub baseline_id: Option<Option<i64>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<i64>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

const COLUMNS: &str = "id, section, position, date, branch_commit, board, change, scenarios, \
    artifacts, hin_min, frag_max, psram_free_min, tripwire, notes, status, baseline_id";

impl Store {
    pub async fn experiments(&self) -> Result<Vec<ExperimentRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM experiments ORDER BY section, date, position, id"
            ))
        )
        .fetch_all(pool)
        .await)?)
    }

    pub async fn experiment(&self, id: i64) -> Result<ExperimentRecord> {
        with_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM experiments WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await)?
        .ok_or(StoreError::NotFound {
            what: "experiment",
            id: id.to_string(),
        })
    }

    pub async fn create_experiment(&self, f: &ExperimentFields) -> Result<ExperimentRecord> {
        let now = now_us();
        let position = match f.position {
            Some(p) => p,
            None => with_pool!(self, |pool| sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM experiments",
            )
            .fetch_one(pool)
            .await)?,
        };
        let id = with_pool!(self, |pool| sqlx::query_scalar(
            "INSERT INTO experiments (section, position, date, branch_commit, board, change, scenarios, \
             artifacts, hin_min, frag_max, psram_free_min, tripwire, notes, status, baseline_id, \
             created_us, updated_us) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) \
             RETURNING id",
        )
        .bind(f.section.as_deref().unwrap_or("log"))
        .bind(position)
        .bind(f.date.as_deref().unwrap_or(""))
        .bind(f.branch_commit.as_deref().unwrap_or(""))
        .bind(f.board.as_deref().unwrap_or(""))
        .bind(f.change.as_deref().unwrap_or(""))
        .bind(f.scenarios.as_deref().unwrap_or(""))
        .bind(f.artifacts.as_deref().unwrap_or(""))
        .bind(f.hin_min.as_deref().unwrap_or(""))
        .bind(f.frag_max.as_deref().unwrap_or(""))
        .bind(f.psram_free_min.as_deref().unwrap_or(""))
        .bind(f.tripwire.as_deref().unwrap_or(""))
        .bind(f.notes.as_deref().unwrap_or(""))
        .bind(f.status.as_deref().unwrap_or("candidate"))
        .bind(f.baseline_id.flatten())
        .bind(now)
        .bind(now)
        .fetch_one(pool)
        .await)
        .map_err(baseline_violation)?;
        self.experiment(id).await
    }

    pub async fn update_experiment(
        &self,
        id: i64,
        f: &ExperimentFields,
    ) -> Result<ExperimentRecord> {
        let mut e = self.experiment(id).await?;
        let set = |slot: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                slot.clone_from(v);
            }
        };
        set(&mut e.section, &f.section);
        set(&mut e.date, &f.date);
        set(&mut e.branch_commit, &f.branch_commit);
        set(&mut e.board, &f.board);
        set(&mut e.change, &f.change);
        set(&mut e.scenarios, &f.scenarios);
        set(&mut e.artifacts, &f.artifacts);
        set(&mut e.hin_min, &f.hin_min);
        set(&mut e.frag_max, &f.frag_max);
        set(&mut e.psram_free_min, &f.psram_free_min);
        set(&mut e.tripwire, &f.tripwire);
        set(&mut e.notes, &f.notes);
        set(&mut e.status, &f.status);
        if let Some(p) = f.position {
            e.position = p;
        }
        if let Some(b) = f.baseline_id {
            if b == Some(id) {
                return Err(StoreError::Conflict(
                    "an experiment cannot be its own baseline".into(),
                ));
            }
            e.baseline_id = b;
        }
        with_pool!(self, |pool| sqlx::query(
            "UPDATE experiments SET section = $1, position = $2, date = $3, branch_commit = $4, board = $5, \
             change = $6, scenarios = $7, artifacts = $8, hin_min = $9, frag_max = $10, psram_free_min = $11, \
             tripwire = $12, notes = $13, status = $14, baseline_id = $15, updated_us = $16 WHERE id = $17",
        )
        .bind(&e.section)
        .bind(e.position)
        .bind(&e.date)
        .bind(&e.branch_commit)
        .bind(&e.board)
        .bind(&e.change)
        .bind(&e.scenarios)
        .bind(&e.artifacts)
        .bind(&e.hin_min)
        .bind(&e.frag_max)
        .bind(&e.psram_free_min)
        .bind(&e.tripwire)
        .bind(&e.notes)
        .bind(&e.status)
        .bind(e.baseline_id)
        .bind(now_us())
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(baseline_violation)?;
        self.experiment(id).await
    }

    pub async fn delete_experiment(&self, id: i64) -> Result<()> {
        let done = with_pool!(self, |pool| sqlx::query(
            "DELETE FROM experiments WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "experiment",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    pub async fn link_experiment_run(&self, id: i64, run_id: i64) -> Result<()> {
        self.experiment(id).await?;
        self.run(run_id).await?;
        with_pool!(self, |pool| {
            sqlx::query("INSERT INTO experiment_runs (experiment_id, run_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(run_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    pub async fn unlink_experiment_run(&self, id: i64, run_id: i64) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "DELETE FROM experiment_runs WHERE experiment_id = $1 AND run_id = $2"
        )
        .bind(id)
        .bind(run_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }

    pub async fn link_experiment_group(&self, id: i64, group_id: i64) -> Result<()> {
        self.experiment(id).await?;
        let exists: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM run_groups WHERE id = $1"
        )
        .bind(group_id)
        .fetch_optional(pool)
        .await)?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: "run group",
                id: group_id.to_string(),
            });
        }
        with_pool!(self, |pool| sqlx::query(
            "INSERT INTO experiment_groups (experiment_id, group_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(group_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Runs linked directly, then the members of linked groups, without
    /// duplicates, in id order.
    pub async fn experiment_run_ids(&self, id: i64) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
            "SELECT run_id FROM experiment_runs WHERE experiment_id = $1 \
             UNION SELECT m.run_id FROM experiment_groups g JOIN run_group_members m ON m.group_id = g.group_id \
             WHERE g.experiment_id = $2 ORDER BY 1",
        )
        .bind(id)
        .bind(id)
        .fetch_all(pool)
        .await
        })?)
    }

    pub async fn experiment_group_ids(&self, id: i64) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT group_id FROM experiment_groups WHERE experiment_id = $1 ORDER BY 1",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?)
    }
}

fn baseline_violation(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict("the baseline experiment does not exist".into())
        }
        _ => StoreError::Sqlx(e),
    }
}
