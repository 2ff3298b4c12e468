//! Raw deflate for packed blocks (serial lines, snapshots), with one
//! compressor state reused block after block: a fresh state is a few
//! hundred KB allocated and zeroed, which an import of a week's log would
//! pay once per block.

use std::io::Read;

use flate2::read::DeflateDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};

pub(super) struct Deflater {
    state: Compress,
}

impl Deflater {
    pub(super) fn new(level: Compression) -> Self {
        Deflater {
            // Raw deflate, no zlib header: what `inflate` reads.
            state: Compress::new(level, false),
        }
    }

    /// `raw`, deflated on its own (each block decodes independently of
    /// the blocks before it).
    pub(super) fn deflate(&mut self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        self.state.reset();
        let mut out = Vec::with_capacity(raw.len() / 4 + 64);
        loop {
            let read = usize::try_from(self.state.total_in()).map_err(std::io::Error::other)?;
            // `compress_vec` writes only into spare capacity.
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(4096));
            }
            let status = self
                .state
                .compress_vec(&raw[read..], &mut out, FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == Status::StreamEnd {
                return Ok(out);
            }
        }
    }
}

/// What [`Deflater::deflate`] was given.
pub(super) fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(data.len() * 4);
    DeflateDecoder::new(data).read_to_end(&mut raw)?;
    Ok(raw)
}
