//! Run groups: the runs of one `--repeat N`, or any set compared together.

use serde::Serialize;

use super::{now_us, Result, Store, StoreError};

/// A group as stored, with its member runs in their recorded order.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRecord {
    pub id: i64,
    pub scenario: Option<String>,
    pub label: Option<String>,
    pub device_id: Option<i64>,
    pub created_us: i64,
    pub runs: Vec<i64>,
}

/// `id, scenario, label, device_id, created_us` of `run_groups`.
type GroupRow = (i64, Option<String>, Option<String>, Option<i64>, i64);

impl Store {
    /// Creates a group of `runs` (in that order) in one transaction, so a
    /// group is never seen half-filled.
    #[tracing::instrument(skip(self))]
    pub async fn create_group(
        &self,
        scenario: Option<&str>,
        label: Option<&str>,
        device_id: Option<i64>,
        runs: &[i64],
    ) -> Result<i64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO run_groups (scenario, label, device_id, created_us) \
                 VALUES ($1,$2,$3,$4) RETURNING id",
            )
            .bind(scenario)
            .bind(label)
            .bind(device_id)
            .bind(now_us())
            .fetch_one(&mut *tx)
            .await?;
            for (i, run) in runs.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO run_group_members (group_id, run_id, position) VALUES ($1,$2,$3)",
                )
                .bind(id)
                .bind(run)
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    #[tracing::instrument(skip(self))]
    pub async fn group(&self, id: i64) -> Result<GroupRecord> {
        let row: Option<GroupRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, scenario, label, device_id, created_us FROM run_groups WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let Some((id, scenario, label, device_id, created_us)) = row else {
            return Err(StoreError::NotFound {
                what: "group",
                id: id.to_string(),
            });
        };
        let runs: Vec<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT run_id FROM run_group_members WHERE group_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        Ok(GroupRecord {
            id,
            scenario,
            label,
            device_id,
            created_us,
            runs,
        })
    }

    /// The newest `limit` groups, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn groups(&self, limit: i64) -> Result<Vec<GroupRecord>> {
        let ids: Vec<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM run_groups ORDER BY id DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.group(id).await?);
        }
        Ok(out)
    }
}
