//! The byte format of a serial block. `deflate-rows-v2` (written now) is
//! fixed-width fields and raw text, deflated: JSON-escaping a week of text
//! cost an import more than its compression did. `deflate-json-v1` (blocks
//! compacted by earlier versions) is still read.

use flate2::Compression;

use super::deflater::{inflate, Deflater};
use super::{Result, SerialLineRow, StoreError};

/// What new blocks are written in.
pub const CODEC: &str = "deflate-rows-v2";
const CODEC_V1: &str = "deflate-json-v1";

/// Encodes blocks one after another with one buffer and one deflate
/// state.
pub(super) struct Encoder {
    raw: Vec<u8>,
    deflater: Deflater,
}

impl Encoder {
    pub(super) fn new(level: Compression) -> Self {
        Encoder {
            raw: Vec::new(),
            deflater: Deflater::new(level),
        }
    }

    /// Appends one line to the block being built. Per line: line_no, ts_us
    /// and flags as little-endian i64, the text's length as a little-endian
    /// u32, then the text.
    pub(super) fn push(
        &mut self,
        line_no: i64,
        ts_us: i64,
        flags: i64,
        text: &str,
    ) -> std::io::Result<()> {
        let raw = &mut self.raw;
        raw.extend_from_slice(&line_no.to_le_bytes());
        raw.extend_from_slice(&ts_us.to_le_bytes());
        raw.extend_from_slice(&flags.to_le_bytes());
        let len = u32::try_from(text.len()).map_err(std::io::Error::other)?;
        raw.extend_from_slice(&len.to_le_bytes());
        raw.extend_from_slice(text.as_bytes());
        Ok(())
    }

    /// Deflates the lines pushed since the last block and starts the next.
    pub(super) fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        let data = self.deflater.deflate(&self.raw)?;
        self.raw.clear();
        Ok(data)
    }
}

pub(super) fn decode(codec: &str, data: &[u8]) -> Result<Vec<SerialLineRow>> {
    let corrupt = |why: &str| StoreError::Conflict(format!("corrupt serial block: {why}"));
    if codec != CODEC && codec != CODEC_V1 {
        return Err(StoreError::Conflict(format!(
            "unknown serial block codec {codec:?}"
        )));
    }
    let raw = inflate(data).map_err(|e| corrupt(&e.to_string()))?;
    if codec == CODEC_V1 {
        let rows: Vec<(i64, i64, i64, String)> = serde_json::from_slice(&raw)?;
        return Ok(rows
            .into_iter()
            .map(|(line_no, ts_us, flags, text)| SerialLineRow {
                line_no,
                ts_us,
                text,
                flags,
            })
            .collect());
    }
    let mut rows = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_first_chunk::<28>()
            .ok_or_else(|| corrupt("a line header is cut short"))?;
        let int = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[at..at + 8]);
            i64::from_le_bytes(b)
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[24..28]);
        let len = u32::from_le_bytes(len) as usize;
        if tail.len() < len {
            return Err(corrupt("a line's text is cut short"));
        }
        let (text, tail) = tail.split_at(len);
        rows.push(SerialLineRow {
            line_no: int(0),
            ts_us: int(8),
            flags: int(16),
            text: String::from_utf8(text.to_vec()).map_err(|_| corrupt("text is not UTF-8"))?,
        });
        rest = tail;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::read::DeflateDecoder;
    use flate2::write::DeflateEncoder;

    use super::*;

    /// One block of `lines`.
    fn encode(encoder: &mut Encoder, lines: &[SerialLineRow]) -> std::io::Result<Vec<u8>> {
        for l in lines {
            encoder.push(l.line_no, l.ts_us, l.flags, &l.text)?;
        }
        encoder.finish()
    }

    fn line(n: i64, text: &str) -> SerialLineRow {
        SerialLineRow {
            line_no: n,
            ts_us: 1_000 * n,
            text: text.into(),
            flags: n % 2,
        }
    }

    #[test]
    fn rows_round_trip_including_quotes_newlines_and_unicode() {
        let lines = vec![
            line(1, "[Mem] hb hin=1024"),
            line(2, "\"q\"\n\\ é 🙂"),
            line(3, ""),
        ];
        let data = encode(&mut Encoder::new(Compression::fast()), &lines).unwrap();
        assert_eq!(decode(CODEC, &data).unwrap(), lines);
    }

    /// The reused state starts each block afresh: every block decodes on
    /// its own, whatever came before it, big or small.
    #[test]
    fn one_encoder_writes_many_independent_blocks() {
        let mut encoder = Encoder::new(Compression::fast());
        let big: Vec<SerialLineRow> = (0..3000)
            .map(|n| line(n, &format!("[Mem] hb hf={} hin={}", n * 7919 % 100_003, n)))
            .collect();
        for lines in [&big[..1], &big[..], &big[10..12], &big[..2000]] {
            let data = encode(&mut encoder, lines).unwrap();
            assert_eq!(decode(CODEC, &data).unwrap(), lines);
        }
    }

    #[test]
    fn version_one_blocks_still_read() {
        let json = serde_json::to_vec(&[(7, 7000, 1, "old")]).unwrap();
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&json).unwrap();
        let rows = decode(CODEC_V1, &enc.finish().unwrap()).unwrap();
        assert_eq!(rows, vec![line(7, "old")]);
    }

    #[test]
    fn a_cut_block_is_an_error_not_a_panic() {
        let data = encode(
            &mut Encoder::new(Compression::fast()),
            &[line(1, "hello world")],
        )
        .unwrap();
        let mut raw = Vec::new();
        DeflateDecoder::new(data.as_slice())
            .read_to_end(&mut raw)
            .unwrap();
        for cut in [5, 30, raw.len() - 1] {
            let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(&raw[..cut]).unwrap();
            let err = decode(CODEC, &enc.finish().unwrap()).unwrap_err();
            assert!(err.to_string().contains("cut short"), "{err}");
        }
        assert!(decode("zstd", &data).is_err());
    }
}
