//! The snapshot pyramid: per run, the count, first and last time, and the
//! minimum and maximum of each charted metric in buckets from 10 s to 1 h,
//! two to five times apart so a chart of any window finds a tier with one
//! to a few buckets per pixel column. The writer folds every batch of snapshots into it in the
//! batch's transaction; a chart picks the coarsest tier whose bucket is no
//! wider than one pixel column, so it reads O(pixels) rows at any zoom
//! while every bucket's minimum (and so every dip) is still drawn.

use std::collections::BTreeMap;

use super::prepared::{LockedDb, RowInsert};

use super::{Result, SnapshotRow, Store};
use crate::protocol::{MemSnapshot, HEARTBEAT_TAG};

/// Bucket widths in seconds, finest first.
pub const TIERS_S: [i64; 7] = [10, 30, 60, 300, 600, 1800, 3600];
pub(super) const US_PER_S: i64 = 1_000_000;
/// `hi, hin, hl, pf, frag`: the metrics a run chart draws.
pub(super) const METRICS: usize = 5;

fn metrics(s: &MemSnapshot) -> [Option<i64>; METRICS] {
    [s.hi, s.hin, s.hl, s.pf, s.frag]
}

/// One bucket's aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierBucket {
    pub n: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub boot: i64,
    pub min: [Option<i64>; METRICS],
    pub max: [Option<i64>; METRICS],
}

impl TierBucket {
    fn of(row: &SnapshotRow) -> Self {
        let m = metrics(&row.snapshot);
        TierBucket {
            n: 1,
            first_ts: row.ts_us,
            last_ts: row.ts_us,
            boot: row.boot,
            min: m,
            max: m,
        }
    }

    fn add(&mut self, row: &SnapshotRow) {
        self.n += 1;
        self.first_ts = self.first_ts.min(row.ts_us);
        self.last_ts = self.last_ts.max(row.ts_us);
        self.boot = self.boot.max(row.boot);
        for (i, v) in metrics(&row.snapshot).into_iter().enumerate() {
            self.min[i] = merge(self.min[i], v, i64::min);
            self.max[i] = merge(self.max[i], v, i64::max);
        }
    }
}

