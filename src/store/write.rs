//! Batched writes. One transaction per call, each table's rows through
//! statements prepared once per call, many rows a statement: SQLite is fast
//! when it commits rarely and parses few statements, and a week-long soak
//! (or its import) writes millions of rows. PostgreSQL's way of doing the
//! same (one statement per table, the rows as arrays) is `write_pg.rs`.

use std::ffi::c_int;

use sqlx::SqliteConnection;

use super::prepared::{LockedDb, Prepared, RowInsert};
use super::serial_codec::CODEC;
use super::snapshot_codec::SNAPSHOT_CODEC;
use super::{
    Batch, EventRow, HealthRow, Result, SerialBlock, SerialLineRow, SnapshotBlock, SnapshotRow,
    Store,
};

impl Store {
    /// Writes every batch in one transaction: all of it lands, or none.
    #[tracing::instrument(skip_all, fields(batches = batches.len()))]
    pub async fn write_batches(&self, batches: &[Batch]) -> Result<()> {
        self.write_batches_marked(batches, &[]).await
    }

    /// [`Store::write_batches`], raising the stored batch number of the
    /// agents whose events these rows are, in the same transaction.
    #[tracing::instrument(skip_all, fields(batches = batches.len(), marks = marks.len()))]
    pub async fn write_batches_marked(
        &self,
        batches: &[Batch],
        marks: &[super::AgentMark],
    ) -> Result<()> {
        match &self.backend {
            super::Backend::Sqlite(pool) => write_batches_sqlite(pool, batches, marks).await,
            super::Backend::Postgres(pool) => {
                super::write_pg::write_batches(pool, batches, marks).await
            }
        }
    }
}

