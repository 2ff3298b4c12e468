//! Snapshots stored packed: [`SNAPSHOT_BLOCK_ROWS`] consecutive snapshots
//! of a run as one row of `snapshot_blocks`. An import writes a week's
//! 600 k snapshots this way, which was half of what its writer spent (two
//! B-tree entries a snapshot, and every page of them written twice through
//! the WAL). Live recording keeps writing `snapshots` rows; every read of
//! a run's snapshots reads both and merges them by `seq`, so a reader
//! cannot tell how a snapshot was stored.

use flate2::Compression;
use sqlx::QueryBuilder;

use super::deflater::Deflater;
use super::read::{HeapPoint, NumberedPoint};
use super::snapshot_codec::{decode_snapshots, SnapshotEncoder, SNAPSHOT_CODEC};
use super::{CompactionReport, Result, SnapshotRow, Store, StoreError};
use crate::protocol::HEARTBEAT_TAG;

/// Snapshots per block: a zoomed chart's window decodes one or two blocks,
/// a few hundred microseconds each.
pub const SNAPSHOT_BLOCK_ROWS: i64 = 2000;

/// Blocks read per query while a page collects rows.
const BLOCKS_PER_READ: i64 = 8;

/// Consecutive snapshots of one run, encoded together. The ends of its
/// `seq` and time range and its last boot let counts, spans and resumes
/// be answered without decoding it.
#[derive(Debug, Clone)]
pub struct SnapshotBlock {
    pub first_seq: i64,
    pub last_seq: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub last_boot: i64,
    pub snapshots: i64,
    pub data: Vec<u8>,
}

impl SnapshotBlock {
    /// `first_seq, last_seq, min_ts, max_ts, last_boot, snapshots`: the
    /// header columns, in the order both writers bind them.
    pub(super) fn headers(&self) -> [i64; 6] {
        [
            self.first_seq,
            self.last_seq,
            self.min_ts,
            self.max_ts,
            self.last_boot,
            self.snapshots,
        ]
    }
}

/// Packs snapshots, in `seq` order, block after block with one reused
/// encoder and deflate state.
pub struct SnapshotPacker {
    encoder: SnapshotEncoder,
    deflater: Deflater,
    open: Option<SnapshotBlock>,
}

impl Default for SnapshotPacker {
    fn default() -> Self {
        SnapshotPacker {
            encoder: SnapshotEncoder::default(),
            deflater: Deflater::new(Compression::fast()),
            open: None,
        }
    }
}

impl SnapshotPacker {
    /// Adds the next snapshot; returns the block it completes.
    pub fn push(&mut self, row: &SnapshotRow) -> Result<Option<SnapshotBlock>> {
        self.encoder.push(row);
        let open = self.open.get_or_insert(SnapshotBlock {
            first_seq: row.seq,
            last_seq: row.seq,
            min_ts: row.ts_us,
            max_ts: row.ts_us,
            last_boot: row.boot,
            snapshots: 0,
            data: Vec::new(),
        });
        open.last_seq = row.seq;
        open.min_ts = open.min_ts.min(row.ts_us);
        open.max_ts = open.max_ts.max(row.ts_us);
        open.last_boot = row.boot;
        open.snapshots += 1;
        if open.snapshots < SNAPSHOT_BLOCK_ROWS {
            return Ok(None);
        }
        self.finish()
    }

    /// The block of the snapshots pushed since the last one; `None` when
    /// there are none.
    pub fn finish(&mut self) -> Result<Option<SnapshotBlock>> {
        let Some(mut block) = self.open.take() else {
            return Ok(None);
        };
        block.data = self
            .deflater
            .deflate(self.encoder.take_raw())
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        self.encoder.clear();
        Ok(Some(block))
    }
}

/// The blocks holding what a read wants.
#[derive(Debug, Clone, Copy)]
enum BlockRange {
    /// Blocks with a snapshot of `seq > after`, from `first_seq > start`.
    After { after: i64, start: i64 },
    /// Blocks with a snapshot stamped in `[from, to]`.
    Between { from: i64, to: i64 },
}

