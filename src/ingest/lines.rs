//! Joining serial reads into lines.

/// Reassembles lines from arbitrary read chunks: a line may arrive split
/// across reads, several lines may arrive in one. A line longer than the
/// limit is cut there and flagged, and the rest of it is skipped, so a
/// device that never sends a newline cannot grow memory without bound.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max_line: usize,
    /// Inside an over-long line whose head was already emitted.
    skipping: bool,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            pending: Vec::with_capacity(256),
            max_line,
            skipping: false,
        }
    }

    /// Feeds one read; calls `emit(line, truncated)` for every line completed.
    pub fn push(&mut self, mut chunk: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let (part, rest, complete) = match newline {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            chunk = rest;
            if self.skipping {
                if complete {
                    self.skipping = false;
                }
                continue;
            }
            let room = self.max_line - self.pending.len();
            if part.len() > room {
                self.pending.extend_from_slice(&part[..room]);
                emit(&self.pending, true);
                self.pending.clear();
                self.skipping = !complete;
                continue;
            }
            self.pending.extend_from_slice(part);
            if complete {
                emit(&self.pending, false);
                self.pending.clear();
            }
        }
    }

    /// Emits a partial line left when the port closed, so nothing received
    /// is lost.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, false);
            self.pending.clear();
        }
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l, t| {
                out.push((String::from_utf8_lossy(l).into_owned(), t))
            });
        }
        s.finish(|l, t| out.push((String::from_utf8_lossy(l).into_owned(), t)));
        out
    }

    #[test]
    fn joins_lines_split_across_reads() {
        assert_eq!(
            split(&[b"[Mem] hb h", b"f=1\r\n[Ma", b"in] x\nlast"], 100),
            [
                ("[Mem] hb hf=1\r".into(), false),
                ("[Main] x".into(), false),
                ("last".into(), false)
            ]
        );
    }

    #[test]
    fn cuts_and_flags_over_long_lines_and_resyncs() {
        let long = vec![b'a'; 25];
        let out = split(&[&long, b"bbb\nok\n"], 10);
        assert_eq!(out, [("a".repeat(10), true), ("ok".into(), false)]);
    }

    #[test]
    fn long_line_ending_exactly_in_chunk() {
        let out = split(&[b"0123456789ABC\nnext\n"], 10);
        assert_eq!(out, [("0123456789".into(), true), ("next".into(), false)]);
    }
}
