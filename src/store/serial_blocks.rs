//! Serial lines past the retention window: deflated into blocks of
//! [`BLOCK_LINES`] (or dropped), and read back merged with the raw lines so
//! a page of the serial log looks the same before and after compaction.

use flate2::Compression;
use serde::Serialize;

use super::read::SerialStart;
use super::serial_codec::{decode, Encoder, CODEC};
use super::{Result, SerialLineRow, SerialPage, Store, StoreError};

/// Lines per compressed block.
pub const BLOCK_LINES: i64 = 2000;

/// What one compaction or drop pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionReport {
    pub cutoff_us: i64,
    pub lines_compacted: u64,
    pub blocks_written: u64,
    pub lines_dropped: u64,
    /// Recorded snapshot rows moved into `snapshot_blocks` (lossless).
    pub snapshots_packed: u64,
    pub snapshot_blocks_written: u64,
}

/// Consecutive serial lines of one run, deflated together.
#[derive(Debug, Clone)]
pub struct SerialBlock {
    pub first_line: i64,
    pub last_line: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub lines: i64,
    pub data: Vec<u8>,
}

/// How hard to compress: retention compacts in the background and keeps
/// the blocks for weeks; an import is waited for.
#[derive(Debug, Clone, Copy)]
pub enum Packing {
    Small,
    Fast,
}

impl SerialBlock {
    /// Packs lines (in line order, at most [`BLOCK_LINES`] of them); `None`
    /// for no lines. For many blocks in a row, [`BlockPacker`] is cheaper.
    pub fn pack(lines: &[SerialLineRow], packing: Packing) -> Result<Option<Self>> {
        BlockPacker::new(packing).pack(lines)
    }
}

/// Packs block after block with one reused encoder: from slices of rows
/// ([`BlockPacker::pack`]), or line by line ([`BlockPacker::push`]), which
/// an import uses so a line's text is copied once, from the read buffer
/// into the block, and never held as a row of its own.
pub struct BlockPacker {
    encoder: Encoder,
    /// The block [`BlockPacker::push`] is filling: its lines so far.
    open: Option<OpenBlock>,
}

/// What a block being pushed line by line knows of its lines.
struct OpenBlock {
    first_line: i64,
    last_line: i64,
    first_ts: i64,
    last_ts: i64,
    lines: i64,
}

impl BlockPacker {
    pub fn new(packing: Packing) -> Self {
        BlockPacker {
            encoder: Encoder::new(match packing {
                Packing::Small => Compression::default(),
                Packing::Fast => Compression::fast(),
            }),
            open: None,
        }
    }

    /// Adds the next line (in line order); returns the block it completes
    /// at [`BLOCK_LINES`] lines.
    pub fn push(
        &mut self,
        line_no: i64,
        ts_us: i64,
        flags: i64,
        text: &str,
    ) -> Result<Option<SerialBlock>> {
        if self.append(line_no, ts_us, flags, text)? < BLOCK_LINES {
            return Ok(None);
        }
        self.finish()
    }

    /// The block of the lines pushed since the last one; `None` when there
    /// are none.
    pub fn finish(&mut self) -> Result<Option<SerialBlock>> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let data = self
            .encoder
            .finish()
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        Ok(Some(SerialBlock {
            first_line: open.first_line,
            last_line: open.last_line,
            first_ts: open.first_ts,
            last_ts: open.last_ts,
            lines: open.lines,
            data,
        }))
    }

    /// As [`SerialBlock::pack`].
    pub fn pack(&mut self, lines: &[SerialLineRow]) -> Result<Option<SerialBlock>> {
        if self.open.is_some() {
            return Err(StoreError::Conflict(
                "a block is being pushed line by line; finish it first".into(),
            ));
        }
        for l in lines {
            self.append(l.line_no, l.ts_us, l.flags, &l.text)?;
        }
        self.finish()
    }

    /// One line into the open block; returns how many it holds now.
    fn append(&mut self, line_no: i64, ts_us: i64, flags: i64, text: &str) -> Result<i64> {
        self.encoder
            .push(line_no, ts_us, flags, text)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let open = self.open.get_or_insert(OpenBlock {
            first_line: line_no,
            last_line: line_no,
            first_ts: ts_us,
            last_ts: ts_us,
            lines: 0,
        });
        open.last_line = line_no;
        open.first_ts = open.first_ts.min(ts_us);
        open.last_ts = open.last_ts.max(ts_us);
        open.lines += 1;
        Ok(open.lines)
    }
}

/// ASCII case-insensitive substring match, as SQLite's `LIKE` is.
fn matches(text: &str, needle_lower: &str) -> bool {
    text.to_ascii_lowercase().contains(needle_lower)
}

