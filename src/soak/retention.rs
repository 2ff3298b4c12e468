//! Retention for long runs. Raw serial lines older than the policy's age
//! are deflated into `serial_blocks` (or dropped); snapshots and events are
//! always kept. Per-minute min/max rollups (`snapshot_rollups`) let a
//! week-long chart read ~10k rows instead of ~600k snapshots while keeping
//! every minute's minimum. Applied hourly by the server and by
//! `heaplab retention run`.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::Serialize;

use super::config::{RetentionConfig, RetentionMode};
use crate::protocol::MemSnapshot;
use crate::store::{now_us, Result, SerialLineRow, SerialPage, SnapshotRow, Store, StoreError};

/// Lines per compressed block.
pub const BLOCK_LINES: i64 = 2000;
pub const CODEC: &str = "deflate-json-v1";
const US_PER_MINUTE: i64 = 60_000_000;
/// Above this many snapshots in a chart's window, the chart reads rollups.
pub const ROLLUP_THRESHOLD: i64 = 50_000;

/// What one application of the policy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    pub cutoff_us: i64,
    pub lines_compacted: u64,
    pub blocks_written: u64,
    pub lines_dropped: u64,
    pub rollup_runs: u64,
    pub rollup_minutes: u64,
}

fn encode(lines: &[SerialLineRow]) -> std::io::Result<Vec<u8>> {
    let rows: Vec<(i64, i64, i64, &str)> = lines
        .iter()
        .map(|l| (l.line_no, l.ts_us, l.flags, l.text.as_str()))
        .collect();
    let json = serde_json::to_vec(&rows).map_err(std::io::Error::other)?;
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&json)?;
    enc.finish()
}

fn decode(codec: &str, data: &[u8]) -> Result<Vec<SerialLineRow>> {
    if codec != CODEC {
        return Err(StoreError::Conflict(format!(
            "unknown serial block codec {codec:?}"
        )));
    }
    let mut json = Vec::new();
    DeflateDecoder::new(data)
        .read_to_end(&mut json)
        .map_err(|e| StoreError::Conflict(format!("corrupt serial block: {e}")))?;
    let rows: Vec<(i64, i64, i64, String)> = serde_json::from_slice(&json)?;
    Ok(rows
        .into_iter()
        .map(|(line_no, ts_us, flags, text)| SerialLineRow {
            line_no,
            ts_us,
            text,
            flags,
        })
        .collect())
}

/// Applies the policy once: lines older than `raw_serial_days` compacted or
/// dropped, rollups brought up to date.
pub async fn apply(store: &Store, policy: &RetentionConfig) -> Result<RetentionReport> {
    let cutoff = now_us() - (policy.raw_serial_days * 86_400_000_000.0) as i64;
    let mut report = match policy.mode {
        RetentionMode::Compact => compact_before(store, cutoff).await?,
        RetentionMode::Drop => drop_before(store, cutoff).await?,
    };
    let (runs, minutes) = update_all_rollups(store).await?;
    report.rollup_runs = runs;
    report.rollup_minutes = minutes;
    Ok(report)
}

/// Deflates every raw line older than `cutoff_us` into blocks.
pub async fn compact_before(store: &Store, cutoff_us: i64) -> Result<RetentionReport> {
    let mut report = RetentionReport {
        cutoff_us,
        ..Default::default()
    };
    let runs: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT run_id FROM serial_lines WHERE ts_us < ?")
            .bind(cutoff_us)
            .fetch_all(store.pool())
            .await?;
    for run in runs {
        loop {
            let lines: Vec<SerialLineRow> = sqlx::query_as(
                "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE run_id = ? \
                 AND ts_us < ? ORDER BY line_no LIMIT ?",
            )
            .bind(run)
            .bind(cutoff_us)
            .bind(BLOCK_LINES)
            .fetch_all(store.pool())
            .await?;
            let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
                break;
            };
            let data = encode(&lines).map_err(|e| StoreError::Conflict(e.to_string()))?;
            let mut tx = store.pool().begin().await?;
            sqlx::query(
                "INSERT OR REPLACE INTO serial_blocks (run_id, first_line, last_line, first_ts, \
                 last_ts, lines, codec, data) VALUES (?,?,?,?,?,?,?,?)",
            )
            .bind(run)
            .bind(first.line_no)
            .bind(last.line_no)
            .bind(lines.iter().map(|l| l.ts_us).min().unwrap_or(first.ts_us))
            .bind(lines.iter().map(|l| l.ts_us).max().unwrap_or(last.ts_us))
            .bind(lines.len() as i64)
            .bind(CODEC)
            .bind(&data)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM serial_lines WHERE run_id = ? AND line_no >= ? AND line_no <= ? \
                 AND ts_us < ?",
            )
            .bind(run)
            .bind(first.line_no)
            .bind(last.line_no)
            .bind(cutoff_us)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.lines_compacted += lines.len() as u64;
            report.blocks_written += 1;
        }
    }
    Ok(report)
}

