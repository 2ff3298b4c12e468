//! The byte format of a snapshot block (`deflate-varint-v1`). Each field
//! is stored as the zigzag varint of its change from the same field of the
//! row before: a heartbeat's stamp, sequence number and heap figures move
//! by small steps, so a snapshot is a dozen bytes before deflate and a
//! few after, against about 80 as a table row with its index entry.
//!
//! Per row: a varint mask of which optional fields are present (bit 0
//! `line_no`, bit 1 `elapsed_ms`, bits 2–10 the heap figures in
//! [`crate::protocol::MEM_KEYS`] order, bit 11 extras), the deltas of
//! `seq`, `line_no`, `ts_us`, `elapsed_ms`, `boot` and the present heap
//! figures, the tag (length and bytes), then the extras (count, then each
//! key and value as length and bytes). An absent field keeps its last
//! value as the base of the next delta.

use crate::protocol::MemSnapshot;

use super::deflater::inflate;
use super::{Result, SnapshotRow, StoreError};

/// What snapshot blocks are written in.
pub const SNAPSHOT_CODEC: &str = "deflate-varint-v1";

const LINE_NO: u64 = 1;
const ELAPSED: u64 = 1 << 1;
const FIRST_VALUE_BIT: u32 = 2;
const EXTRAS: u64 = 1 << 11;

/// The last value of every delta-coded field: `seq`, `line_no`, `ts_us`,
/// `elapsed_ms`, `boot`, then the nine heap figures.
#[derive(Default)]
struct Bases([i64; 14]);

const SEQ: usize = 0;
const LINE: usize = 1;
const TS: usize = 2;
const ELAPSED_MS: usize = 3;
const BOOT: usize = 4;
const VALUES: usize = 5;

/// Appends rows to one block's raw (not yet deflated) bytes.
#[derive(Default)]
pub(super) struct SnapshotEncoder {
    raw: Vec<u8>,
    bases: Bases,
}

impl SnapshotEncoder {
    pub(super) fn push(&mut self, row: &SnapshotRow) {
        let s = &row.snapshot;
        let values = s.values();
        let mut mask = 0u64;
        if row.line_no.is_some() {
            mask |= LINE_NO;
        }
        if row.elapsed_ms.is_some() {
            mask |= ELAPSED;
        }
        for (bit, v) in (FIRST_VALUE_BIT..).zip(values) {
            if v.is_some() {
                mask |= 1 << bit;
            }
        }
        if !s.extras.is_empty() {
            mask |= EXTRAS;
        }
        put_varint(&mut self.raw, mask);
        self.delta(SEQ, Some(row.seq));
        self.delta(LINE, row.line_no);
        self.delta(TS, Some(row.ts_us));
        self.delta(ELAPSED_MS, row.elapsed_ms);
        self.delta(BOOT, Some(row.boot));
        for (at, v) in (VALUES..).zip(values) {
            self.delta(at, v);
        }
        put_bytes(&mut self.raw, s.tag.as_bytes());
        if !s.extras.is_empty() {
            put_varint(&mut self.raw, s.extras.len() as u64);
            for (key, value) in &s.extras {
                put_bytes(&mut self.raw, key.as_bytes());
                put_bytes(&mut self.raw, value.as_bytes());
            }
        }
    }

    /// The bytes of the rows pushed since the last call; the next block
    /// starts from fresh bases, so each block decodes on its own.
    pub(super) fn take_raw(&mut self) -> &[u8] {
        self.bases = Bases::default();
        &self.raw
    }

    pub(super) fn clear(&mut self) {
        self.raw.clear();
    }

    fn delta(&mut self, at: usize, value: Option<i64>) {
        if let Some(v) = value {
            put_varint(&mut self.raw, zigzag(v.wrapping_sub(self.bases.0[at])));
            self.bases.0[at] = v;
        }
    }
}

/// The rows of a block written by [`SnapshotEncoder`] and deflated.
pub(super) fn decode_snapshots(codec: &str, data: &[u8]) -> Result<Vec<SnapshotRow>> {
    if codec != SNAPSHOT_CODEC {
        return Err(StoreError::Conflict(format!(
            "unknown snapshot block codec {codec:?}"
        )));
    }
    let raw = inflate(data).map_err(|e| corrupt(&e.to_string()))?;
    let mut reader = Reader {
        rest: &raw,
        bases: Bases::default(),
    };
    let mut rows = Vec::new();
    while !reader.rest.is_empty() {
        rows.push(reader.row()?);
    }
    Ok(rows)
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Conflict(format!("corrupt snapshot block: {why}"))
}

struct Reader<'a> {
    rest: &'a [u8],
    bases: Bases,
}

