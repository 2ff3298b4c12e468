//! Run groups: the runs of one `--repeat N`, or any set compared together.

use serde::Serialize;
use sqlx::{FromRow, QueryBuilder};

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

/// A group as a list shows it: who, what, when and how many runs, in one
/// row per group (the members themselves are read when a group is opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct GroupListing {
    pub id: i64,
    pub scenario: Option<String>,
    pub label: Option<String>,
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub created_us: i64,
    pub members: i64,
}

/// Which groups a list shows; `None` means "any". Newest first, paged by
/// `after` (the last group id already seen).
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub device_id: Option<i64>,
    pub scenario: Option<String>,
    /// Text found in the label, scenario or device name.
    pub text: Option<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
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

    /// A page of groups matching `filter`, newest first, one query.
    #[tracing::instrument(skip(self))]
    pub async fn group_listing(&self, filter: &GroupFilter) -> Result<Vec<GroupListing>> {
        // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE.
        let like = match self.dialect() {
            super::Dialect::Sqlite => "LIKE",
            super::Dialect::Postgres => "ILIKE",
        };
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT g.id, g.scenario, g.label, g.device_id, d.name AS device_name, g.created_us, \
                 (SELECT COUNT(*) FROM run_group_members m WHERE m.group_id = g.id) AS members \
                 FROM run_groups g LEFT JOIN devices d ON d.id = g.device_id WHERE 1=1",
            );
            if let Some(device) = filter.device_id {
                q.push(" AND g.device_id = ").push_bind(device);
            }
            if let Some(scenario) = &filter.scenario {
                q.push(" AND g.scenario = ").push_bind(scenario.clone());
            }
            if let Some(since) = filter.since_us {
                q.push(" AND g.created_us >= ").push_bind(since);
            }
            if let Some(until) = filter.until_us {
                q.push(" AND g.created_us < ").push_bind(until);
            }
            if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
                let pattern = super::contains_pattern(text);
                q.push(" AND (");
                let mut any = q.separated(" OR ");
                for column in ["g.label", "g.scenario", "d.name"] {
                    any.push(format!("{column} {like} "))
                        .push_bind_unseparated(pattern.clone())
                        .push_unseparated(" ESCAPE '\\'");
                }
                q.push(")");
            }
            if let Some(after) = filter.after {
                q.push(" AND g.id < ").push_bind(after);
            }
            q.push(" ORDER BY g.id DESC LIMIT ").push_bind(filter.limit);
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }

    /// The groups `run_id` belongs to, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn groups_of_run(&self, run_id: i64) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT group_id FROM run_group_members WHERE run_id = $1 ORDER BY group_id",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The newest group older than `before` that ran the same scenario:
    /// what a repeat group is judged against when nothing else is named.
    #[tracing::instrument(skip(self))]
    pub async fn previous_group(&self, scenario: &str, before: i64) -> Result<Option<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM run_groups WHERE scenario = $1 AND id < $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(scenario)
        .bind(before)
        .fetch_optional(pool)
        .await)?)
    }

    /// The experiments a group is linked to, in id order.
    #[tracing::instrument(skip(self))]
    pub async fn experiments_of_group(&self, group_id: i64) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT experiment_id FROM experiment_groups WHERE group_id = $1 ORDER BY 1",
        )
        .bind(group_id)
        .fetch_all(pool)
        .await)?)
    }
}
