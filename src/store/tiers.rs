//! The snapshot pyramid: per run, the count, first and last time, and the
//! minimum and maximum of each charted metric in buckets from 10 s to 1 h,
//! two to five times apart so a chart of any window finds a tier with one
//! to a few buckets per pixel column. The writer folds every batch of snapshots into it in the
//! batch's transaction; a chart picks the coarsest tier whose bucket is no
//! wider than one pixel column, so it reads O(pixels) rows at any zoom
//! while every bucket's minimum (and so every dip) is still drawn.

use std::collections::BTreeMap;

use super::prepared::{LockedDb, RowInsert};

use super::{Batch, Result, SnapshotRow, Store};
use crate::protocol::{MemSnapshot, HEARTBEAT_TAG};

/// Bucket widths in seconds, finest first.
pub const TIERS_S: [i64; 7] = [10, 30, 60, 300, 600, 1800, 3600];

// `batch_buckets` builds each tier from the one before: every width must
// divide the next.
const _: () = {
    let mut i = 1;
    while i < TIERS_S.len() {
        assert!(TIERS_S[i] % TIERS_S[i - 1] == 0);
        i += 1;
    }
};
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
/// not one per snapshot. Only the finest tier reads the snapshots; each
/// coarser one merges the buckets of the tier before it (every width
/// divides the next), so the fold costs about one pass over the batch, not
/// one per tier.
pub(super) fn batch_buckets(rows: &[SnapshotRow]) -> Vec<(i64, i64, TierBucket)> {
    let finest = TIERS_S[0];
    let mut tier = fold_sorted(
        rows.iter()
            .filter(|r| r.ts_us >= 0)
            .map(|r| (r.ts_us / (finest * US_PER_S), TierBucket::of(r))),
    );
    let mut out: Vec<(i64, i64, TierBucket)> = tier
        .iter()
        .map(|&(bucket, b)| (finest, bucket, b))
        .collect();
    for pair in TIERS_S.windows(2) {
        let (finer, coarser) = (pair[0], pair[1]);
        let per = coarser / finer;
        tier = fold_sorted(tier.into_iter().map(|(bucket, b)| (bucket / per, b)));
        out.extend(tier.iter().map(|&(bucket, b)| (coarser, bucket, b)));
    }
    out
}

/// Merges `(bucket, aggregates)` items by bucket, in bucket order. Items
/// come mostly in order (snapshots are time-stamped as they arrive), so a
/// run of equal buckets is merged in place and only a break reaches the map.
fn fold_sorted(items: impl Iterator<Item = (i64, TierBucket)>) -> Vec<(i64, TierBucket)> {
    let mut merged: BTreeMap<i64, TierBucket> = BTreeMap::new();
    let mut current: Option<(i64, TierBucket)> = None;
    let mut settle = |(bucket, b): (i64, TierBucket)| {
        merged
            .entry(bucket)
            .and_modify(|m| m.merge(&b))
            .or_insert(b);
    };
    for (bucket, b) in items {
        match &mut current {
            Some((at, acc)) if *at == bucket => acc.merge(&b),
            _ => {
                if let Some(done) = current.replace((bucket, b)) {
                    settle(done);
                }
            }
        }
    }
    if let Some(done) = current {
        settle(done);
    }
    merged.into_iter().collect()
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
pub(super) fn fold_batch(db: &LockedDb<'_>, run_id: i64, batch: &Batch) -> Result<()> {
    let buckets = batch.tier_buckets();
    if buckets.is_empty() {
        return Ok(());
    }
    let (head, tail) = upsert_sql();
    let mut upsert = RowInsert::new(db, head, 17, &tail)?;
    upsert.insert_all(&buckets, |stmt, at, (tier, bucket, b)| {
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
        let rows = first.zip(last);
        Ok(match (rows, self.packed_extent(run_id).await?.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (rows, packed) => rows.or(packed),
        })
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

    /// Each tier folded straight from the snapshots: what `batch_buckets`
    /// must equal, however it gets there.
    fn per_tier_from_rows(rows: &[SnapshotRow]) -> Vec<(i64, i64, TierBucket)> {
        let mut out = Vec::new();
        for tier in TIERS_S {
            let mut buckets: BTreeMap<i64, TierBucket> = BTreeMap::new();
            for row in rows.iter().filter(|r| r.ts_us >= 0) {
                let b = TierBucket::of(row);
                buckets
                    .entry(row.ts_us / (tier * US_PER_S))
                    .and_modify(|m| m.merge(&b))
                    .or_insert(b);
            }
            out.extend(buckets.into_iter().map(|(bucket, b)| (tier, bucket, b)));
        }
        out
    }

    /// Rows a few seconds apart over hours, with late stamps, stamps before
    /// 1970 (skipped), missing metrics and reboots.
    fn rows(seed: u64, n: usize) -> Vec<SnapshotRow> {
        let mut x = seed;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let mut ts = 1_700_000_000 * US_PER_S;
        let mut boot = 0;
        (0..n)
            .map(|seq| {
                ts += next(20_000_000) as i64;
                let stamp = match next(50) {
                    0 => ts - next(4_000_000_000) as i64,
                    1 => -(next(1_000) as i64),
                    _ => ts,
                };
                if next(200) == 0 {
                    boot += 1;
                }
                let value = |next: &mut dyn FnMut(u64) -> u64| {
                    (next(10) != 0).then(|| next(200_000) as i64)
                };
                SnapshotRow {
                    seq: seq as i64,
                    line_no: None,
                    ts_us: stamp,
                    elapsed_ms: None,
                    boot,
                    snapshot: MemSnapshot {
                        tag: "hb".into(),
                        hi: value(&mut next),
                        hin: value(&mut next),
                        hl: value(&mut next),
                        pf: value(&mut next),
                        frag: value(&mut next),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    #[test]
    fn coarser_tiers_built_from_finer_ones_equal_tiers_built_from_rows() {
        for seed in 1..=20 {
            let rows = rows(seed, 1 + seed as usize * 150);
            assert_eq!(
                batch_buckets(&rows),
                per_tier_from_rows(&rows),
                "seed {seed}"
            );
        }
        assert!(batch_buckets(&[]).is_empty());
    }
}