/// Deletes every raw line older than `cutoff_us` (in batches).
pub async fn drop_before(store: &Store, cutoff_us: i64) -> Result<RetentionReport> {
    let mut report = RetentionReport {
        cutoff_us,
        ..Default::default()
    };
    loop {
        // Batches keep each write transaction short while ingest goes on.
        let n = sqlx::query(
            "DELETE FROM serial_lines WHERE (run_id, line_no) IN \
             (SELECT run_id, line_no FROM serial_lines WHERE ts_us < ? LIMIT 20000)",
        )
        .bind(cutoff_us)
        .execute(store.pool())
        .await?
        .rows_affected();
        report.lines_dropped += n;
        if n < 20_000 {
            break;
        }
    }
    Ok(report)
}

/// True when the run has compacted lines.
pub async fn has_blocks(store: &Store, run_id: i64) -> Result<bool> {
    let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM serial_blocks WHERE run_id = ? LIMIT 1")
        .bind(run_id)
        .fetch_optional(store.pool())
        .await?;
    Ok(n.is_some())
}

/// ASCII case-insensitive substring match, as SQLite's `LIKE` is.
fn matches(text: &str, needle_lower: &str) -> bool {
    text.to_ascii_lowercase().contains(needle_lower)
}

/// `Store::serial_lines` for a run with compacted blocks: the blocks'
/// lines and the remaining raw lines, merged in line order.
pub async fn serial_lines_with_blocks(
    store: &Store,
    run_id: i64,
    offset: i64,
    limit: i64,
    search: Option<&str>,
) -> Result<SerialPage> {
    let blocks: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "SELECT first_line, last_line, lines, codec FROM serial_blocks WHERE run_id = ? ORDER BY first_line",
    )
    .bind(run_id)
    .fetch_all(store.pool())
    .await?;
    let offset = offset.max(0);
    let limit = limit.max(0);
    let needle = search.map(str::to_ascii_lowercase);
    let mut out: Vec<SerialLineRow> = Vec::new();
    let mut total = 0i64;
    let mut skipped = 0i64;
    for (first, _last, lines, codec) in &blocks {
        // Without a search, a block wholly outside the page needs no decoding.
        if needle.is_none() && (skipped + lines <= offset || out.len() as i64 >= limit) {
            if skipped + lines <= offset {
                skipped += lines;
            }
            total += lines;
            continue;
        }
        let data: Vec<u8> = sqlx::query_scalar(
            "SELECT data FROM serial_blocks WHERE run_id = ? AND first_line = ?",
        )
        .bind(run_id)
        .bind(first)
        .fetch_one(store.pool())
        .await?;
        for r in decode(codec, &data)? {
            if needle.as_deref().is_some_and(|n| !matches(&r.text, n)) {
                continue;
            }
            total += 1;
            if skipped < offset {
                skipped += 1;
            } else if (out.len() as i64) < limit {
                out.push(r);
            }
        }
    }
    // The raw lines, paged with what is left of the offset.
    let live = store
        .serial_lines_raw(run_id, offset - skipped, limit - out.len() as i64, search)
        .await?;
    total += live.total;
    out.extend(live.lines);
    out.sort_by_key(|l| l.line_no);
    Ok(SerialPage { total, lines: out })
}

/// Rollups of every run whose snapshots are newer than its rollups.
pub async fn update_all_rollups(store: &Store) -> Result<(u64, u64)> {
    let runs: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM runs r WHERE status = 'active' OR NOT EXISTS \
         (SELECT 1 FROM snapshot_rollups s WHERE s.run_id = r.id)",
    )
    .fetch_all(store.pool())
    .await?;
    let (mut n_runs, mut minutes) = (0, 0);
    for run in runs {
        let m = update_rollups(store, run).await?;
        if m > 0 {
            n_runs += 1;
            minutes += m;
        }
    }
    Ok((n_runs, minutes))
}

#[derive(Default)]
struct Acc {
    n: i64,
    first_ts: i64,
    last_ts: i64,
    min: [Option<i64>; 5],
    max: [Option<i64>; 5],
    last_tag: String,
    last_boot: i64,
}

