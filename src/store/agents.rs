//! Agents (`heaplab agent`) and the devices plugged into them: who last
//! reported, which batch of theirs is stored, and the server device each of
//! their local device names stands for.

use serde::Serialize;
use sqlx::{FromRow, Postgres, Sqlite, Transaction};

use super::{now_us, Backend, Result, Store, StoreError};

/// An agent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct AgentRecord {
    pub name: String,
    pub host: String,
    pub version: String,
    pub spool_id: String,
    /// Highest stored batch of the current spool.
    pub last_seq: i64,
    /// Events waiting in the agent's spool when it last reported.
    pub spooled_events: i64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
}

/// What an agent says about itself with every request.
#[derive(Debug, Clone)]
pub struct AgentHello<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub version: &'a str,
    pub spool_id: &'a str,
    pub spooled_events: i64,
}

/// A batch of an agent's spool whose rows are in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMark {
    pub agent: String,
    pub spool_id: String,
    pub seq: i64,
}

/// A device's agent, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct DeviceAgent {
    pub device_id: i64,
    pub agent: String,
    pub host: String,
    pub version: String,
    pub spooled_events: i64,
    pub last_seen_us: i64,
}

const AGENT_COLUMNS: &str = "SELECT name, host, version, spool_id, last_seq, spooled_events, \
     first_seen_us, last_seen_us FROM agents";

/// An agent's local device as `agent_device` registers it.
struct NewAgentDevice<'a> {
    agent: &'a str,
    host: &'a str,
    local_name: &'a str,
    url: Option<&'a str>,
    board: Option<&'a str>,
}

/// The statements of `agent_device` on an open transaction, the same SQL
/// on either backend (only how the transaction starts differs).
macro_rules! register_agent_device {
    ($tx:expr, $d:expr) => {{
        let d = &$d;
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT device_id FROM agent_devices WHERE agent = $1 AND local_name = $2",
        )
        .bind(d.agent)
        .bind(d.local_name)
        .fetch_optional($tx)
        .await?;
        match known {
            Some(id) => {
                sqlx::query(
                    "UPDATE devices SET url = $1, board = COALESCE($2, board) WHERE id = $3",
                )
                .bind(d.url)
                .bind(d.board)
                .bind(id)
                .execute($tx)
                .await?;
                id
            }
            None => {
                let taken: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM devices WHERE name = $1)")
                        .bind(d.local_name)
                        .fetch_one($tx)
                        .await?;
                let name = if taken {
                    format!("{}@{}", d.local_name, d.host)
                } else {
                    d.local_name.to_owned()
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO devices (name, serial_path, baud, url, health_interval_s, auth, \
                     board, created_us) VALUES ($1, NULL, 115200, $2, 0, NULL, $3, $4) \
                     RETURNING id",
                )
                .bind(&name)
                .bind(d.url)
                .bind(d.board)
                .bind(now_us())
                .fetch_one($tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        StoreError::Conflict(format!("a device named {name:?} already exists"))
                    }
                    _ => StoreError::Sqlx(e),
                })?;
                sqlx::query(
                    "INSERT INTO agent_devices (device_id, agent, local_name) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(d.agent)
                .bind(d.local_name)
                .execute($tx)
                .await?;
                id
            }
        }
    }};
}

impl Store {
    /// Records that the agent reported (host, version, spool backlog) and
    /// returns it. A spool the server has not seen before (the agent's spool
    /// file was replaced) starts its batch numbering from zero.
    #[tracing::instrument(skip(self))]
    pub async fn agent_reported(&self, hello: &AgentHello<'_>) -> Result<AgentRecord> {
        let now = now_us();
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO agents (name, host, version, spool_id, last_seq, spooled_events, \
             first_seen_us, last_seen_us) VALUES ($1, $2, $3, $4, 0, $5, $6, $7) \
             ON CONFLICT(name) DO UPDATE SET host = excluded.host, version = excluded.version, \
             last_seq = CASE WHEN agents.spool_id = excluded.spool_id THEN agents.last_seq ELSE 0 END, \
             spool_id = excluded.spool_id, spooled_events = excluded.spooled_events, \
             last_seen_us = excluded.last_seen_us",
        )
        .bind(hello.name)
        .bind(hello.host)
        .bind(hello.version)
        .bind(hello.spool_id)
        .bind(hello.spooled_events)
        .bind(now)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        self.agent(hello.name).await
    }

    pub async fn agent(&self, name: &str) -> Result<AgentRecord> {
        with_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{AGENT_COLUMNS} WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(pool)
        .await)?
        .ok_or(StoreError::NotFound {
            what: "agent",
            id: name.to_owned(),
        })
    }

    pub async fn agents(&self) -> Result<Vec<AgentRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!("{AGENT_COLUMNS} ORDER BY name"))
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The server device for an agent's local device name, registered on
    /// first sight under that name (or `name@host` when another device has
    /// it). The server never opens the device's port or polls its URL
    /// itself (no serial path, health polling off): the agent does.
    #[tracing::instrument(skip(self))]
    pub async fn agent_device(
        &self,
        agent: &str,
        host: &str,
        local_name: &str,
        url: Option<&str>,
        board: Option<&str>,
    ) -> Result<i64> {
        let device = NewAgentDevice {
            agent,
            host,
            local_name,
            url,
            board,
        };
        match &self.backend {
            Backend::Sqlite(pool) => {
                // IMMEDIATE: the write lock up front. A read first would
                // have to upgrade, which fails at once (no busy wait) while
                // the recorder is committing.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let id = register_agent_device!(&mut *tx, device);
                tx.commit().await?;
                Ok(id)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Two agents registering at once wait for each other here
                // rather than both finding the name free.
                sqlx::query("LOCK TABLE agent_devices IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                let id = register_agent_device!(&mut *tx, device);
                tx.commit().await?;
                Ok(id)
            }
        }
    }

    /// Every device that is plugged into an agent, with that agent.
    pub async fn device_agents(&self) -> Result<Vec<DeviceAgent>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT d.device_id, a.name AS agent, a.host, a.version, a.spooled_events, \
             a.last_seen_us FROM agent_devices d JOIN agents a ON a.name = d.agent \
             ORDER BY d.device_id",
        )
        .fetch_all(pool)
        .await)?)
    }
}

/// Raises each agent's stored batch number inside the transaction that
/// writes the batch's rows: the rows and the number land together or not
/// at all, which is what makes a retried batch safe to ignore.
pub(super) async fn mark_stored(
    tx: &mut Transaction<'_, Sqlite>,
    marks: &[AgentMark],
) -> Result<()> {
    for mark in marks {
        sqlx::query(
            "UPDATE agents SET last_seq = MAX(last_seq, $1) WHERE name = $2 AND spool_id = $3",
        )
        .bind(mark.seq)
        .bind(&mark.agent)
        .bind(&mark.spool_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// [`mark_stored`] on PostgreSQL, whose two-argument maximum is `GREATEST`.
pub(super) async fn mark_stored_pg(
    tx: &mut Transaction<'_, Postgres>,
    marks: &[AgentMark],
) -> Result<()> {
    for mark in marks {
        sqlx::query(
            "UPDATE agents SET last_seq = GREATEST(last_seq, $1) WHERE name = $2 AND spool_id = $3",
        )
        .bind(mark.seq)
        .bind(&mark.agent)
        .bind(&mark.spool_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
