//! What lets several `heaplab serve` processes share one PostgreSQL
//! database: a channel for live events between them (LISTEN/NOTIFY) and
//! advisory locks that say which server does a job only one may do.
//! A SQLite file has one server, which is always the leader and has no
//! one to notify: every call here is a no-op on it.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{ConnectOptions, Connection};

use super::{Result, Store};

/// The NOTIFY channel live events travel on.
const LIVE_CHANNEL: &str = "heaplab_live";

/// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
pub const MAX_NOTIFY_PAYLOAD: usize = 7900;

/// The advisory lock the leader holds ("heaplab" + 1): one server runs
/// retention and delivers alerts.
const LEADER_LOCK: i64 = 0x6865_6170_6c61_6201;

/// The advisory-lock class of device claims: the key is this class in the
/// high bits and the device id in the low ones.
const DEVICE_LOCK_CLASS: i64 = 0x6865 << 48;

/// How often a leader checks that its lock connection still answers.
const LEADER_CHECK: Duration = Duration::from_secs(1);

/// Live events arriving from other servers.
pub struct LiveListener(PgListener);

impl LiveListener {
    /// The next payload another server (or this one) sent. After a lost
    /// connection it reconnects; what was sent meanwhile is gone, as for an
    /// SSE client that reconnects.
    pub async fn recv(&mut self) -> Result<String> {
        Ok(self.0.recv().await?.payload().to_owned())
    }
}

/// This server's hold on the leader lock: a connection of its own, since a
/// session-level advisory lock lives exactly as long as its session. When
/// the process dies the connection closes and PostgreSQL releases the lock
/// at once, so another server can take over.
#[derive(Debug)]
pub enum Leadership {
    /// The only server of a SQLite file.
    Sole,
    Locked(PgConnection),
}

impl Leadership {
    /// Resolves when the lock is lost: its connection stopped answering
    /// (the database restarted, the network dropped). Never on SQLite.
    pub async fn lost(&mut self) {
        match self {
            Leadership::Sole => std::future::pending().await,
            Leadership::Locked(conn) => loop {
                tokio::time::sleep(LEADER_CHECK).await;
                if conn.ping().await.is_err() {
                    return;
                }
            },
        }
    }
}

/// The devices this server records, each held by an advisory lock on one
/// connection of its own: a second server configured with the same board
/// is refused it (and records it once the first is gone and it restarts).
#[derive(Debug)]
pub struct DeviceClaims(PgConnection);

impl DeviceClaims {
    /// Claims a device for this server; false when another server has it.
    pub async fn try_claim(&mut self, device_id: i64) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(DEVICE_LOCK_CLASS | (device_id & 0xffff_ffff_ffff))
            .fetch_one(&mut self.0)
            .await?)
    }
}

impl Store {
    /// The connection that holds this server's device claims; `None` on
    /// SQLite, where one server has the file.
    pub async fn device_claims(&self) -> Result<Option<DeviceClaims>> {
        let Some(pool) = self.postgres_pool() else {
            return Ok(None);
        };
        Ok(Some(DeviceClaims(pool.connect_options().connect().await?)))
    }

    /// True when other servers may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.postgres_pool().is_some()
    }

    /// Sends payloads on the live channel in one round trip (no-op on
    /// SQLite). Each must be under [`MAX_NOTIFY_PAYLOAD`] bytes and differ
    /// from the others: PostgreSQL folds identical payloads of one
    /// transaction into one.
    pub async fn notify_live(&self, payloads: &[String]) -> Result<()> {
        let Some(pool) = self.postgres_pool() else {
            return Ok(());
        };
        if payloads.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::TEXT[]) AS p")
            .bind(LIVE_CHANNEL)
            .bind(payloads)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Listens on the live channel on a connection of its own; `None` on
    /// SQLite.
    pub async fn listen_live(&self) -> Result<Option<LiveListener>> {
        let Some(pool) = self.postgres_pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(LIVE_CHANNEL).await?;
        Ok(Some(LiveListener(listener)))
    }

    /// Tries to become the leader: the one server that runs retention and
    /// delivers alerts. `None` while another server holds the lock.
    pub async fn try_lead(&self) -> Result<Option<Leadership>> {
        let Some(pool) = self.postgres_pool() else {
            return Ok(Some(Leadership::Sole));
        };
        let mut conn = pool.connect_options().connect().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(Leadership::Locked(conn)))
        } else {
            conn.close().await?;
            Ok(None)
        }
    }
}
