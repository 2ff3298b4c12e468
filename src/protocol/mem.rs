//! `[Mem]` lines: tagged heap snapshots, the low-memory tripwire and
//! allocation failures.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::kv;

/// One `[Mem] <tag> hf=… hm=… …` line: the firmware's view of both heaps at a
/// named point in its lifecycle.
///
/// Every key is optional because older firmware prints fewer keys, and a
/// missing key must read as "not measured", never as zero bytes free.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MemSnapshot {
    pub tag: String,
    /// Heap free (internal, as Arduino's `ESP.getFreeHeap()` reports it).
    pub hf: Option<i64>,
    /// Heap minimum free since boot.
    pub hm: Option<i64>,
    /// Largest free internal block.
    pub hl: Option<i64>,
    /// Internal free (`MALLOC_CAP_INTERNAL`).
    pub hi: Option<i64>,
    /// Internal minimum free since boot: the low-water mark this tool exists for.
    pub hin: Option<i64>,
    /// Internal fragmentation percent.
    pub frag: Option<i64>,
    /// PSRAM free.
    pub pf: Option<i64>,
    /// PSRAM minimum free since boot.
    pub pm: Option<i64>,
    /// Largest free PSRAM block.
    pub pl: Option<i64>,
    /// Keys this version of heaplab does not know, in line order. Kept so a
    /// newer firmware's extra measurements survive import and export.
    pub extras: Vec<(String, String)>,
}

/// The known snapshot keys in the order the firmware prints them.
/// The tag of the firmware's periodic heartbeat snapshot: the steady state
/// that the fragmentation criterion and leak slopes are about.
pub const HEARTBEAT_TAG: &str = "hb";

pub const MEM_KEYS: [&str; 9] = ["hf", "hm", "hl", "hi", "hin", "frag", "pf", "pm", "pl"];

impl MemSnapshot {
    /// Parses the text after `[Mem] `. Returns `None` when the line carries no
    /// `key=value` pair at all (then it is some other `[Mem]` message).
    pub(crate) fn parse(rest: &str) -> Option<Self> {
        let (tag, pairs) = split_tag(rest);
        if pairs.is_empty() {
            return None;
        }
        let mut snap = MemSnapshot {
            tag: if tag.is_empty() {
                "-".to_owned()
            } else {
                tag.to_owned()
            },
            ..Default::default()
        };
        for (key, value) in kv::pairs(pairs) {
            match snap.slot(key) {
                Some(slot) => match kv::int(value) {
                    Some(n) => *slot = Some(n),
                    // A garbled value for a known key is kept verbatim rather
                    // than silently lost or read as 0.
                    None => snap.extras.push((key.to_owned(), value.to_owned())),
                },
                None => snap.extras.push((key.to_owned(), value.to_owned())),
            }
        }
        Some(snap)
    }

    /// The field for a known key, if `key` is one.
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<i64>> {
        Some(match key {
            "hf" => &mut self.hf,
            "hm" => &mut self.hm,
            "hl" => &mut self.hl,
            "hi" => &mut self.hi,
            "hin" => &mut self.hin,
            "frag" => &mut self.frag,
            "pf" => &mut self.pf,
            "pm" => &mut self.pm,
            "pl" => &mut self.pl,
            _ => return None,
        })
    }

    /// Known values in [`MEM_KEYS`] order.
    pub fn values(&self) -> [Option<i64>; 9] {
        [
            self.hf, self.hm, self.hl, self.hi, self.hin, self.frag, self.pf, self.pm, self.pl,
        ]
    }

    /// The snapshot whose [`MemSnapshot::values`] are `values`: how a
    /// store that keeps the values as one array reads them back.
    pub fn from_values(
        tag: String,
        values: [Option<i64>; 9],
        extras: Vec<(String, String)>,
    ) -> Self {
        let [hf, hm, hl, hi, hin, frag, pf, pm, pl] = values;
        MemSnapshot {
            tag,
            hf,
            hm,
            hl,
            hi,
            hin,
            frag,
            pf,
            pm,
            pl,
            extras,
        }
    }
}

/// Writes the line the firmware would print (without the `(Nms)` suffix).
impl fmt::Display for MemSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[Mem] {}", self.tag)?;
        for (key, value) in MEM_KEYS.iter().zip(self.values()) {
            if let Some(v) = value {
                write!(f, " {key}={v}")?;
            }
        }
        for (k, v) in &self.extras {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// Splits `<tag words> key=value …` at the first `key=value` token. Tags may
/// contain spaces (`img decode start`), so the tag is everything before it.
fn split_tag(rest: &str) -> (&str, &str) {
    let mut offset = 0;
    for tok in rest.split(' ') {
        if kv::is_pair(tok) {
            return (rest[..offset].trim(), &rest[offset..]);
        }
        offset += tok.len() + 1;
    }
    (rest.trim(), "")
}

/// `[Mem] TRIPWIRE fired tag=… hin=…B < …B (…)`: the internal low-water mark
/// crossed the configured threshold. Printed once per boot, followed by a
/// task dump.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tripwire {
    pub tag: String,
    pub hin: Option<i64>,
    pub threshold: Option<i64>,
    pub hf: Option<i64>,
    pub hl: Option<i64>,
    pub frag: Option<i64>,
    pub pf: Option<i64>,
    pub pl: Option<i64>,
}

impl Tripwire {
    /// Parses the text after `TRIPWIRE fired`.
    pub(crate) fn parse(rest: &str) -> Self {
        let rest = rest.trim();
        // The tag is device-supplied and may contain spaces: it runs from
        // `tag=` to ` hin=`.
        let (tag, tail) = match (rest.strip_prefix("tag="), rest.find(" hin=")) {
            (Some(_), Some(end)) => (&rest[4..end], &rest[end..]),
            (Some(after), None) => (after, ""),
            _ => ("", rest),
        };
        let mut trip = Tripwire {
            tag: tag.to_owned(),
            ..Default::default()
        };
        // `hin=21532B < 30720B (hf=… …)`: the threshold is the token after `<`.
        let mut tokens = tail.split_ascii_whitespace().peekable();
        while let Some(tok) = tokens.next() {
            if tok == "<" {
                trip.threshold = tokens.peek().and_then(|t| kv::int(t));
                continue;
            }
            let tok = tok.trim_start_matches('(');
            if let Some((k, v)) = kv::pairs(tok).next() {
                let slot = match k {
                    "hin" => &mut trip.hin,
                    "hf" => &mut trip.hf,
                    "hl" => &mut trip.hl,
                    "frag" => &mut trip.frag,
                    "pf" => &mut trip.pf,
                    "pl" => &mut trip.pl,
                    _ => continue,
                };
                *slot = kv::int(v);
            }
        }
        trip
    }
}

/// `[Mem] ALLOC_FAILED size=… caps=0x… fn=…` from the bundled firmware's
/// failed-allocation callback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocFailure {
    pub size: Option<i64>,
    pub caps: Option<i64>,
    pub function: Option<String>,
}

impl AllocFailure {
    pub(crate) fn parse(rest: &str) -> Self {
        let mut failure = AllocFailure::default();
        for (k, v) in kv::pairs(rest) {
            match k {
                "size" => failure.size = kv::int(v),
                "caps" => failure.caps = kv::int(v),
                "fn" => failure.function = Some(v.to_owned()),
                _ => {}
            }
        }
        failure
    }
}