/// The SQLite write: rows through statements prepared on the locked
/// handle, then the summaries, in one transaction.
async fn write_batches_sqlite(
    pool: &sqlx::SqlitePool,
    batches: &[Batch],
    marks: &[super::AgentMark],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    {
        let mut handle = tx.lock_handle().await?;
        let db = LockedDb::new(&mut handle);
        off_the_runtime(|| write_rows(&db, batches))?;
    }
    for batch in batches {
        write_summary(&mut tx, batch.run_id, batch).await?;
    }
    super::agents::mark_stored(&mut tx, marks).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs synchronous SQLite work without stalling other tasks on this
/// worker thread; a current-thread runtime (tests) has no other worker to
/// hand them to, so there it simply runs.
fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Writes the batches' rows table by table (lines, snapshots, events,
/// health), then folds the snapshots into the pyramid.
fn write_rows(db: &LockedDb<'_>, batches: &[Batch]) -> Result<()> {
    let mut lines = RowInsert::new(
        db,
        "INSERT OR IGNORE INTO serial_lines (run_id, line_no, ts_us, text, flags)",
        5,
        "",
    )?;
    let mut snapshots = RowInsert::new(
        db,
        "INSERT OR IGNORE INTO snapshots (run_id, seq, line_no, ts_us, elapsed_ms, boot, tag, \
         hf, hm, hl, hi, hin, frag, pf, pm, pl, extras)",
        17,
        "",
    )?;
    let mut events = RowInsert::new(
        db,
        "INSERT OR IGNORE INTO events (run_id, seq, line_no, ts_us, boot, kind, message, data)",
        8,
        "",
    )?;
    let mut health = RowInsert::new(
        db,
        "INSERT OR IGNORE INTO health_samples (run_id, seq, ts_us, http_status, latency_ms, \
         uptime_seconds, heap_internal_free, heap_internal_min, heap_internal_largest, \
         heap_fragmentation, psram_free, psram_min, psram_largest, \
         heap_internal_free_min_window, psram_free_min_window, raw, error)",
        17,
        "",
    )?;
    let mut blocks = RowInsert::new(
        db,
        "INSERT OR REPLACE INTO serial_blocks (run_id, first_line, last_line, first_ts, last_ts, \
         lines, codec, data)",
        8,
        "",
    )?;
    let mut snapshot_blocks = RowInsert::new(
        db,
        "INSERT OR REPLACE INTO snapshot_blocks (run_id, first_seq, last_seq, min_ts, max_ts, \
         last_boot, snapshots, codec, data)",
        9,
        "",
    )?;
    for batch in batches {
        let run = batch.run_id;
        lines.insert_all(&batch.lines, |s, at, r| bind_line(s, at, run, r))?;
        blocks.insert_all(&batch.blocks, |s, at, b| bind_block(s, at, run, b))?;
        snapshots.insert_all(&batch.snapshots, |s, at, r| bind_snapshot(s, at, run, r))?;
        events.insert_all(&batch.events, |s, at, r| bind_event(s, at, run, r))?;
        health.insert_all(&batch.health, |s, at, r| bind_health(s, at, run, r))?;
        snapshot_blocks.insert_all(&batch.snapshot_blocks, |s, at, b| {
            bind_snapshot_block(s, at, run, b)
        })?;
        super::tiers::fold_batch(db, run, batch)?;
    }
    Ok(())
}

fn bind_line(stmt: &mut Prepared<'_>, at: c_int, run: i64, r: &SerialLineRow) -> Result<()> {
    stmt.int(at, run)?;
    stmt.int(at + 1, r.line_no)?;
    stmt.int(at + 2, r.ts_us)?;
    stmt.text(at + 3, &r.text)?;
    stmt.int(at + 4, r.flags)
}

fn bind_block(stmt: &mut Prepared<'_>, at: c_int, run: i64, b: &SerialBlock) -> Result<()> {
    for (i, v) in (at..).zip([
        run,
        b.first_line,
        b.last_line,
        b.first_ts,
        b.last_ts,
        b.lines,
    ]) {
        stmt.int(i, v)?;
    }
    stmt.text(at + 6, CODEC)?;
    stmt.blob(at + 7, &b.data)
}

fn bind_snapshot_block(
    stmt: &mut Prepared<'_>,
    at: c_int,
    run: i64,
    b: &SnapshotBlock,
) -> Result<()> {
    stmt.int(at, run)?;
    for (i, v) in (at + 1..).zip(b.headers()) {
        stmt.int(i, v)?;
    }
    stmt.text(at + 7, SNAPSHOT_CODEC)?;
    stmt.blob(at + 8, &b.data)
}

/// The extras map is stored as JSON, or NULL when empty.
fn bind_snapshot(stmt: &mut Prepared<'_>, at: c_int, run: i64, r: &SnapshotRow) -> Result<()> {
    let s = &r.snapshot;
    stmt.int(at, run)?;
    stmt.int(at + 1, r.seq)?;
    stmt.opt_int(at + 2, r.line_no)?;
    stmt.int(at + 3, r.ts_us)?;
    stmt.opt_int(at + 4, r.elapsed_ms)?;
    stmt.int(at + 5, r.boot)?;
    stmt.text(at + 6, &s.tag)?;
    for (i, v) in (at + 7..).zip(s.values()) {
        stmt.opt_int(i, v)?;
    }
    let extras = (!s.extras.is_empty())
        .then(|| serde_json::to_string(&s.extras))
        .transpose()?;
    stmt.opt_text(at + 16, extras.as_deref())
}

/// The event's data is stored as JSON.
fn bind_event(stmt: &mut Prepared<'_>, at: c_int, run: i64, r: &EventRow) -> Result<()> {
    stmt.int(at, run)?;
    stmt.int(at + 1, r.seq)?;
    stmt.opt_int(at + 2, r.line_no)?;
    stmt.int(at + 3, r.ts_us)?;
    stmt.int(at + 4, r.boot)?;
    stmt.text(at + 5, r.kind.as_str())?;
    stmt.text(at + 6, &r.message)?;
    stmt.text(at + 7, &serde_json::to_string(&r.data)?)
}

/// A failed poll has no sample and stores its fields as NULL.
fn bind_health(stmt: &mut Prepared<'_>, at: c_int, run: i64, r: &HealthRow) -> Result<()> {
    let s = r.sample.clone().unwrap_or_default();
    let fields: [Option<i64>; 10] = [
        s.uptime_seconds,
        s.heap_internal_free,
        s.heap_internal_min,
        s.heap_internal_largest,
        s.heap_fragmentation,
        s.psram_free,
        s.psram_min,
        s.psram_largest,
        s.heap_internal_free_min_window,
        s.psram_free_min_window,
    ];
    stmt.int(at, run)?;
    stmt.int(at + 1, r.seq)?;
    stmt.int(at + 2, r.ts_us)?;
    stmt.opt_int(at + 3, r.http_status)?;
    stmt.opt_int(at + 4, r.latency_ms)?;
    for (i, v) in (at + 5..).zip(fields) {
        stmt.opt_int(i, v)?;
    }
    stmt.opt_text(at + 15, r.raw.as_deref())?;
    stmt.opt_text(at + 16, r.error.as_deref())
}

/// Stores the batch's summary, or drops a stored one the rows made stale.
async fn write_summary(conn: &mut SqliteConnection, run: i64, batch: &Batch) -> Result<()> {
    match &batch.summary {
        Some(summary) => super::summaries::upsert_summary!(&mut *conn, run, summary)?,
        // Rows written without a summary (a tool writing rows directly)
        // make any stored one stale: drop it, the next read folds anew.
        None if !batch.is_empty() => {
            sqlx::query(super::summaries::DROP_SUMMARY)
                .bind(run)
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    Ok(())
}
