//! What a chart request asks for: which metrics, which time window, what
//! size. Kept apart from drawing so the web layer can validate a query string
//! (and answer 400 naming the bad parameter) before it spends a blocking
//! thread on rendering.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::ChartError;
use crate::protocol::MemSnapshot;

/// One plottable `[Mem]` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Hf,
    Hm,
    Hl,
    Hi,
    Hin,
    Frag,
    Pf,
    Pm,
    Pl,
}

impl Metric {
    /// Every metric, in the firmware's key order.
    pub const ALL: [Metric; 9] = [
        Metric::Hf,
        Metric::Hm,
        Metric::Hl,
        Metric::Hi,
        Metric::Hin,
        Metric::Frag,
        Metric::Pf,
        Metric::Pm,
        Metric::Pl,
    ];

    /// The key as the firmware prints it (`hin`).
    pub fn key(self) -> &'static str {
        match self {
            Metric::Hf => "hf",
            Metric::Hm => "hm",
            Metric::Hl => "hl",
            Metric::Hi => "hi",
            Metric::Hin => "hin",
            Metric::Frag => "frag",
            Metric::Pf => "pf",
            Metric::Pm => "pm",
            Metric::Pl => "pl",
        }
    }

    /// A human name that still shows the key.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Hf => "heap free (hf)",
            Metric::Hm => "heap min free (hm)",
            Metric::Hl => "largest internal block (hl)",
            Metric::Hi => "internal free (hi)",
            Metric::Hin => "internal min free (hin)",
            Metric::Frag => "fragmentation (frag)",
            Metric::Pf => "PSRAM free (pf)",
            Metric::Pm => "PSRAM min free (pm)",
            Metric::Pl => "largest PSRAM block (pl)",
        }
    }

    /// `"%"` for fragmentation, `"B"` for everything else.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Frag => "%",
            _ => "B",
        }
    }

    /// Whether the metric is a percentage (drawn on the right-hand axis).
    pub fn is_percent(self) -> bool {
        self == Metric::Frag
    }

    /// The snapshot's value; `None` when the firmware did not print the key.
    pub fn value(self, snap: &MemSnapshot) -> Option<i64> {
        match self {
            Metric::Hf => snap.hf,
            Metric::Hm => snap.hm,
            Metric::Hl => snap.hl,
            Metric::Hi => snap.hi,
            Metric::Hin => snap.hin,
            Metric::Frag => snap.frag,
            Metric::Pf => snap.pf,
            Metric::Pm => snap.pm,
            Metric::Pl => snap.pl,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Metric {
    type Err = ChartError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim();
        Metric::ALL
            .into_iter()
            .find(|m| m.key().eq_ignore_ascii_case(key))
            .ok_or_else(|| {
                ChartError::bad(
                    "metric",
                    s,
                    "unknown metric; expected one of hf, hm, hl, hi, hin, frag, pf, pm, pl",
                )
            })
    }
}

/// How the x axis of a run chart is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    /// UTC time of day (`HH:MM:SS`; `MM-DD HH:MM` past a day).
    Time,
    /// `mm:ss` since the first plotted instant.
    SinceStart,
}

impl XAxis {
    /// Runs shorter than this are labelled `mm:ss` since start.
    pub const SHORT_RUN_US: i64 = 3_600_000_000;

    /// The labelling for a window of `span_us` microseconds.
    pub fn for_span(span_us: i64) -> XAxis {
        if span_us < Self::SHORT_RUN_US {
            XAxis::SinceStart
        } else {
            XAxis::Time
        }
    }
}

/// A validated request for one run chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRequest {
    pub metrics: Vec<Metric>,
    /// Window start, UTC microseconds (inclusive).
    pub from_us: Option<i64>,
    /// Window end, UTC microseconds (inclusive).
    pub to_us: Option<i64>,
    /// SVG width in pixels, 200..=4000.
    pub width: u32,
    /// SVG height in pixels, 120..=2000.
    pub height: u32,
    /// The acceptance floor drawn as a dashed line: the configured
    /// `hin_min`, set by the caller (not a query parameter).
    pub floor_bytes: i64,
}

impl Default for ChartRequest {
    fn default() -> Self {
        ChartRequest {
            metrics: ChartRequest::DEFAULT_METRICS.to_vec(),
            from_us: None,
            to_us: None,
            width: ChartRequest::DEFAULT_WIDTH,
            height: ChartRequest::DEFAULT_HEIGHT,
            floor_bytes: crate::analysis::AcceptanceCriteria::default().hin_min_bytes,
        }
    }
}

impl ChartRequest {
    pub const DEFAULT_METRICS: [Metric; 3] = [Metric::Hi, Metric::Hin, Metric::Hl];
    pub const DEFAULT_WIDTH: u32 = 960;
    pub const DEFAULT_HEIGHT: u32 = 360;
    pub const WIDTH_RANGE: (u32, u32) = (200, 4000);
    pub const HEIGHT_RANGE: (u32, u32) = (120, 2000);

