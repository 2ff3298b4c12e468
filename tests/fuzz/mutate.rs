//! Deterministic input generation: a small PRNG and the byte mutations
//! (bit flips, byte inserts and deletes, splices between seeds,
//! interesting integers as text and as binary, truncation, a chunk
//! repeated, dictionary tokens). Same seed, same inputs: a run is
//! reproducible from its seed alone.

/// splitmix64: tiny, fast and good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Integers at the edges of the types parsers convert into, as text.
pub const TEXT_INTS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "127",
    "128",
    "255",
    "256",
    "32767",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e999",
    "-1e999",
    "1.5",
    "NaN",
    "inf",
    "0x7fffffffffffffff",
    "0xffffffffffffffff",
];

/// The same edges as little-endian binary, for the binary formats.
const BINARY_INTS: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// What a mutation may draw on besides the input itself.
pub struct Pool<'a> {
    pub seeds: &'a [Vec<u8>],
    pub dict: &'a [&'a [u8]],
    pub max_len: usize,
}

/// One to eight stacked mutations of `input`, capped at `pool.max_len`.
pub fn mutate(rng: &mut Rng, mut input: Vec<u8>, pool: &Pool<'_>) -> Vec<u8> {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(rng, &mut input, pool);
        input.truncate(pool.max_len);
    }
    input
}

fn mutate_once(rng: &mut Rng, buf: &mut Vec<u8>, pool: &Pool<'_>) {
    let len = buf.len();
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            buf[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            buf[i] = rng.next() as u8;
        }
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            buf.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(256));
            buf.drain(at..at + n);
        }
        4 if len > 0 => repeat_chunk(rng, buf),
        5 => splice_seed(rng, buf, pool.seeds),
        6 if !pool.dict.is_empty() => {
            let at = rng.below(len + 1);
            buf.splice(
                at..at,
                pool.dict[rng.below(pool.dict.len())].iter().copied(),
            );
        }
        7 => text_int(rng, buf),
        8 if len > 0 => binary_int(rng, buf),
        9 if len > 0 => buf.truncate(rng.below(len)),
        _ => {
            // A line (or record) duplicated or moved: cheap structure.
            if let Some(start) = memchr_at(buf, rng.below(len + 1)) {
                let end = memchr_at(buf, start + 1).unwrap_or(len);
                let line = buf[start..end].to_vec();
                let at = rng.below(len + 1);
                buf.splice(at..at, line);
            }
        }
    }
}

/// The first `\n` at or after `from`.
fn memchr_at(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| i + from)
}

/// A chunk of the input repeated 2–256 times in place.
fn repeat_chunk(rng: &mut Rng, buf: &mut Vec<u8>) {
    let len = buf.len();
    let at = rng.below(len);
    let n = 1 + rng.below((len - at).min(64));
    let times = 2 + rng.below(255);
    let chunk = buf[at..at + n].to_vec();
    let repeated: Vec<u8> = chunk.iter().copied().cycle().take(n * times).collect();
    buf.splice(at..at + n, repeated);
}

/// Replaces a range of the input with a range of another seed.
fn splice_seed(rng: &mut Rng, buf: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    if seeds.is_empty() {
        return;
    }
    let other = rng.pick(seeds);
    if other.is_empty() {
        return;
    }
    let from = rng.below(other.len());
    let n = 1 + rng.below(other.len() - from);
    let at = rng.below(buf.len() + 1);
    let cut = rng.below(buf.len() - at + 1);
    buf.splice(at..at + cut, other[from..from + n].iter().copied());
}

/// Overwrites a run of digits (or inserts at a random place when there is
/// none) with an interesting integer as text.
fn text_int(rng: &mut Rng, buf: &mut Vec<u8>) {
    let value = rng.pick(TEXT_INTS).as_bytes();
    let start = rng.below(buf.len() + 1);
    match buf[start..].iter().position(u8::is_ascii_digit) {
        Some(off) => {
            let from = start + off;
            let to = from
                + buf[from..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            buf.splice(from..to, value.iter().copied());
        }
        None => {
            buf.splice(start..start, value.iter().copied());
        }
    }
}

/// Overwrites 1, 2, 4 or 8 bytes with an interesting little-endian value.
fn binary_int(rng: &mut Rng, buf: &mut [u8]) {
    let width = 1 << rng.below(4);
    let value = rng.pick(BINARY_INTS).to_le_bytes();
    let at = rng.below(buf.len());
    let end = (at + width).min(buf.len());
    buf[at..end].copy_from_slice(&value[..end - at]);
}
