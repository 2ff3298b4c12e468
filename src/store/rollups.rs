//! Per-minute min/max rollups of each run's snapshots, so a week-long
//! chart reads ~10k rows instead of ~600k while keeping every minute's
//! minimum.

use super::{Result, SnapshotRow, Store};
use crate::protocol::MemSnapshot;

const US_PER_MINUTE: i64 = 60_000_000;
/// Above this many snapshots in a chart's window, the chart reads rollups.
pub const ROLLUP_THRESHOLD: i64 = 50_000;

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

impl Store {
    /// Rollups of every run whose snapshots are newer than its rollups.
    #[tracing::instrument(skip(self))]
    pub async fn update_all_rollups(&self) -> Result<(u64, u64)> {
        let runs: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM runs r WHERE status = 'active' OR NOT EXISTS \
         (SELECT 1 FROM snapshot_rollups s WHERE s.run_id = r.id)",
        )
        .fetch_all(&self.pool)
        .await?;
        let (mut n_runs, mut minutes) = (0, 0);
        for run in runs {
            let m = self.update_rollups(run).await?;
            if m > 0 {
                n_runs += 1;
                minutes += m;
            }
        }
        Ok((n_runs, minutes))
    }

    /// Recomputes a run's rollups from its last rolled-up minute on; returns
    /// the minutes written.
    #[tracing::instrument(skip(self))]
    pub async fn update_rollups(&self, run_id: i64) -> Result<u64> {
        let from_minute: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(minute), 0) FROM snapshot_rollups WHERE run_id = ?",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
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
    #[tracing::instrument(skip(self))]
    pub async fn count_snapshots(
        &self,
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
        .fetch_one(&self.pool)
        .await?)
    }

    /// A week-long window as chartable rows: two per minute, one carrying the
    /// minute's minima (and worst fragmentation) at its first time, one its
    /// maxima at its last, so the chart's M4 keeps every low-water dip.
    #[tracing::instrument(skip(self))]
    pub async fn rollup_rows(
        &self,
        run_id: i64,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<SnapshotRow>> {
        self.update_rollups(run_id).await?;
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
        .fetch_all(&self.pool)
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
}
