//! Batched writes. One transaction per call and multi-row `INSERT`s: SQLite
//! is fast when it commits rarely and parses few statements, and per-row
//! statements would cap live ingest far below what a week-long soak needs.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{Batch, EventRow, HealthRow, Result, SerialLineRow, SnapshotRow, Store};

/// SQLite's bound-parameter limit is 32766; staying well under it keeps each
/// statement's SQL text cached and reused.
const MAX_PARAMS: usize = 8_000;

impl Store {
    /// Writes every batch in one transaction: all of it lands, or none.
    #[tracing::instrument(skip_all, fields(batches = batches.len()))]
    pub async fn write_batches(&self, batches: &[Batch]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for batch in batches {
            write_batch(&mut tx, batch).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Writes one batch's rows table by table (lines, snapshots, events, health),
/// then folds the snapshots into the pyramid and keeps the summary in step.
async fn write_batch(conn: &mut SqliteConnection, batch: &Batch) -> Result<()> {
    let run = batch.run_id;
    insert_lines(conn, run, &batch.lines).await?;
    insert_snapshots(conn, run, &batch.snapshots).await?;
    insert_events(conn, run, &batch.events).await?;
    insert_health(conn, run, &batch.health).await?;
    super::tiers::fold_batch(conn, run, &batch.snapshots).await?;
    write_summary(conn, run, batch).await
}

/// Five parameters a row.
async fn insert_lines(
    conn: &mut SqliteConnection,
    run: i64,
    lines: &[SerialLineRow],
) -> Result<()> {
    for chunk in lines.chunks(MAX_PARAMS / 5) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO serial_lines (run_id, line_no, ts_us, text, flags) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(run)
                .push_bind(r.line_no)
                .push_bind(r.ts_us)
                .push_bind(r.text.as_str())
                .push_bind(r.flags);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Seventeen parameters a row; the extras map is stored as JSON, or NULL
/// when empty.
async fn insert_snapshots(
    conn: &mut SqliteConnection,
    run: i64,
    snapshots: &[SnapshotRow],
) -> Result<()> {
    for chunk in snapshots.chunks(MAX_PARAMS / 17) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO snapshots (run_id, seq, line_no, ts_us, elapsed_ms, boot, tag, \
             hf, hm, hl, hi, hin, frag, pf, pm, pl, extras) ",
        );
        let extras: Vec<Option<String>> = chunk
            .iter()
            .map(|r| {
                (!r.snapshot.extras.is_empty())
                    .then(|| serde_json::to_string(&r.snapshot.extras))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        q.push_values(chunk.iter().zip(extras), |mut b, (r, extras)| {
            let s = &r.snapshot;
            b.push_bind(run)
                .push_bind(r.seq)
                .push_bind(r.line_no)
                .push_bind(r.ts_us)
                .push_bind(r.elapsed_ms)
                .push_bind(r.boot)
                .push_bind(s.tag.as_str());
            for v in s.values() {
                b.push_bind(v);
            }
            b.push_bind(extras);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Eight parameters a row; the event's data is stored as JSON.
async fn insert_events(conn: &mut SqliteConnection, run: i64, events: &[EventRow]) -> Result<()> {
    for chunk in events.chunks(MAX_PARAMS / 8) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO events (run_id, seq, line_no, ts_us, boot, kind, message, data) ",
        );
        let data: Vec<String> = chunk
            .iter()
            .map(|r| serde_json::to_string(&r.data))
            .collect::<Result<_, _>>()?;
        q.push_values(chunk.iter().zip(data), |mut b, (r, data)| {
            b.push_bind(run)
                .push_bind(r.seq)
                .push_bind(r.line_no)
                .push_bind(r.ts_us)
                .push_bind(r.boot)
                .push_bind(r.kind)
                .push_bind(r.message.as_str())
                .push_bind(data);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Seventeen parameters a row; a failed poll has no sample and stores its
/// fields as the sample's defaults.
async fn insert_health(conn: &mut SqliteConnection, run: i64, health: &[HealthRow]) -> Result<()> {
    for chunk in health.chunks(MAX_PARAMS / 17) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO health_samples (run_id, seq, ts_us, http_status, latency_ms, \
             uptime_seconds, heap_internal_free, heap_internal_min, heap_internal_largest, \
             heap_fragmentation, psram_free, psram_min, psram_largest, \
             heap_internal_free_min_window, psram_free_min_window, raw, error) ",
        );
        q.push_values(chunk, |mut b, r| {
            let s = r.sample.clone().unwrap_or_default();
            b.push_bind(run)
                .push_bind(r.seq)
                .push_bind(r.ts_us)
                .push_bind(r.http_status)
                .push_bind(r.latency_ms)
                .push_bind(s.uptime_seconds)
                .push_bind(s.heap_internal_free)
                .push_bind(s.heap_internal_min)
                .push_bind(s.heap_internal_largest)
                .push_bind(s.heap_fragmentation)
                .push_bind(s.psram_free)
                .push_bind(s.psram_min)
                .push_bind(s.psram_largest)
                .push_bind(s.heap_internal_free_min_window)
                .push_bind(s.psram_free_min_window)
                .push_bind(r.raw.as_deref())
                .push_bind(r.error.as_deref());
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stores the batch's summary, or drops a stored one the rows made stale.
async fn write_summary(conn: &mut SqliteConnection, run: i64, batch: &Batch) -> Result<()> {
    match &batch.summary {
        Some(summary) => super::summaries::upsert_summary(conn, run, summary).await?,
        // Rows written without a summary (a tool writing rows directly)
        // make any stored one stale: drop it, the next read folds anew.
        None if !batch.is_empty() => {
            sqlx::query("DELETE FROM run_summaries WHERE run_id = ?")
                .bind(run)
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    Ok(())
}