impl Store {
    /// Deflates every raw line older than `cutoff_us` into blocks.
    #[tracing::instrument(skip(self))]
    pub async fn compact_serial_before(&self, cutoff_us: i64) -> Result<CompactionReport> {
        let mut report = CompactionReport {
            cutoff_us,
            ..Default::default()
        };
        for run in self.runs_started_before(cutoff_us).await? {
            loop {
                let lines: Vec<SerialLineRow> = with_pool!(self, |pool| sqlx::query_as(
                    "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE run_id = $1 \
                 AND ts_us < $2 ORDER BY line_no LIMIT $3",
                )
                .bind(run)
                .bind(cutoff_us)
                .bind(BLOCK_LINES)
                .fetch_all(pool)
                .await)?;
                let Some(block) = SerialBlock::pack(&lines, Packing::Small)? else {
                    break;
                };
                with_pool!(self, |pool| {
                    let mut tx = pool.begin().await?;
                    sqlx::query(
                    "INSERT INTO serial_blocks (run_id, first_line, last_line, first_ts, last_ts, lines, \
                     codec, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (run_id, first_line) \
                     DO UPDATE SET last_line = excluded.last_line, first_ts = excluded.first_ts, \
                     last_ts = excluded.last_ts, lines = excluded.lines, codec = excluded.codec, \
                     data = excluded.data",
                )
                .bind(run)
                .bind(block.first_line)
                .bind(block.last_line)
                .bind(block.first_ts)
                .bind(block.last_ts)
                .bind(block.lines)
                .bind(CODEC)
                .bind(&block.data)
                .execute(&mut *tx)
                .await?;
                    sqlx::query(
                    "DELETE FROM serial_lines WHERE run_id = $1 AND line_no >= $2 AND line_no <= $3 \
                 AND ts_us < $4",
                )
                .bind(run)
                .bind(block.first_line)
                .bind(block.last_line)
                .bind(cutoff_us)
                .execute(&mut *tx)
                .await?;
                    tx.commit().await?;
                });
                report.lines_compacted += lines.len() as u64;
                report.blocks_written += 1;
            }
        }
        Ok(report)
    }