fn merge(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// The tier a chart of `window_us` drawn `columns` wide reads: the coarsest
/// whose bucket fits in one column, or `None` when even the finest is wider
/// (the chart then reads the snapshots themselves, at most a few thousand).
pub fn tier_for(window_us: i64, columns: u32) -> Option<i64> {
    let column_us = window_us / i64::from(columns.max(1));
    TIERS_S
        .iter()
        .rev()
        .find(|&&t| t * US_PER_S <= column_us)
        .copied()
}

/// A batch's snapshots merged into buckets, per tier: `(tier, bucket, aggregates)`.
/// Merging in Rust first makes a batch cost one upsert per touched bucket,
/// not one per snapshot.
pub(super) fn batch_buckets(rows: &[SnapshotRow]) -> Vec<(i64, i64, TierBucket)> {
    let mut out = Vec::new();
    for tier in TIERS_S {
        let mut buckets: BTreeMap<i64, TierBucket> = BTreeMap::new();
        for row in rows.iter().filter(|r| r.ts_us >= 0) {
            buckets
                .entry(row.ts_us / (tier * US_PER_S))
                .and_modify(|b| b.add(row))
                .or_insert_with(|| TierBucket::of(row));
        }
        out.extend(buckets.into_iter().map(|(bucket, b)| (tier, bucket, b)));
    }
    out
}

impl TierBucket {
    /// Folds another bucket of the same key into this one.
    pub(super) fn merge(&mut self, other: &TierBucket) {
        self.n += other.n;
        self.first_ts = self.first_ts.min(other.first_ts);
        self.last_ts = self.last_ts.max(other.last_ts);
        self.boot = self.boot.max(other.boot);
        for i in 0..METRICS {
            self.min[i] = merge(self.min[i], other.min[i], i64::min);
            self.max[i] = merge(self.max[i], other.max[i], i64::max);
        }
    }
}

/// Folds a batch's snapshots into every tier on SQLite (called inside the
/// batch's transaction).
pub(super) fn fold_batch(db: &LockedDb<'_>, run_id: i64, rows: &[SnapshotRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (head, tail) = upsert_sql();
    let mut upsert = RowInsert::new(db, head, 17, &tail)?;
    upsert.insert_all(&batch_buckets(rows), |stmt, at, (tier, bucket, b)| {
        let fixed = [run_id, *tier, *bucket, b.n, b.first_ts, b.last_ts, b.boot];
        for (i, v) in (at..).zip(fixed) {
            stmt.int(i, v)?;
        }
        for (m, i) in (0..METRICS).zip((at + 7..).step_by(2)) {
            stmt.opt_int(i, b.min[m])?;
            stmt.opt_int(i + 1, b.max[m])?;
        }
        Ok(())
    })
}

/// One bucket's upsert on SQLite. MIN/MAX of two values are NULL when
/// either is; COALESCE makes a missing side take the other's value. (The
/// PostgreSQL twin, in `write_pg.rs`, uses LEAST/GREATEST, which skip NULLs.)
fn upsert_sql() -> (&'static str, String) {
    let head = "INSERT INTO snapshot_tiers (run_id, tier, bucket, n, first_ts, last_ts, boot, \
         min_hi, max_hi, min_hin, max_hin, min_hl, max_hl, min_pf, max_pf, min_frag, max_frag)";
    let mut sql = String::from(
        "ON CONFLICT(run_id, tier, bucket) DO UPDATE SET n = n + excluded.n, \
         first_ts = MIN(first_ts, excluded.first_ts), \
         last_ts = MAX(last_ts, excluded.last_ts), boot = MAX(boot, excluded.boot)",
    );
    for m in ["hi", "hin", "hl", "pf", "frag"] {
        sql.push_str(&format!(
            ", min_{m} = MIN(COALESCE(min_{m}, excluded.min_{m}), COALESCE(excluded.min_{m}, min_{m})), \
             max_{m} = MAX(COALESCE(max_{m}, excluded.max_{m}), COALESCE(excluded.max_{m}, max_{m}))"
        ));
    }
    (head, sql)
}

type TierRow = (
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
);

impl Store {
    /// A window of one tier as chartable rows: two per bucket, one carrying
    /// the bucket's minima (and worst fragmentation) at its first time, one
    /// its maxima at its last, so the chart's per-column minimum and
    /// maximum are the raw rows' whenever a bucket fits in a column.
    #[tracing::instrument(skip(self))]
    pub async fn tier_rows(
        &self,
        run_id: i64,
        tier: i64,
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Result<Vec<SnapshotRow>> {
        let width = tier * US_PER_S;
        let rows: Vec<TierRow> = with_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT first_ts, last_ts, boot, min_hi, max_hi, min_hin, max_hin, min_hl, max_hl, \
             min_pf, max_pf, min_frag, max_frag FROM snapshot_tiers \
             WHERE run_id = $1 AND tier = $2 AND bucket >= $3 AND bucket <= $4 ORDER BY bucket",
        )
        .bind(run_id)
        .bind(tier)
        .bind(from_us.map_or(i64::MIN, |f| f.div_euclid(width)))
        .bind(to_us.map_or(i64::MAX, |t| t.div_euclid(width)))
        .fetch_all(pool)
        .await
        })?;
        let mut out = Vec::with_capacity(rows.len() * 2);
        for r in rows {
            let point = |seq: i64, ts: i64, hi, hin, hl, pf, frag| SnapshotRow {
                seq,
                line_no: None,
                ts_us: ts,
                elapsed_ms: None,
                boot: r.2,
                snapshot: MemSnapshot {
                    tag: HEARTBEAT_TAG.to_owned(),
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
            let seq = out.len() as i64 + 1;
            out.push(point(seq, r.0, r.3, r.5, r.7, r.9, r.12));
            if r.1 > r.0 {
                out.push(point(seq + 1, r.1, r.4, r.6, r.8, r.10, r.11));
            }
        }
        Ok(out)
    }

    /// The first and last snapshot time of a run (two index lookups).
    #[tracing::instrument(skip(self))]
    pub async fn snapshot_span(&self, run_id: i64) -> Result<Option<(i64, i64)>> {
        let first: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT ts_us FROM snapshots WHERE run_id = $1 ORDER BY ts_us LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        let last: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT ts_us FROM snapshots WHERE run_id = $1 ORDER BY ts_us DESC LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(first.zip(last))
    }

    /// Buckets stored for a run at one tier (for tests and the docs).
    #[tracing::instrument(skip(self))]
    pub async fn tier_buckets(&self, run_id: i64, tier: i64) -> Result<i64> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM snapshot_tiers WHERE run_id = $1 AND tier = $2"
        )
        .bind(run_id)
        .bind(tier)
        .fetch_one(pool)
        .await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarsest_tier_that_fits_a_column() {
        let week = 7 * 86_400 * US_PER_S;
        assert_eq!(tier_for(week, 1200), Some(300));
        assert_eq!(tier_for(week, 100), Some(3600));
        assert_eq!(tier_for(86_400 * US_PER_S, 1200), Some(60));
        assert_eq!(tier_for(12 * 3600 * US_PER_S, 1200), Some(30));
        assert_eq!(tier_for(6 * 3600 * US_PER_S, 1200), Some(10));
        assert_eq!(tier_for(3600 * US_PER_S, 1200), None);
        assert_eq!(tier_for(0, 0), None);
    }
}
