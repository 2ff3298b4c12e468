//! The agent's disk spool: its own small SQLite file, apart from any
//! server database. Every batch of events goes in before it is sent and
//! leaves only once the server has stored it, so a server that is away, a
//! network that drops or an agent that is killed loses nothing already
//! spooled. The file is bounded: when full, the oldest batches go and the
//! next batch left carries a gap (events dropped, per device) that the
//! server records where the events are missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::Result;

/// Events dropped per local device name.
pub type GapCounts = BTreeMap<String, i64>;

/// A spooled batch, oldest first.
#[derive(Debug, Clone)]
pub struct SpooledBatch {
    /// Never reused in this spool (SQLite `AUTOINCREMENT`), across restarts.
    pub seq: i64,
    pub events: i64,
    /// The encoded events, as the agent wrote them.
    pub body: Vec<u8>,
    /// Events dropped right before this batch because the spool was full.
    pub gap: GapCounts,
}

/// What the spool holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpoolStats {
    pub batches: i64,
    pub events: i64,
    pub bytes: i64,
    /// Events dropped since the spool was opened because it was full.
    pub dropped_events: i64,
}

/// The spool file; cheap to clone.
#[derive(Debug, Clone)]
pub struct Spool {
    pool: SqlitePool,
    id: String,
    max_bytes: i64,
    stats: Arc<Mutex<SpoolStats>>,
}

const META_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
const BATCHES_TABLE: &str = "CREATE TABLE IF NOT EXISTS batches (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        events INTEGER NOT NULL,
        bytes  INTEGER NOT NULL,
        -- events per local device name (JSON), for a gap if this batch goes
        counts TEXT NOT NULL,
        -- events dropped before this batch (JSON), or NULL
        gap    TEXT,
        body   BLOB NOT NULL
    )";