    /// Deletes every raw line older than `cutoff_us` (in batches).
    #[tracing::instrument(skip(self))]
    pub async fn drop_serial_before(&self, cutoff_us: i64) -> Result<CompactionReport> {
        let mut report = CompactionReport {
            cutoff_us,
            ..Default::default()
        };
        for run in self.runs_started_before(cutoff_us).await? {
            loop {
                // Batches keep each write transaction short while ingest
                // goes on; old lines lead a run, so each scan stops early.
                let n = with_pool!(self, |pool| sqlx::query(
                    "DELETE FROM serial_lines WHERE run_id = $1 AND line_no IN \
                     (SELECT line_no FROM serial_lines WHERE run_id = $2 AND ts_us < $3 \
                     ORDER BY line_no LIMIT 20000)",
                )
                .bind(run)
                .bind(run)
                .bind(cutoff_us)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
                report.lines_dropped += n;
                if n < 20_000 {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Runs that began before `cutoff_us`: only they can hold lines older
    /// than it (the runs table is small; the lines table is not, and an
    /// index on line times would cost every insert).
    pub(super) async fn runs_started_before(&self, cutoff_us: i64) -> Result<Vec<i64>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM runs WHERE started_us < $1 ORDER BY id"
        )
        .bind(cutoff_us)
        .fetch_all(pool)
        .await)?)
    }

    /// True when the run has compacted lines.
    pub async fn has_serial_blocks(&self, run_id: i64) -> Result<bool> {
        let n: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT first_line FROM serial_blocks WHERE run_id = $1 LIMIT 1"
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(n.is_some())
    }

    /// An unsearched page of a run with blocks, read by line number as for
    /// raw lines (numbered without gaps across blocks and raw lines): the
    /// ends of the range give the total, the offset gives the first line,
    /// and only the blocks holding the page are read and decoded. Scanning
    /// every block header instead cost a week-long run 15 ms a page.
    pub(super) async fn serial_blocks_by_number(
        &self,
        run_id: i64,
        start: SerialStart,
        limit: i64,
    ) -> Result<SerialPage> {
        let block_ends: (Option<i64>, Option<i64>) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT (SELECT first_line FROM serial_blocks WHERE run_id = $1 \
             ORDER BY first_line LIMIT 1), (SELECT last_line FROM serial_blocks \
             WHERE run_id = $1 ORDER BY first_line DESC LIMIT 1)",
        )
        .bind(run_id)
        .fetch_one(pool)
        .await)?;
        let raw_ends: (Option<i64>, Option<i64>) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT (SELECT line_no FROM serial_lines WHERE run_id = $1 \
             ORDER BY line_no LIMIT 1), (SELECT line_no FROM serial_lines \
             WHERE run_id = $1 ORDER BY line_no DESC LIMIT 1)",
        )
        .bind(run_id)
        .fetch_one(pool)
        .await)?;
        let first = [block_ends.0, raw_ends.0].into_iter().flatten().min();
        let last = [block_ends.1, raw_ends.1].into_iter().flatten().max();
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(SerialPage {
                total: 0,
                lines: Vec::new(),
            });
        };
        let start = start.line(first);
        let limit = limit.max(0);
        let mut out = Vec::new();
        let mut after = i64::MIN;
        // The block holding `start`, then the ones after it, until the
        // page is full.
        while (out.len() as i64) < limit {
            let block: Option<(i64, String, Vec<u8>)> = with_pool!(self, |pool| sqlx::query_as(
                "SELECT first_line, codec, data FROM serial_blocks WHERE run_id = $1 \
                 AND last_line >= $2 AND first_line > $3 ORDER BY first_line LIMIT 1",
            )
            .bind(run_id)
            .bind(start)
            .bind(after)
            .fetch_optional(pool)
            .await)?;
            let Some((first_line, codec, data)) = block else {
                break;
            };
            after = first_line;
            out.extend(
                decode(&codec, &data)?
                    .into_iter()
                    .filter(|l| l.line_no >= start),
            );
        }
        let raw: Vec<SerialLineRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT line_no, ts_us, text, flags FROM serial_lines WHERE run_id = $1 \
             AND line_no >= $2 ORDER BY line_no LIMIT $3",
        )
        .bind(run_id)
        .bind(start)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        out.extend(raw);
        out.sort_by_key(|l| l.line_no);
        out.truncate(limit as usize);
        Ok(SerialPage {
            total: last - first + 1,
            lines: out,
        })
    }

    /// `Store::serial_lines` for a run with compacted blocks: the blocks'
    /// lines and the remaining raw lines, merged in line order.
    pub(super) async fn serial_lines_with_blocks(
        &self,
        run_id: i64,
        offset: i64,
        limit: i64,
        search: Option<&str>,
    ) -> Result<SerialPage> {
        let blocks: Vec<(i64, i64, i64, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
        "SELECT first_line, last_line, lines, codec FROM serial_blocks WHERE run_id = $1 ORDER BY first_line",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await
        })?;
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
            let data: Vec<u8> = with_pool!(self, |pool| sqlx::query_scalar(
                "SELECT data FROM serial_blocks WHERE run_id = $1 AND first_line = $2",
            )
            .bind(run_id)
            .bind(first)
            .fetch_one(pool)
            .await)?;
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
        let live = self
            .serial_lines_raw(run_id, offset - skipped, limit - out.len() as i64, search)
            .await?;
        total += live.total;
        out.extend(live.lines);
        out.sort_by_key(|l| l.line_no);
        Ok(SerialPage { total, lines: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: i64) -> SerialLineRow {
        SerialLineRow {
            line_no: n,
            // Out of order now and then, as host stamps can be.
            ts_us: 1_000 * n - if n % 7 == 0 { 5_000 } else { 0 },
            text: format!("[Mem] hb hin={}", n * 31 % 977),
            flags: n % 2,
        }
    }

    /// Pushing line by line cuts the same blocks, with the same bounds and
    /// bytes that decode to the same rows, as packing slices of rows does.
    #[test]
    fn pushed_lines_make_the_blocks_packed_slices_make() {
        let lines: Vec<SerialLineRow> = (1..=2 * BLOCK_LINES + 17).map(line).collect();
        let mut pushed = Vec::new();
        let mut packer = BlockPacker::new(Packing::Fast);
        for l in &lines {
            pushed.extend(packer.push(l.line_no, l.ts_us, l.flags, &l.text).unwrap());
        }
        pushed.extend(packer.finish().unwrap());
        assert!(packer.finish().unwrap().is_none());

        let mut sliced = Vec::new();
        let mut packer = BlockPacker::new(Packing::Fast);
        for chunk in lines.chunks(BLOCK_LINES as usize) {
            sliced.extend(packer.pack(chunk).unwrap());
        }
        assert_eq!(pushed.len(), 3);
        for (p, s) in pushed.iter().zip(&sliced) {
            let bounds =
                |b: &SerialBlock| (b.first_line, b.last_line, b.first_ts, b.last_ts, b.lines);
            assert_eq!(bounds(p), bounds(s));
            assert_eq!(
                decode(CODEC, &p.data).unwrap(),
                decode(CODEC, &s.data).unwrap()
            );
        }
        let back: Vec<SerialLineRow> = pushed
            .iter()
            .flat_map(|b| decode(CODEC, &b.data).unwrap())
            .collect();
        assert_eq!(back, lines);
    }

    #[test]
    fn packing_a_slice_while_a_block_is_open_is_refused() {
        let mut packer = BlockPacker::new(Packing::Fast);
        packer.push(1, 1, 0, "open").unwrap();
        assert!(packer.pack(&[line(2)]).is_err());
        assert_eq!(packer.finish().unwrap().unwrap().lines, 1);
    }
}
