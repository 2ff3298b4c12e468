//! SQLite storage. The recorder (and the importer, through the same batch
//! writer) is the only writer; everything else reads.

mod devices;
mod experiments;
mod read;
mod rows;
mod runs;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use devices::{default_baud, default_health_interval, DeviceRecord, DeviceSpec};
pub use experiments::{ExperimentFields, ExperimentRecord};
pub use read::{RunAggregates, SerialPage};
pub use rows::{Batch, EventRow, HealthRow, SerialLineRow, SnapshotRow};
pub use runs::{NewRun, RunFilter, RunKind, RunRecord, RunStatus};

/// The storage layer's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("stored JSON is corrupt: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 64 MB page cache per connection: batch inserts into several
            // B-trees at once stay in memory until commit.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