impl Reader<'_> {
    fn row(&mut self) -> Result<SnapshotRow> {
        let mask = self.varint()?;
        let has = |bit: u64| mask & bit != 0;
        let seq = self.delta(SEQ)?;
        let line_no = has(LINE_NO).then(|| self.delta(LINE)).transpose()?;
        let ts_us = self.delta(TS)?;
        let elapsed_ms = has(ELAPSED).then(|| self.delta(ELAPSED_MS)).transpose()?;
        let boot = self.delta(BOOT)?;
        let mut values = [None; 9];
        for ((at, bit), v) in (VALUES..).zip(FIRST_VALUE_BIT..).zip(&mut values) {
            *v = has(1 << bit).then(|| self.delta(at)).transpose()?;
        }
        let tag = self.text()?;
        let mut extras = Vec::new();
        if has(EXTRAS) {
            let n = self.varint()?;
            for _ in 0..n {
                extras.push((self.text()?, self.text()?));
            }
        }
        Ok(SnapshotRow {
            seq,
            line_no,
            ts_us,
            elapsed_ms,
            boot,
            snapshot: MemSnapshot::from_values(tag, values, extras),
        })
    }

    fn delta(&mut self, at: usize) -> Result<i64> {
        let v = self.bases.0[at].wrapping_add(unzigzag(self.varint()?));
        self.bases.0[at] = v;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .rest
                .split_first()
                .ok_or_else(|| corrupt("a row is cut short"))?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("a number runs past 64 bits"))
    }

    fn text(&mut self) -> Result<String> {
        let len = usize::try_from(self.varint()?).map_err(|_| corrupt("a text is too long"))?;
        if self.rest.len() < len {
            return Err(corrupt("a text is cut short"));
        }
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        String::from_utf8(text.to_vec()).map_err(|_| corrupt("a text is not UTF-8"))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use flate2::Compression;
    use proptest::prelude::*;

    use super::super::deflater::Deflater;
    use super::*;

    fn encode(rows: &[SnapshotRow]) -> Vec<u8> {
        let mut encoder = SnapshotEncoder::default();
        for r in rows {
            encoder.push(r);
        }
        let data = Deflater::new(Compression::fast())
            .deflate(encoder.take_raw())
            .unwrap();
        encoder.clear();
        data
    }

    fn value() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![
            Just(None),
            (0i64..9_000_000).prop_map(Some),
            any::<i64>().prop_map(Some),
        ]
    }

    fn row() -> impl Strategy<Value = SnapshotRow> {
        (
            (
                any::<i64>(),
                proptest::option::of(any::<i64>()),
                any::<i64>(),
            ),
            (
                proptest::option::of(any::<i64>()),
                0i64..5,
                "[a-z_é🙂]{0,8}",
            ),
            proptest::array::uniform9(value()),
            proptest::collection::vec(("[a-z]{1,4}", ".{0,6}"), 0..3),
        )
            .prop_map(
                |((seq, line_no, ts_us), (elapsed_ms, boot, tag), v, extras)| SnapshotRow {
                    seq,
                    line_no,
                    ts_us,
                    elapsed_ms,
                    boot,
                    snapshot: MemSnapshot::from_values(tag, v, extras),
                },
            )
    }

    proptest! {
        /// Any rows, extreme numbers and absent fields included, read back
        /// exactly as written.
        #[test]
        fn rows_round_trip(rows in proptest::collection::vec(row(), 0..40)) {
            prop_assert_eq!(decode_snapshots(SNAPSHOT_CODEC, &encode(&rows)).unwrap(), rows);
        }
    }

    /// A reused encoder starts each block afresh.
    #[test]
    fn blocks_decode_on_their_own() {
        let rows: Vec<SnapshotRow> = (0..10)
            .map(|n| SnapshotRow {
                seq: n + 1,
                line_no: Some(3 * n),
                ts_us: 1_767_000_000_000_000 + n * 1_000_000,
                elapsed_ms: None,
                boot: n / 5,
                snapshot: MemSnapshot {
                    tag: "hb".into(),
                    hi: Some(5000 - n),
                    hin: Some(900),
                    ..Default::default()
                },
            })
            .collect();
        let mut encoder = SnapshotEncoder::default();
        let mut deflater = Deflater::new(Compression::fast());
        for part in [&rows[..4], &rows[4..]] {
            for r in part {
                encoder.push(r);
            }
            let data = deflater.deflate(encoder.take_raw()).unwrap();
            encoder.clear();
            assert_eq!(decode_snapshots(SNAPSHOT_CODEC, &data).unwrap(), part);
        }
    }

    #[test]
    fn a_cut_or_unknown_block_is_an_error_not_a_panic() {
        let rows: Vec<SnapshotRow> = (0..3)
            .map(|n| SnapshotRow {
                seq: n,
                line_no: None,
                ts_us: n,
                elapsed_ms: Some(n),
                boot: 0,
                snapshot: MemSnapshot {
                    tag: "boot".into(),
                    hi: Some(70_000),
                    extras: vec![("x".into(), "1".into())],
                    ..Default::default()
                },
            })
            .collect();
        let data = encode(&rows);
        let raw = inflate(&data).unwrap();
        let mut deflater = Deflater::new(Compression::fast());
        for cut in 1..raw.len() {
            let cut_data = deflater.deflate(&raw[..cut]).unwrap();
            // Some cuts fall between rows and read as fewer rows.
            if let Ok(read) = decode_snapshots(SNAPSHOT_CODEC, &cut_data) {
                assert!(read.len() < rows.len() && rows.starts_with(&read));
            }
        }
        assert!(decode_snapshots("zstd", &data).is_err());
        assert!(decode_snapshots(SNAPSHOT_CODEC, b"not deflate").is_err());
    }
}