/// Recomputes a run's rollups from its last rolled-up minute on; returns
/// the minutes written.
pub async fn update_rollups(store: &Store, run_id: i64) -> Result<u64> {
    let from_minute: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(minute), 0) FROM snapshot_rollups WHERE run_id = ?",
    )
    .bind(run_id)
    .fetch_one(store.pool())
    .await?;
    type Row = (
        i64,
        i64,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT ts_us, boot, tag, hi, hin, hl, pf, frag FROM snapshots WHERE run_id = ? \
         AND ts_us >= ? ORDER BY seq",
    )
    .bind(run_id)
    .bind(from_minute.saturating_mul(US_PER_MINUTE))
    .fetch_all(store.pool())
    .await?;
    let mut minutes: std::collections::BTreeMap<i64, Acc> = Default::default();
    for (ts, boot, tag, hi, hin, hl, pf, frag) in rows {
        let a = minutes.entry(ts.div_euclid(US_PER_MINUTE)).or_default();
        if a.n == 0 {
            a.first_ts = ts;
        }
        a.n += 1;
        a.first_ts = a.first_ts.min(ts);
        a.last_ts = a.last_ts.max(ts);
        for (i, v) in [hi, hin, hl, pf, frag].into_iter().enumerate() {
            if let Some(v) = v {
                a.min[i] = Some(a.min[i].map_or(v, |m| m.min(v)));
                a.max[i] = Some(a.max[i].map_or(v, |m| m.max(v)));
            }
        }
        a.last_tag = tag;
        a.last_boot = boot;
    }
    let mut tx = store.pool().begin().await?;
    for (minute, a) in &minutes {
        sqlx::query(
            "INSERT OR REPLACE INTO snapshot_rollups (run_id, minute, n, first_ts, last_ts, \
             min_hi, max_hi, min_hin, max_hin, min_hl, max_hl, min_pf, max_pf, min_frag, max_frag, \
             last_tag, last_boot) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(run_id)
        .bind(minute)
        .bind(a.n)
        .bind(a.first_ts)
        .bind(a.last_ts)
        .bind(a.min[0])
        .bind(a.max[0])
        .bind(a.min[1])
        .bind(a.max[1])
        .bind(a.min[2])
        .bind(a.max[2])
        .bind(a.min[3])
        .bind(a.max[3])
        .bind(a.min[4])
        .bind(a.max[4])
        .bind(&a.last_tag)
        .bind(a.last_boot)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(minutes.len() as u64)
}

/// Snapshots in a chart window, counted without loading them.
pub async fn count_snapshots(
    store: &Store,
    run_id: i64,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM snapshots WHERE run_id = ? AND ts_us >= ? AND ts_us <= ?",
    )
    .bind(run_id)
    .bind(from.unwrap_or(i64::MIN))
    .bind(to.unwrap_or(i64::MAX))
    .fetch_one(store.pool())
    .await?)
}

/// A week-long window as chartable rows: two per minute, one carrying the
/// minute's minima (and worst fragmentation) at its first time, one its
/// maxima at its last, so the chart's M4 keeps every low-water dip.
pub async fn rollup_rows(
    store: &Store,
    run_id: i64,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<SnapshotRow>> {
    update_rollups(store, run_id).await?;
    type Row = (
        i64,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT minute, first_ts, last_ts, min_hi, max_hi, min_hin, max_hin, min_hl, max_hl, \
         min_pf, max_pf, min_frag, max_frag, last_tag, last_boot FROM snapshot_rollups \
         WHERE run_id = ? AND last_ts >= ? AND first_ts <= ? ORDER BY minute",
    )
    .bind(run_id)
    .bind(from.unwrap_or(i64::MIN))
    .bind(to.unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len() * 2);
    let mut seq = 0;
    for r in rows {
        let tag = r.13.unwrap_or_else(|| "hb".into());
        let boot = r.14.unwrap_or(0);
        let row = |seq: i64, ts: i64, hi, hin, hl, pf, frag| SnapshotRow {
            seq,
            line_no: None,
            ts_us: ts,
            elapsed_ms: None,
            boot,
            snapshot: MemSnapshot {
                tag: tag.clone(),
                hi,
                hf: hi,
                hin,
                hm: hin,
                hl,
                pf,
                pm: None,
                pl: None,
                frag,
                extras: Vec::new(),
            },
        };
        seq += 1;
        out.push(row(seq, r.1, r.3, r.5, r.7, r.9, r.12));
        if r.2 > r.1 {
            seq += 1;
            out.push(row(seq, r.2, r.4, r.6, r.8, r.10, r.11));
        }
    }
    Ok(out)
}
