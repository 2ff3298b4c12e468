//! SQLite storage. The recorder (and the importer, through the same batch
//! writer) is the only writer; everything else reads.

mod alerts;
mod boots;
mod devices;
mod elves;
mod experiments;
mod groups;
mod read;
mod rollups;
mod rows;
mod runs;
mod serial_blocks;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use alerts::{AlertDelivery, AlertRecord, NewAlert};
pub use boots::RunSpan;
pub use devices::{default_baud, default_health_interval, DeviceRecord, DeviceSpec, InvalidDevice};
pub use elves::{normalize_version, ElfInfo};
pub use experiments::{ExperimentFields, ExperimentRecord};
pub use groups::GroupRecord;
pub use read::{HeapPoint, RunAggregates, SerialPage};
pub use rollups::ROLLUP_THRESHOLD;
pub use rows::{Batch, EventRow, HealthRow, SerialLineRow, SnapshotRow};
pub use runs::{NewRun, RunFilter, RunKind, RunRecord, RunStatus};
pub use serial_blocks::{CompactionReport, BLOCK_LINES};

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
