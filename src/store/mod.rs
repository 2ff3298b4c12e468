//! Storage: SQLite (the embedded default, one file) or PostgreSQL (the
//! shared store when several servers write). The recorder (and the
//! importer, through the same batch writer) is the only writer; everything
//! else reads.
//!
//! One API over both backends: most statements are written once, in SQL
//! both dialects accept (`$1` placeholders, `ON CONFLICT`, `RETURNING`), and
//! run on whichever pool the store holds through [`with_pool!`], which
//! compiles the same code once per backend. Where the dialects differ the
//! two spellings sit side by side in a `match self.dialect()` (JSON
//! fields, index hints, `LIKE`), and the hot write path has one module per
//! backend (`write.rs` + `prepared.rs` for SQLite's C API, `write_pg.rs`
//! for PostgreSQL's arrays).

/// Runs `$body` with `$pool` bound to the store's pool: the same sqlx code,
/// type-checked and compiled once for SQLite and once for PostgreSQL. Inside
/// the body `Db` names the backend's `sqlx::Database` (for a `QueryBuilder`).
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                $body
            }
            $crate::store::Backend::Postgres($pool) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Implements `FromRow` for both backends' rows with one body.
macro_rules! from_row_on_both {
    ($ty:ty, |$row:ident| $body:block) => {
        impl sqlx::FromRow<'_, sqlx::sqlite::SqliteRow> for $ty {
            fn from_row($row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<Self> {
                use sqlx::Row;
                $body
            }
        }
        impl sqlx::FromRow<'_, sqlx::postgres::PgRow> for $ty {
            fn from_row($row: &sqlx::postgres::PgRow) -> sqlx::Result<Self> {
                use sqlx::Row;
                $body
            }
        }
    };
}

mod agents;
mod alerts;
mod boots;
mod builds;
mod cluster;
mod deflater;
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
mod snapshot_blocks;
mod snapshot_codec;
mod spool;
mod summaries;
mod tiers;
mod tokens;
mod write;
mod write_pg;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, SqlitePool};

pub use agents::{AgentHello, AgentMark, AgentRecord, DeviceAgent};
pub use alerts::{AlertDelivery, AlertRecord, NewAlert};
pub use boots::RunSpan;
pub use builds::{FirmwareBuildRecord, NewFirmwareBuild};
pub use cluster::{DeviceClaims, Leadership, LiveListener, MAX_NOTIFY_PAYLOAD};
pub use devices::{default_baud, default_health_interval, DeviceRecord, DeviceSpec, InvalidDevice};
pub use elves::{normalize_version, ElfInfo};
pub use experiments::{ExperimentFields, ExperimentRecord};
pub use groups::{GroupFilter, GroupListing, GroupRecord};
pub use pages::PageRequest;
pub use read::{HeapPoint, SerialPage};
pub use resume::ResumePoint;
pub use rows::{Batch, EventKind, EventRow, HealthRow, SerialLineRow, SnapshotRow};
pub use runs::{NewRun, RunFilter, RunKind, RunRecord, RunStatus};
pub use serial_blocks::{BlockPacker, CompactionReport, Packing, SerialBlock, BLOCK_LINES};
pub use snapshot_blocks::{SnapshotBlock, SnapshotPacker, SNAPSHOT_BLOCK_ROWS};
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

/// A `LIKE … ESCAPE '\'` pattern matching `s` anywhere, with `%`, `_` and
/// `\` in `s` taken literally (a search for `50%` finds "50%", not "50").
pub(crate) fn contains_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// SQLite's `SQLITE_FULL`: the disk, or the database's page cap, is full.
const SQLITE_FULL: i32 = 13;
/// PostgreSQL's SQLSTATE for a full disk (`disk_full`).
const PG_DISK_FULL: &str = "53100";

impl StoreError {
    /// True when the write failed for want of space: it can succeed later,
    /// once space is freed.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Sqlite { code, .. } => code & 0xff == SQLITE_FULL,
            StoreError::Sqlx(sqlx::Error::Database(e)) => e.code().is_some_and(|c| {
                c == PG_DISK_FULL || c.parse::<i32>().is_ok_and(|c| c & 0xff == SQLITE_FULL)
            }),
            _ => false,
        }
    }
}