impl Store {
    /// Moves recorded snapshot rows stamped before `cutoff_us` into blocks,
    /// as an import stores them: about 44 B a snapshot freed (63 B as a
    /// row and its time index, 19 B packed), 26 MB of a recorded week, and
    /// nothing a reader sees changes (every reader merges rows and blocks).
    /// Only whole blocks are packed while a run is still open, so a
    /// retention pass every hour does not leave a trail of small blocks;
    /// an ended run's tail is packed as it is. Each block is inserted and
    /// its rows deleted in one transaction: stopping midway loses nothing.
    #[tracing::instrument(skip(self))]
    pub async fn pack_snapshots_before(&self, cutoff_us: i64) -> Result<CompactionReport> {
        let mut report = CompactionReport {
            cutoff_us,
            ..Default::default()
        };
        let mut packer = SnapshotPacker::default();
        for run in self.runs_started_before(cutoff_us).await? {
            let ended = self.run(run).await?.ended_us;
            loop {
                // The run's oldest rows in `seq` order, up to the first one
                // stamped after the cutoff: blocks stay a prefix of what is
                // left, so no two ever hold overlapping `seq` ranges.
                let rows: Vec<SnapshotRow> = with_pool!(self, |pool| sqlx::query_as(
                    "SELECT seq, line_no, ts_us, elapsed_ms, boot, tag, hf, hm, hl, hi, hin, \
                     frag, pf, pm, pl, extras FROM snapshots WHERE run_id = $1 \
                     ORDER BY seq LIMIT $2",
                )
                .bind(run)
                .bind(SNAPSHOT_BLOCK_ROWS)
                .fetch_all(pool)
                .await)?;
                let old = rows.iter().take_while(|r| r.ts_us < cutoff_us).count();
                let rows = &rows[..old];
                if rows.is_empty() || (ended.is_none() && (old as i64) < SNAPSHOT_BLOCK_ROWS) {
                    break;
                }
                let mut full = None;
                for row in rows {
                    if let Some(block) = packer.push(row)? {
                        full = Some(block);
                    }
                }
                let block = match full {
                    Some(block) => Some(block),
                    None => packer.finish()?,
                };
                let Some(block) = block else {
                    break;
                };
                self.replace_rows_with_block(run, &block).await?;
                report.snapshots_packed += rows.len() as u64;
                report.snapshot_blocks_written += 1;
                if (rows.len() as i64) < SNAPSHOT_BLOCK_ROWS {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// The block in, exactly its rows out; a row written into its range
    /// meanwhile (a count that does not match) rolls it back.
    async fn replace_rows_with_block(&self, run: i64, block: &SnapshotBlock) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut insert = sqlx::query(
                "INSERT INTO snapshot_blocks (run_id, first_seq, last_seq, min_ts, max_ts, \
                 last_boot, snapshots, codec, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            )
            .bind(run);
            for v in block.headers() {
                insert = insert.bind(v);
            }
            insert
                .bind(SNAPSHOT_CODEC)
                .bind(&block.data)
                .execute(&mut *tx)
                .await?;
            let deleted =
                sqlx::query("DELETE FROM snapshots WHERE run_id = $1 AND seq >= $2 AND seq <= $3")
                    .bind(run)
                    .bind(block.first_seq)
                    .bind(block.last_seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if deleted != block.snapshots as u64 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "run {run}: packing snapshots {}..={} found {deleted} rows, not {}",
                    block.first_seq, block.last_seq, block.snapshots
                )));
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Packed snapshots with `seq > after`, at most `limit`, in order.
    pub(super) async fn packed_page(
        &self,
        run_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SnapshotRow>> {
        let mut rows = Vec::new();
        let mut start = i64::MIN;
        loop {
            let range = BlockRange::After { after, start };
            let blocks = self.read_blocks(run_id, range, BLOCKS_PER_READ).await?;
            let Some(last) = blocks.last() else {
                return Ok(rows);
            };
            start = last.0;
            let no_more = blocks.len() < BLOCKS_PER_READ as usize;
            for (_, codec, data) in blocks {
                let decoded = decode_snapshots(&codec, &data)?;
                rows.extend(decoded.into_iter().filter(|r| r.seq > after));
                if rows.len() as i64 >= limit {
                    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                    return Ok(rows);
                }
            }
            if no_more {
                return Ok(rows);
            }
        }
    }

    /// Packed snapshots stamped in `[from_us, to_us]`, in `seq` order.
    pub(super) async fn packed_between(
        &self,
        run_id: i64,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<SnapshotRow>> {
        let range = BlockRange::Between {
            from: from_us,
            to: to_us,
        };
        let mut rows = Vec::new();
        for (_, codec, data) in self.read_blocks(run_id, range, i64::MAX).await? {
            let decoded = decode_snapshots(&codec, &data)?;
            rows.extend(
                decoded
                    .into_iter()
                    .filter(|r| (from_us..=to_us).contains(&r.ts_us)),
            );
        }
        Ok(rows)
    }

    /// Packed heartbeat samples, in `seq` order (with each one's `seq`).
    pub(super) async fn packed_heartbeats(&self, run_id: i64) -> Result<Vec<NumberedPoint>> {
        let range = BlockRange::After {
            after: i64::MIN,
            start: i64::MIN,
        };
        // Sized from the headers: a week's 600 k points grown by doubling
        // held two buffers, 63 MB, at the last step.
        let count = self.packed_extent(run_id).await?.count;
        let mut points = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for (_, codec, data) in self.read_blocks(run_id, range, i64::MAX).await? {
            for r in decode_snapshots(&codec, &data)? {
                if r.snapshot.tag == HEARTBEAT_TAG {
                    let point = HeapPoint {
                        ts_us: r.ts_us,
                        boot: r.boot,
                        hi: r.snapshot.hi,
                        pf: r.snapshot.pf,
                    };
                    points.push(NumberedPoint { seq: r.seq, point });
                }
            }
        }
        Ok(points)
    }

    /// Packed snapshots of a run, earliest and latest stamp, and the
    /// last `(seq, boot)`, from the block headers alone.
    pub(super) async fn packed_extent(&self, run_id: i64) -> Result<PackedExtent> {
        let (count, min_ts, max_ts): (i64, Option<i64>, Option<i64>) =
            with_pool!(self, |pool| sqlx::query_as(
                // PostgreSQL's SUM of BIGINT is NUMERIC.
                "SELECT CAST(COALESCE(SUM(snapshots), 0) AS BIGINT), MIN(min_ts), MAX(max_ts) \
                 FROM snapshot_blocks WHERE run_id = $1"
            )
            .bind(run_id)
            .fetch_one(pool)
            .await)?;
        let last: Option<(i64, i64)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT last_seq, last_boot FROM snapshot_blocks WHERE run_id = $1 \
             ORDER BY first_seq DESC LIMIT 1"
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(PackedExtent {
            count,
            span: min_ts.zip(max_ts),
            last,
        })
    }

    /// The latest packed snapshot stamp in `[from_us, to_us)` among `runs`:
    /// blocks wholly inside answer from their header, only the (at most
    /// two per run) blocks across an end are decoded.
    pub(super) async fn packed_last_in(
        &self,
        runs: &[i64],
        from_us: i64,
        to_us: i64,
    ) -> Result<Option<i64>> {
        let mut latest = None;
        for &run_id in runs {
            let inside: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
                "SELECT MAX(max_ts) FROM snapshot_blocks WHERE run_id = $1 \
                 AND min_ts >= $2 AND max_ts < $3"
            )
            .bind(run_id)
            .bind(from_us)
            .bind(to_us)
            .fetch_one(pool)
            .await)?;
            latest = latest.max(inside);
            let across = with_pool!(self, |pool| sqlx::query_as::<_, (String, Vec<u8>)>(
                "SELECT codec, data FROM snapshot_blocks WHERE run_id = $1 \
                 AND max_ts >= $2 AND min_ts < $3 AND NOT (min_ts >= $2 AND max_ts < $3)"
            )
            .bind(run_id)
            .bind(from_us)
            .bind(to_us)
            .fetch_all(pool)
            .await)?;
            for (codec, data) in across {
                let stamps = decode_snapshots(&codec, &data)?
                    .into_iter()
                    .map(|r| r.ts_us);
                latest = latest.max(stamps.filter(|t| (from_us..to_us).contains(t)).max());
            }
        }
        Ok(latest)
    }

    /// `(first_seq, codec, data)` of up to `limit` blocks in `range`, in
    /// `seq` order.
    async fn read_blocks(
        &self,
        run_id: i64,
        range: BlockRange,
        limit: i64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>> {
        with_pool!(self, |pool| {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT first_seq, codec, data FROM snapshot_blocks WHERE run_id = ",
            );
            q.push_bind(run_id);
            match range {
                BlockRange::After { after, start } => {
                    q.push(" AND last_seq > ")
                        .push_bind(after)
                        .push(" AND first_seq > ")
                        .push_bind(start);
                }
                BlockRange::Between { from, to } => {
                    q.push(" AND max_ts >= ")
                        .push_bind(from)
                        .push(" AND min_ts <= ")
                        .push_bind(to);
                }
            }
            q.push(" ORDER BY first_seq LIMIT ").push_bind(limit);
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }
}

/// What a run's block headers say.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PackedExtent {
    pub count: i64,
    pub span: Option<(i64, i64)>,
    /// The last packed snapshot's `seq` and boot.
    pub last: Option<(i64, i64)>,
}

/// Two `seq`-ordered lists as one, at most `limit` long.
pub(super) fn merge_by_seq<T>(a: Vec<T>, b: Vec<T>, limit: i64, seq: impl Fn(&T) -> i64) -> Vec<T> {
    if b.is_empty() || a.is_empty() {
        let mut only = if b.is_empty() { a } else { b };
        only.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        return only;
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity((a.len() + b.len()).min(limit));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if seq(x) <= seq(y) => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(row) => out.push(row),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_seq_order_and_the_limit() {
        let merged = merge_by_seq(vec![1, 4, 5, 9], vec![2, 3, 7], 6, |v| *v);
        assert_eq!(merged, vec![1, 2, 3, 4, 5, 7]);
        assert_eq!(merge_by_seq(vec![], vec![2, 3], 1, |v| *v), vec![2]);
        assert_eq!(merge_by_seq(vec![1], vec![], i64::MAX, |v| *v), vec![1]);
    }
}
