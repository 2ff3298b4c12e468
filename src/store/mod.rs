//! SQLite storage. The recorder (and the importer, through the same batch
//! writer) is the only writer; everything else reads.

mod agents;
mod alerts;
mod boots;
mod devices;
mod elves;
mod experiments;
mod groups;
mod pages;
mod prepared;
mod read;
mod resume;
mod rows;
mod runs;
mod serial_blocks;
mod serial_codec;
mod spool;
mod summaries;
mod tiers;
mod tokens;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use agents::{AgentHello, AgentMark, AgentRecord, DeviceAgent};
pub use alerts::{AlertDelivery, AlertRecord, NewAlert};
pub use boots::RunSpan;
pub use devices::{default_baud, default_health_interval, DeviceRecord, DeviceSpec, InvalidDevice};
pub use elves::{normalize_version, ElfInfo};
pub use experiments::{ExperimentFields, ExperimentRecord};
pub use groups::GroupRecord;
pub use pages::PageRequest;
pub use read::{HeapPoint, SerialPage};
pub use resume::ResumePoint;
pub use rows::{Batch, EventKind, EventRow, HealthRow, SerialLineRow, SnapshotRow};
pub use runs::{NewRun, RunFilter, RunKind, RunRecord, RunStatus};
pub use serial_blocks::{CompactionReport, Packing, SerialBlock, BLOCK_LINES};
pub use spool::{GapCounts, Spool, SpoolStats, SpooledBatch};
pub use summaries::{StoredLeak, StoredSummary};
pub use tiers::{tier_for, TierBucket, TIERS_S};
pub use tokens::{secret_hash, TokenRecord, TokenScope};

/// The storage layer's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A call through SQLite's C API on the write path failed.
    #[error("database error: {message} (SQLite code {code})")]
    Sqlite { code: i32, message: String },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("stored JSON is corrupt: {0}")]
    Json(#[from] serde_json::Error),
    /// A blocking task computing over stored rows (a leak fit) panicked or
    /// was cancelled.
    #[error("background computation failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SQLite's `SQLITE_FULL`: the disk, or the database's page cap, is full.
const SQLITE_FULL: i32 = 13;

impl StoreError {
    /// True when the write failed for want of space: it can succeed later,
    /// once space is freed.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Sqlite { code, .. } => code & 0xff == SQLITE_FULL,
            StoreError::Sqlx(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| c & 0xff == SQLITE_FULL),
            _ => false,
        }
    }
}

/// A handle on the database; cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date. WAL lets the dashboard read while the recorder writes;
    /// `synchronous=NORMAL` is the WAL setting that stays durable across an
    /// application crash at a fraction of FULL's fsyncs.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_capped(path, None).await
    }

    /// [`Store::open`] with the file capped at `max_bytes`: past it every
    /// write fails as on a full disk ([`StoreError::is_full`]) while reads
    /// go on, so a runaway device cannot fill the host's disk.
    pub async fn open_capped(path: &Path, max_bytes: Option<u64>) -> Result<Self> {
        let mut options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 16 MB page cache per connection: a batch insert into several
            // B-trees stays in memory until commit, and eight connections
            // of a busy server stay near 128 MB (64 MB each was 500 MB).
            .pragma("cache_size", "-16384")
            .pragma("temp_store", "memory");
        if let Some(bytes) = max_bytes {
            // The default page is 4 KiB; at least enough for the schema.
            options = options.pragma("max_page_count", (bytes / 4096).max(64).to_string());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// A cheap query that proves the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Rewrites the file to give back the space of deleted rows (after
    /// retention compacted or dropped lines).
    pub async fn vacuum(&self) -> Result<()> {
        sqlx::query("VACUUM").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; the file is complete on disk afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// SQLite's own consistency check: `ok`, or what is wrong.
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.join("; "))
    }

    /// Makes sure everything written is in the main database file (used
    /// before exit so a copied `.db` file is complete on its own).
    pub async fn checkpoint(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Current time as stored: UTC microseconds since the epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made by the migrations before the constraints existed
    /// keeps every row (and its children: dropping `runs` with foreign keys
    /// on would have cascaded into the snapshots) and afterwards rejects
    /// values outside each enum.
    #[tokio::test]
    async fn constraints_migration_keeps_old_rows_and_rejects_unknown_values() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("old.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let old = SqlitePool::connect_with(options).await.expect("open");
        sqlx::migrate!("./migrations")
            .run_to(4, &old)
            .await
            .expect("old schema");
        for sql in [
            "INSERT INTO devices (id, name, created_us) VALUES (1, 'desk', 0)",
            "INSERT INTO runs (id, device_id, kind, status, started_us) VALUES (7, 1, 'soak', 'completed', 0)",
            "INSERT INTO snapshots (run_id, seq, ts_us, tag, hin) VALUES (7, 1, 0, 'hb', 20912)",
            "INSERT INTO experiments (id, status, created_us, updated_us) VALUES (3, 'accepted', 0, 0)",
            "INSERT INTO experiment_runs (experiment_id, run_id) VALUES (3, 7)",
            "INSERT INTO alerts (ts_us, rule, kind, text, delivery) VALUES (0, 'r', 'offline', 't', 'failed')",
        ] {
            sqlx::query(sql).execute(&old).await.expect(sql);
        }
        old.close().await;

        let store = Store::open(&path).await.expect("migrate");
        let run = store.run(7).await.expect("run kept");
        assert_eq!(
            (run.kind, run.status),
            (RunKind::Soak, RunStatus::Completed)
        );
        assert_eq!(store.snapshots(7).await.expect("snapshots").len(), 1);
        let linked: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM experiment_runs WHERE run_id = 7")
                .fetch_one(&store.pool)
                .await
                .expect("count");
        assert_eq!(linked, 1);
        assert_eq!(
            store.alerts(10).await.expect("alerts")[0].delivery,
            AlertDelivery::Failed
        );

        for bad in [
            "INSERT INTO runs (kind, status, started_us) VALUES ('bogus', 'active', 0)",
            "UPDATE runs SET status = 'paused' WHERE id = 7",
            "UPDATE alerts SET delivery = 'lost'",
            "UPDATE experiments SET status = 'maybe'",
        ] {
            let err = sqlx::query(bad).execute(&store.pool).await.expect_err(bad);
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{bad}: {err}"
            );
        }
    }
}