    /// Parses `metric=hi,hin&from=<µs|RFC3339>&to=…&width=…&height=…`
    /// (a leading `?` is allowed). Unknown parameters are ignored so the web
    /// layer can add its own; a known one with a bad value is an error that
    /// names it.
    pub fn parse(query: &str) -> Result<ChartRequest, ChartError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        ChartRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The same rules over already-decoded pairs (for a framework's query
    /// extractor). Later duplicates win.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<ChartRequest, ChartError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut req = ChartRequest::default();
        for (key, value) in pairs {
            match key {
                "metric" | "metrics" => req.metrics = parse_metrics(value)?,
                "from" => req.from_us = parse_instant("from", value)?,
                "to" => req.to_us = parse_instant("to", value)?,
                "width" => {
                    req.width = parse_size("width", value, Self::WIDTH_RANGE)?
                        .unwrap_or(Self::DEFAULT_WIDTH)
                }
                "height" => {
                    req.height = parse_size("height", value, Self::HEIGHT_RANGE)?
                        .unwrap_or(Self::DEFAULT_HEIGHT)
                }
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (req.from_us, req.to_us) {
            if from > to {
                return Err(ChartError::bad("from", &from.to_string(), "is after `to`"));
            }
        }
        Ok(req)
    }
}

fn parse_metrics(value: &str) -> Result<Vec<Metric>, ChartError> {
    let mut metrics = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let metric: Metric = part.parse()?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    if metrics.is_empty() {
        return Err(ChartError::bad("metric", value, "names no metric"));
    }
    Ok(metrics)
}

/// Microseconds since the epoch, or an RFC 3339 timestamp. Empty means "not
/// given".
fn parse_instant(name: &'static str, value: &str) -> Result<Option<i64>, ChartError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(us) = v.parse::<i64>() {
        return Ok(Some(us));
    }
    // A `+hh:mm` offset arrives as ` hh:mm` when the client did not encode
    // the `+`.
    let candidates = [v.to_owned(), v.replace(' ', "+")];
    for text in &candidates {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
            return Ok(Some(t.timestamp_micros()));
        }
    }
    Err(ChartError::bad(
        name,
        value,
        "expected microseconds since the epoch or an RFC 3339 time",
    ))
}

fn parse_size(
    name: &'static str,
    value: &str,
    (lo, hi): (u32, u32),
) -> Result<Option<u32>, ChartError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let n: u64 = v
        .parse()
        .map_err(|_| ChartError::bad(name, value, "expected a whole number of pixels"))?;
    Ok(Some(n.clamp(u64::from(lo), u64::from(hi)) as u32))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; malformed escapes are kept literally. Invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_full_query() {
        let req = ChartRequest::parse(
            "?metric=hi,hin,hl,pf&from=1700000000000000&to=2023-11-14T22%3A13%3A20Z&width=1200&height=400",
        )
        .unwrap();
        assert_eq!(
            req.metrics,
            vec![Metric::Hi, Metric::Hin, Metric::Hl, Metric::Pf]
        );
        assert_eq!(req.from_us, Some(1_700_000_000_000_000));
        assert_eq!(req.to_us, Some(1_700_000_000_000_000));
        assert_eq!((req.width, req.height), (1200, 400));
    }

    #[test]
    fn defaults_and_clamping() {
        let req = ChartRequest::parse("").unwrap();
        assert_eq!(req, ChartRequest::default());
        let req = ChartRequest::parse("width=10&height=99999&other=x").unwrap();
        assert_eq!((req.width, req.height), (200, 2000));
        let req = ChartRequest::parse("width=100000").unwrap();
        assert_eq!(req.width, 4000);
    }

    #[test]
    fn rfc3339_with_unencoded_plus() {
        let req = ChartRequest::parse("from=2023-11-15T00:13:20+02:00").unwrap();
        assert_eq!(req.from_us, Some(1_700_000_000_000_000));
    }

    #[test]
    fn errors_name_the_parameter() {
        for (query, name) in [
            ("metric=hi,bogus", "metric"),
            ("metric=", "metric"),
            ("from=yesterday", "from"),
            ("to=12:00", "to"),
            ("width=wide", "width"),
            ("height=-5", "height"),
            ("from=20&to=10", "from"),
        ] {
            let err = ChartRequest::parse(query).unwrap_err();
            let ChartError::BadParameter { name: got, .. } = &err else {
                panic!("{query}: {err}");
            };
            assert_eq!(*got, name, "{query}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.key().parse::<Metric>().unwrap(), m);
            assert!(m.label().contains(m.key()));
        }
        assert_eq!(Metric::Frag.unit(), "%");
        assert_eq!(Metric::Hin.unit(), "B");
        assert_eq!("HIN".parse::<Metric>().unwrap(), Metric::Hin);
    }

    #[test]
    fn x_axis_choice() {
        assert_eq!(XAxis::for_span(60_000_000), XAxis::SinceStart);
        assert_eq!(XAxis::for_span(7 * 86_400_000_000), XAxis::Time);
    }
}