impl Spool {
    /// Opens (creating) the spool at `path`, holding at most about
    /// `max_bytes` of encoded events. A spool made here gets a random id:
    /// the server numbers each spool's batches apart.
    pub async fn open(path: &Path, max_bytes: u64) -> Result<Spool> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A Pi in a rack loses power: what was spooled must be on disk.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        sqlx::query(META_TABLE).execute(&pool).await?;
        sqlx::query(BATCHES_TABLE).execute(&pool).await?;
        let fresh = new_spool_id();
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('spool_id', ?)")
            .bind(&fresh)
            .execute(&pool)
            .await?;
        let id: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'spool_id'")
            .fetch_one(&pool)
            .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(events), 0) AS e, COALESCE(SUM(bytes), 0) AS b \
             FROM batches",
        )
        .fetch_one(&pool)
        .await?;
        let stats = SpoolStats {
            batches: row.try_get("n")?,
            events: row.try_get("e")?,
            bytes: row.try_get("b")?,
            dropped_events: 0,
        };
        Ok(Spool {
            pool,
            id,
            max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
            stats: Arc::new(Mutex::new(stats)),
        })
    }

    /// This spool's id (stable for the life of the file).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn stats(&self) -> SpoolStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a batch (committed to disk when this returns) and, past the
    /// size bound, drops the oldest batches. Returns the batch's number and
    /// how many events were dropped to make room.
    #[tracing::instrument(skip_all)]
    pub async fn push(&self, body: &[u8], counts: &GapCounts) -> Result<(i64, i64)> {
        let events: i64 = counts.values().sum();
        let bytes = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let seq = sqlx::query(
            "INSERT INTO batches (events, bytes, counts, gap, body) VALUES (?, ?, ?, NULL, ?)",
        )
        .bind(events)
        .bind(bytes)
        .bind(serde_json::to_string(counts)?)
        .bind(body)
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        let mut stats = self.stats();
        stats.batches += 1;
        stats.events += events;
        stats.bytes += bytes;
        let mut dropped = 0;
        // Never the batch just added: the newest data is the last to go.
        while stats.bytes > self.max_bytes && stats.batches > 1 {
            let oldest = sqlx::query(
                "SELECT seq, events, bytes, counts, gap FROM batches ORDER BY seq LIMIT 2",
            )
            .fetch_all(&mut *tx)
            .await?;
            let [first, next] = oldest.as_slice() else {
                break;
            };
            let mut gap = parse_counts(first.try_get("gap")?)?;
            for (device, n) in parse_counts(Some(first.try_get("counts")?))? {
                *gap.entry(device).or_default() += n;
            }
            for (device, n) in parse_counts(next.try_get("gap")?)? {
                *gap.entry(device).or_default() += n;
            }
            let first_seq: i64 = first.try_get("seq")?;
            let first_events: i64 = first.try_get("events")?;
            let first_bytes: i64 = first.try_get("bytes")?;
            let next_seq: i64 = next.try_get("seq")?;
            sqlx::query("DELETE FROM batches WHERE seq = ?")
                .bind(first_seq)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE batches SET gap = ? WHERE seq = ?")
                .bind(serde_json::to_string(&gap)?)
                .bind(next_seq)
                .execute(&mut *tx)
                .await?;
            stats.batches -= 1;
            stats.events -= first_events;
            stats.bytes -= first_bytes;
            dropped += first_events;
        }
        tx.commit().await?;
        stats.dropped_events += dropped;
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        Ok((seq, dropped))
    }

    /// The newest batch's number (0 when empty).
    pub async fn newest_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM batches")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Up to `limit` batches, oldest first.
    pub async fn oldest(&self, limit: i64) -> Result<Vec<SpooledBatch>> {
        let rows = sqlx::query("SELECT seq, events, gap, body FROM batches ORDER BY seq LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SpooledBatch {
                    seq: row.try_get("seq")?,
                    events: row.try_get("events")?,
                    body: row.try_get("body")?,
                    gap: parse_counts(row.try_get("gap")?)?,
                })
            })
            .collect()
    }

    /// Forgets every batch up to and including `seq`: the server has it.
    /// One statement, so it takes the write lock at once (a read first
    /// would have to upgrade, and fail if the spooler wrote meanwhile).
    pub async fn remove_through(&self, seq: i64) -> Result<()> {
        let removed = sqlx::query("DELETE FROM batches WHERE seq <= ? RETURNING events, bytes")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?;
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        for row in removed {
            stats.batches -= 1;
            stats.events -= row.try_get::<i64, _>("events")?;
            stats.bytes -= row.try_get::<i64, _>("bytes")?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn parse_counts(text: Option<String>) -> Result<GapCounts> {
    Ok(match text {
        Some(t) => serde_json::from_str(&t)?,
        None => GapCounts::new(),
    })
}

/// 128 random bits as hex; the clock when no randomness is available
/// (the id only has to differ from this agent's previous spools).
fn new_spool_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&super::now_us().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(device: &str, n: i64) -> GapCounts {
        [(device.to_owned(), n)].into_iter().collect()
    }

    #[tokio::test]
    async fn batches_survive_a_reopen_in_order_and_numbers_are_never_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("spool.db");
        let spool = Spool::open(&path, 1 << 20).await.expect("open");
        let id = spool.id().to_owned();
        let (a, _) = spool.push(b"one", &counts("desk", 1)).await.expect("push");
        let (b, _) = spool.push(b"two", &counts("desk", 2)).await.expect("push");
        spool.remove_through(b).await.expect("remove");
        spool.close().await;

        let spool = Spool::open(&path, 1 << 20).await.expect("reopen");
        assert_eq!(spool.id(), id, "the spool keeps its id");
        let (c, _) = spool
            .push(b"three", &counts("desk", 3))
            .await
            .expect("push");
        assert!(a < b && b < c, "{a} {b} {c}");
        let left = spool.oldest(10).await.expect("oldest");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].body, b"three");
        assert_eq!(spool.stats().events, 3);
    }

    #[tokio::test]
    async fn a_full_spool_drops_the_oldest_and_the_next_batch_carries_the_gap() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = Spool::open(&dir.path().join("spool.db"), 25)
            .await
            .expect("open");
        spool
            .push(&[b'a'; 10], &counts("desk", 4))
            .await
            .expect("1");
        spool
            .push(&[b'b'; 10], &counts("rack", 5))
            .await
            .expect("2");
        let (_, dropped) = spool
            .push(&[b'c'; 10], &counts("desk", 6))
            .await
            .expect("3");
        assert_eq!(dropped, 4);
        let (_, dropped) = spool
            .push(&[b'd'; 10], &counts("desk", 7))
            .await
            .expect("4");
        assert_eq!(dropped, 5);
        let left = spool.oldest(10).await.expect("oldest");
        assert_eq!(left.iter().map(|b| b.body[0]).collect::<Vec<_>>(), b"cd");
        assert_eq!(
            left[0].gap,
            [("desk".to_owned(), 4), ("rack".to_owned(), 5)]
                .into_iter()
                .collect()
        );
        assert!(left[1].gap.is_empty());
        let stats = spool.stats();
        assert_eq!(
            (stats.batches, stats.events, stats.dropped_events),
            (2, 13, 9)
        );
    }
}