/// The pool of the backend a store was opened on.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which SQL dialect a store speaks, for the statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL in a `--db` value, when it is one (`postgres://…` or
/// `postgresql://…`); any other value is a SQLite file path.
pub fn postgres_url(db: &Path) -> Option<&str> {
    db.to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// The database for people: the path, or the URL without its password.
pub fn display_db(db: &Path) -> String {
    match postgres_url(db).and_then(|u| reqwest::Url::parse(u).ok()) {
        Some(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        None => db.display().to_string(),
    }
}

/// A handle on the database; cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Opens the database `db` names and brings its schema up to date: a
    /// `postgres://` URL opens PostgreSQL ([`Store::open_postgres`]), any
    /// other value is a SQLite file, created if needed.
    pub async fn open(db: &Path) -> Result<Self> {
        Self::open_capped(db, None).await
    }

    /// [`Store::open`] with a SQLite file capped at `max_bytes`: past it
    /// every write fails as on a full disk ([`StoreError::is_full`]) while
    /// reads go on, so a runaway device cannot fill the host's disk. A
    /// PostgreSQL server manages its own space; the cap does not apply.
    pub async fn open_capped(db: &Path, max_bytes: Option<u64>) -> Result<Self> {
        if let Some(url) = postgres_url(db) {
            if max_bytes.is_some() {
                tracing::warn!("max_db_bytes applies to SQLite files only; ignored for PostgreSQL");
            }
            return Self::open_postgres(url).await;
        }
        Self::open_sqlite(db, max_bytes).await
    }

    /// The page size of the file `options` open (creating it if needed):
    /// a cap in bytes becomes a page count in the file's own pages.
    async fn page_size_of(options: &SqliteConnectOptions) -> Result<u64> {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect_with(options).await?;
        let page: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(u64::try_from(page).unwrap_or(4096).max(512))
    }

    /// Opens (creating if needed) a SQLite file. WAL lets the dashboard
    /// read while the recorder writes; `synchronous=NORMAL` is the WAL
    /// setting that stays durable across an application crash at a
    /// fraction of FULL's fsyncs. Pages stay SQLite's 4 KiB: 16 KiB made a
    /// week's import about 10 % faster, but the chart of a week-long run
    /// then missed its 600 k ÷ 60 k target in both `bench soak` runs (1.72
    /// and 1.55; 1.25 with 4 KiB pages).
    async fn open_sqlite(path: &Path, max_bytes: Option<u64>) -> Result<Self> {
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
            let page = Self::page_size_of(&options).await?;
            // At least enough pages for the schema.
            options = options.pragma("max_page_count", (bytes / page).max(64).to_string());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
        })
    }

    /// Connects to PostgreSQL at `url` (creating the database when it does
    /// not exist and the role may) and runs the PostgreSQL migrations,
    /// which build the same tables and columns as SQLite's. Several
    /// servers may share one database: sqlx takes an advisory lock around
    /// the migrations, so two starting at once do not race.
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("heaplab");
        let connect = || {
            PgPoolOptions::new()
                .max_connections(8)
                .connect_with(options.clone())
        };
        let pool = match connect().await {
            Ok(pool) => pool,
            // 3D000: the database does not exist. Create it (another server
            // may do so at the same moment) and connect again.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
                if let Err(e) = Postgres::create_database(url).await {
                    if !Postgres::database_exists(url).await? {
                        return Err(e.into());
                    }
                }
                connect().await?
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            backend: Backend::Postgres(pool),
        })
    }

    /// The dialect of the statements that differ between backends.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// `events` read through its kind index: SQLite's planner would rather
    /// walk a run's every event by key (100,000 task lines in a week) and
    /// needs the hint; PostgreSQL picks the index from its statistics and
    /// has no hint syntax.
    fn events_kind_hint(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => " INDEXED BY events_kind",
            Dialect::Postgres => "",
        }
    }

    /// A top-level field of a JSON text column, as text (`column` and `key`
    /// are constants of the caller, never input).
    fn json_text(&self, column: &str, key: &str) -> String {
        match self.dialect() {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("({column}::jsonb ->> '{key}')"),
        }
    }

    /// The PostgreSQL pool, for the cross-server features that only exist
    /// there (LISTEN/NOTIFY fan-out, the leadership lock).
    fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite(_) => None,
        }
    }

    /// A cheap query that proves the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Gives back the space of deleted rows (after retention compacted or
    /// dropped lines): SQLite rewrites the file; PostgreSQL's plain VACUUM
    /// makes the space reusable without locking out writers.
    pub async fn vacuum(&self) -> Result<()> {
        with_pool!(self, |pool| sqlx::query("VACUUM")
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Closes every connection; a SQLite file is complete on disk afterwards.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// SQLite's own consistency check: `ok`, or what is wrong. PostgreSQL
    /// has no counterpart without extensions (its WAL keeps committed data
    /// consistent across a crash); there it answers `ok` after a round trip.
    pub async fn integrity_check(&self) -> Result<String> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(pool)
                    .await?;
                Ok(rows.join("; "))
            }
            Backend::Postgres(_) => {
                self.ping().await?;
                Ok("ok".to_owned())
            }
        }
    }

    /// Makes sure everything written is in the main database file (used
    /// before exit so a copied `.db` file is complete on its own). Nothing
    /// to do on PostgreSQL: a commit is already where every reader sees it.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Backend::Sqlite(pool) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

/// Current time as stored: UTC microseconds since the epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
impl Store {
    fn sqlite_pool(&self) -> &SqlitePool {
        match &self.backend {
            Backend::Sqlite(pool) => pool,
            Backend::Postgres(_) => panic!("a SQLite test on a PostgreSQL store"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(store: &Store, name: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(store.sqlite_pool())
            .await
            .expect(name)
    }

    /// A cap in bytes is that many bytes of the file's own pages, whatever
    /// size they are (a file made by another tool may use bigger ones; a
    /// count made in 4 KiB pages would let it grow four times past its cap).
    #[tokio::test]
    async fn a_cap_counts_the_files_own_pages() {
        let dir = tempfile::tempdir().expect("tmp");
        let cap = 8 * 1024 * 1024;
        let new = Store::open_capped(&dir.path().join("new.db"), Some(cap))
            .await
            .expect("new");
        assert_eq!(pragma(&new, "page_size").await, 4096);
        assert_eq!(pragma(&new, "max_page_count").await, 2048);

        let path = dir.path().join("big-pages.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .page_size(16 * 1024)
            .journal_mode(SqliteJournalMode::Wal);
        SqlitePool::connect_with(options)
            .await
            .expect("made elsewhere")
            .close()
            .await;
        let big = Store::open_capped(&path, Some(cap)).await.expect("reopen");
        assert_eq!(pragma(&big, "page_size").await, 16 * 1024);
        assert_eq!(pragma(&big, "max_page_count").await, 512);
    }

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
                .fetch_one(store.sqlite_pool())
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
            let err = sqlx::query(bad)
                .execute(store.sqlite_pool())
                .await
                .expect_err(bad);
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{bad}: {err}"
            );
        }
    }
}
