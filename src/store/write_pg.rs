//! Batched writes on PostgreSQL: the same rows, transaction and summaries
//! as `write.rs` (SQLite), written the PostgreSQL way. Each table's rows go
//! as one `INSERT … SELECT FROM UNNEST($1::bigint[], …)` with one array per
//! column: one statement and one round trip per table per call, however
//! many rows, where a row-per-statement insert would wait on the network
//! once per row.

use std::borrow::Cow;
use std::collections::BTreeMap;

use sqlx::{PgPool, Postgres, Transaction};

use super::serial_codec::CODEC;
use super::snapshot_codec::SNAPSHOT_CODEC;
use super::tiers::{TierBucket, METRICS};
use super::{Batch, Result};

/// Writes every batch in one transaction: all of it lands, or none.
pub(super) async fn write_batches(
    pool: &PgPool,
    batches: &[Batch],
    marks: &[super::AgentMark],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    insert_lines(&mut tx, batches).await?;
    insert_blocks(&mut tx, batches).await?;
    insert_snapshots(&mut tx, batches).await?;
    insert_snapshot_blocks(&mut tx, batches).await?;
    insert_events(&mut tx, batches).await?;
    insert_health(&mut tx, batches).await?;
    upsert_tiers(&mut tx, batches).await?;
    for batch in batches {
        match &batch.summary {
            Some(summary) => super::summaries::upsert_summary!(&mut *tx, batch.run_id, summary)?,
            // As on SQLite: rows without a summary make a stored one stale.
            None if !batch.is_empty() => {
                sqlx::query(super::summaries::DROP_SUMMARY)
                    .bind(batch.run_id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
    }
    super::agents::mark_stored_pg(&mut tx, marks).await?;
    tx.commit().await?;
    Ok(())
}

/// PostgreSQL text cannot hold NUL; SQLite's can, and a serial line from a
/// booting device may carry one. It is stored as U+FFFD, the character a
/// lossy decode already puts in place of bytes that are not UTF-8.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// JSON for a text column that is read back through `::jsonb`, which
/// rejects the escaped NUL (`\u0000`) that serde writes for one.
fn json_text(json: String) -> String {
    if json.contains("\\u0000") {
        json.replace("\\u0000", "\\ufffd")
    } else {
        json
    }
}

async fn insert_lines(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    // run, line_no, ts, flags
    let mut ints: [Vec<i64>; 4] = Default::default();
    let mut body: Vec<String> = Vec::new();
    for batch in batches {
        for r in &batch.lines {
            for (col, v) in ints
                .iter_mut()
                .zip([batch.run_id, r.line_no, r.ts_us, r.flags])
            {
                col.push(v);
            }
            body.push(text(&r.text).into_owned());
        }
    }
    if body.is_empty() {
        return Ok(());
    }
    let [run, line_no, ts, flags] = &ints;
    sqlx::query(
        "INSERT INTO serial_lines (run_id, line_no, ts_us, flags, text) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(line_no)
    .bind(ts)
    .bind(flags)
    .bind(&body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Packed lines. A block replaces one with the same first line (as
/// SQLite's `INSERT OR REPLACE`); within one call the last one wins, since
/// one statement may not update a row twice.
async fn insert_blocks(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    let mut blocks = BTreeMap::new();
    for batch in batches {
        for b in &batch.blocks {
            blocks.insert((batch.run_id, b.first_line), b);
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let mut cols: [Vec<i64>; 6] = Default::default();
    let mut data: Vec<&[u8]> = Vec::with_capacity(blocks.len());
    for ((run, _), b) in &blocks {
        let values = [
            *run,
            b.first_line,
            b.last_line,
            b.first_ts,
            b.last_ts,
            b.lines,
        ];
        for (col, v) in cols.iter_mut().zip(values) {
            col.push(v);
        }
        data.push(&b.data);
    }
    let [run, first, last, first_ts, last_ts, lines] = &cols;
    sqlx::query(
        "INSERT INTO serial_blocks (run_id, first_line, last_line, first_ts, last_ts, lines, \
         codec, data) \
         SELECT run_id, first_line, last_line, first_ts, last_ts, lines, $7, data \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], \
         $6::BIGINT[], $8::BYTEA[]) \
         AS b(run_id, first_line, last_line, first_ts, last_ts, lines, data) \
         ON CONFLICT (run_id, first_line) DO UPDATE SET last_line = excluded.last_line, \
         first_ts = excluded.first_ts, last_ts = excluded.last_ts, lines = excluded.lines, \
         codec = excluded.codec, data = excluded.data",
    )
    .bind(run)
    .bind(first)
    .bind(last)
    .bind(first_ts)
    .bind(last_ts)
    .bind(lines)
    .bind(CODEC)
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Packed snapshots; as serial blocks, one with the same first `seq`
/// is replaced and the last one of a call wins.
async fn insert_snapshot_blocks(
    tx: &mut Transaction<'_, Postgres>,
    batches: &[Batch],
) -> Result<()> {
    let mut blocks = BTreeMap::new();
    for batch in batches {
        for b in &batch.snapshot_blocks {
            blocks.insert((batch.run_id, b.first_seq), b);
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let mut cols: [Vec<i64>; 7] = Default::default();
    let mut data: Vec<&[u8]> = Vec::with_capacity(blocks.len());
    for ((run, _), b) in &blocks {
        let values = std::iter::once(*run).chain(b.headers());
        for (col, v) in cols.iter_mut().zip(values) {
            col.push(v);
        }
        data.push(&b.data);
    }
    let mut q = sqlx::query(
        "INSERT INTO snapshot_blocks (run_id, first_seq, last_seq, min_ts, max_ts, last_boot, \
         snapshots, codec, data) \
         SELECT run_id, first_seq, last_seq, min_ts, max_ts, last_boot, snapshots, $8, data \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], \
         $6::BIGINT[], $7::BIGINT[], $9::BYTEA[]) \
         AS b(run_id, first_seq, last_seq, min_ts, max_ts, last_boot, snapshots, data) \
         ON CONFLICT (run_id, first_seq) DO UPDATE SET last_seq = excluded.last_seq, \
         min_ts = excluded.min_ts, max_ts = excluded.max_ts, last_boot = excluded.last_boot, \
         snapshots = excluded.snapshots, codec = excluded.codec, data = excluded.data",
    );
    for col in &cols {
        q = q.bind(col);
    }
    q.bind(SNAPSHOT_CODEC)
        .bind(&data)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_snapshots(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    // run, seq, line_no, ts, elapsed, boot, then the nine memory values.
    let mut ints: [Vec<Option<i64>>; 15] = Default::default();
    let mut tags: Vec<String> = Vec::new();
    let mut extras: Vec<Option<String>> = Vec::new();
    for batch in batches {
        for r in &batch.snapshots {
            let s = &r.snapshot;
            let fixed = [
                Some(batch.run_id),
                Some(r.seq),
                r.line_no,
                Some(r.ts_us),
                r.elapsed_ms,
                Some(r.boot),
            ];
            for (col, v) in ints.iter_mut().zip(fixed.into_iter().chain(s.values())) {
                col.push(v);
            }
            tags.push(text(&s.tag).into_owned());
            extras.push(
                (!s.extras.is_empty())
                    .then(|| serde_json::to_string(&s.extras).map(json_text))
                    .transpose()?,
            );
        }
    }
    if tags.is_empty() {
        return Ok(());
    }
    let mut q = sqlx::query(
        "INSERT INTO snapshots (run_id, seq, line_no, ts_us, elapsed_ms, boot, \
         hf, hm, hl, hi, hin, frag, pf, pm, pl, tag, extras) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], \
         $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], \
         $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], \
         $16::TEXT[], $17::TEXT[]) ON CONFLICT DO NOTHING",
    );
    for col in &ints {
        q = q.bind(col);
    }
    q.bind(&tags).bind(&extras).execute(&mut **tx).await?;
    Ok(())
}

async fn insert_events(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    // run, seq, line_no, ts, boot
    let mut ints: [Vec<Option<i64>>; 5] = Default::default();
    let mut texts: [Vec<String>; 3] = Default::default();
    for batch in batches {
        for r in &batch.events {
            let fixed = [
                Some(batch.run_id),
                Some(r.seq),
                r.line_no,
                Some(r.ts_us),
                Some(r.boot),
            ];
            for (col, v) in ints.iter_mut().zip(fixed) {
                col.push(v);
            }
            let data = json_text(serde_json::to_string(&r.data)?);
            let values = [
                r.kind.as_str().to_owned(),
                text(&r.message).into_owned(),
                data,
            ];
            for (col, v) in texts.iter_mut().zip(values) {
                col.push(v);
            }
        }
    }
    if texts[0].is_empty() {
        return Ok(());
    }
    let mut q = sqlx::query(
        "INSERT INTO events (run_id, seq, line_no, ts_us, boot, kind, message, data) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], \
         $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[]) ON CONFLICT DO NOTHING",
    );
    for col in &ints {
        q = q.bind(col);
    }
    for col in &texts {
        q = q.bind(col);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// A failed poll has no sample and stores its fields as NULL.
async fn insert_health(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    // run, seq, ts, http_status, latency, then the ten sample fields.
    let mut ints: [Vec<Option<i64>>; 15] = Default::default();
    let mut raw: Vec<Option<String>> = Vec::new();
    let mut error: Vec<Option<String>> = Vec::new();
    for batch in batches {
        for r in &batch.health {
            let s = r.sample.clone().unwrap_or_default();
            let values = [
                Some(batch.run_id),
                Some(r.seq),
                Some(r.ts_us),
                r.http_status,
                r.latency_ms,
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
            for (col, v) in ints.iter_mut().zip(values) {
                col.push(v);
            }
            raw.push(r.raw.as_deref().map(|b| text(b).into_owned()));
            error.push(r.error.as_deref().map(|e| text(e).into_owned()));
        }
    }
    if raw.is_empty() {
        return Ok(());
    }
    let mut q = sqlx::query(
        "INSERT INTO health_samples (run_id, seq, ts_us, http_status, latency_ms, \
         uptime_seconds, heap_internal_free, heap_internal_min, heap_internal_largest, \
         heap_fragmentation, psram_free, psram_min, psram_largest, \
         heap_internal_free_min_window, psram_free_min_window, raw, error) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], \
         $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], \
         $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], \
         $16::TEXT[], $17::TEXT[]) ON CONFLICT DO NOTHING",
    );
    for col in &ints {
        q = q.bind(col);
    }
    q.bind(&raw).bind(&error).execute(&mut **tx).await?;
    Ok(())
}

/// Folds the batches' snapshots into the pyramid: buckets merged in Rust
/// across all batches (one statement may not update a row twice), then one
/// upsert. LEAST and GREATEST skip NULLs, so a metric missing on one side
/// takes the other's value, as the SQLite upsert's COALESCEs do.
async fn upsert_tiers(tx: &mut Transaction<'_, Postgres>, batches: &[Batch]) -> Result<()> {
    let mut merged: BTreeMap<(i64, i64, i64), TierBucket> = BTreeMap::new();
    for batch in batches {
        for (tier, bucket, b) in batch.tier_buckets() {
            merged
                .entry((batch.run_id, tier, bucket))
                .and_modify(|m| m.merge(&b))
                .or_insert(b);
        }
    }
    if merged.is_empty() {
        return Ok(());
    }
    // run, tier, bucket, n, first, last, boot, then min/max of each metric.
    let mut cols: [Vec<Option<i64>>; 7 + 2 * METRICS] = Default::default();
    for ((run, tier, bucket), b) in &merged {
        let fixed = [*run, *tier, *bucket, b.n, b.first_ts, b.last_ts, b.boot].map(Some);
        let metrics = (0..METRICS).flat_map(|m| [b.min[m], b.max[m]]);
        for (col, v) in cols.iter_mut().zip(fixed.into_iter().chain(metrics)) {
            col.push(v);
        }
    }
    let mut sql = String::from(
        "INSERT INTO snapshot_tiers AS t (run_id, tier, bucket, n, first_ts, last_ts, boot, \
         min_hi, max_hi, min_hin, max_hin, min_hl, max_hl, min_pf, max_pf, min_frag, max_frag) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], \
         $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], \
         $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], \
         $16::BIGINT[], $17::BIGINT[]) \
         ON CONFLICT (run_id, tier, bucket) DO UPDATE SET n = t.n + excluded.n, \
         first_ts = LEAST(t.first_ts, excluded.first_ts), \
         last_ts = GREATEST(t.last_ts, excluded.last_ts), \
         boot = GREATEST(t.boot, excluded.boot)",
    );
    for m in ["hi", "hin", "hl", "pf", "frag"] {
        sql.push_str(&format!(
            ", min_{m} = LEAST(t.min_{m}, excluded.min_{m}), \
             max_{m} = GREATEST(t.max_{m}, excluded.max_{m})"
        ));
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for col in &cols {
        q = q.bind(col);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
