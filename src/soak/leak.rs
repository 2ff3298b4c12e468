//! Leak slope: a robust (Theil–Sen) estimate of how fast internal free
//! (`hi`) and PSRAM free (`pf`) fall over steady-state (`hb`) snapshots, per
//! boot segment and over a whole soak, in bytes per hour, with a confidence
//! band and a projection of when the tripwire threshold and zero are
//! reached. Pure: rows in, numbers out.
//!
//! Theil–Sen is the median of the slopes between pairs of points, so a few
//! spikes (a request in flight when the heartbeat fired) do not move it.
//! A reboot frees everything, so pairs never span a reboot: each boot
//! segment contributes its own pairs and the whole-run slope is the median
//! of all within-segment pairs. For long runs a deterministic sample of
//! pairs (fixed seed) keeps the cost at O(n + B log B) for a budget of B
//! pairs instead of O(n² log n).

use serde::Serialize;

use crate::store::{HeapPoint, SnapshotRow};

/// The firmware's default tripwire threshold (`hin` below this fires it).
pub const DEFAULT_TRIPWIRE_BYTES: i64 = 30_720;
/// Pairs examined over the whole run (sampled when there are more).
const PAIR_BUDGET: usize = 200_000;
/// Fewest samples a segment needs to have a slope.
const MIN_SAMPLES: usize = 3;
/// A band entirely below zero is significant; below this rate it is
/// still called noise (one 8-byte header over a week is not a leak).
pub const MIN_LEAK_BYTES_PER_HOUR: f64 = 10.0;
/// Two-sided 95 % normal quantile for the Sen confidence band.
const Z_95: f64 = 1.959_964;
const US_PER_HOUR: f64 = 3_600_000_000.0;

/// One slope with its 95 % band, in bytes per hour (negative = losing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Slope {
    pub bytes_per_hour: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

impl Slope {
    /// The band lies entirely below zero and the rate is not negligible.
    pub fn leaking(&self) -> bool {
        self.ci_high < 0.0 && self.bytes_per_hour <= -MIN_LEAK_BYTES_PER_HOUR
    }
}

/// The slopes of one boot segment.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SegmentLeak {
    pub boot: i64,
    pub samples: usize,
    pub first_ts_us: i64,
    pub last_ts_us: i64,
    pub internal: Option<Slope>,
    pub psram: Option<Slope>,
}

/// A run's leak estimate (`leak` in the run's API document).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, Default)]
pub struct LeakEstimate {
    /// Theil–Sen slope of `hi` over `hb` snapshots, B/h (negative = leak).
    pub internal_bytes_per_hour: Option<f64>,
    pub internal_ci_low: Option<f64>,
    pub internal_ci_high: Option<f64>,
    /// The same for PSRAM free (`pf`).
    pub psram_bytes_per_hour: Option<f64>,
    pub psram_ci_low: Option<f64>,
    pub psram_ci_high: Option<f64>,
    pub per_segment: Vec<SegmentLeak>,
    /// The threshold projected to (the run's tripwire threshold, else 30720 B).
    pub tripwire_bytes: i64,
    /// The latest steady-state internal free the projection starts from.
    pub current_internal_bytes: Option<i64>,
    /// Hours until internal free reaches the tripwire threshold at this
    /// rate (0 when already below); `None` when not leaking.
    pub hours_to_tripwire: Option<f64>,
    /// Hours until internal free reaches zero; `None` when not leaking.
    pub hours_to_zero: Option<f64>,
    pub samples: usize,
    /// Internal free falls significantly.
    pub leaking: bool,
    /// PSRAM free falls significantly.
    pub psram_leaking: bool,
}

impl LeakEstimate {
    /// Estimates from a run's snapshots (any order of tags; only `hb` count).
    pub fn from_snapshots(rows: &[SnapshotRow], tripwire_bytes: Option<i64>) -> Self {
        let points: Vec<LeakPoint> = rows
            .iter()
            .filter(|r| r.snapshot.tag == "hb")
            .map(|r| LeakPoint {
                ts_us: r.ts_us,
                boot: r.boot,
                hi: r.snapshot.hi,
                pf: r.snapshot.pf,
            })
            .collect();
        Self::from_points(&points, tripwire_bytes)
    }

    /// Estimates from the store's heartbeat points (read without whole
    /// snapshots), ordered by time.
    ///
    /// Takes the points by value: the conversion reuses their allocation (a
    /// week is 600,000 points; a copy would double the fit's memory).
    pub fn from_heap_points(points: Vec<HeapPoint>, tripwire_bytes: Option<i64>) -> Self {
        let points: Vec<LeakPoint> = points
            .into_iter()
            .map(|p| LeakPoint {
                ts_us: p.ts_us,
                boot: p.boot,
                hi: p.hi,
                pf: p.pf,
            })
            .collect();
        Self::from_points(&points, tripwire_bytes)
    }

    /// Estimates from steady-state points, ordered by time.
    pub fn from_points(points: &[LeakPoint], tripwire_bytes: Option<i64>) -> Self {
        let tripwire = tripwire_bytes.unwrap_or(DEFAULT_TRIPWIRE_BYTES);
        let segments = split_segments(points);
        let internal_series: Vec<Series> = segments.iter().map(|s| series(s, |p| p.hi)).collect();
        let psram_series: Vec<Series> = segments.iter().map(|s| series(s, |p| p.pf)).collect();
        let per_segment = segments
            .iter()
            .zip(internal_series.iter().zip(&psram_series))
            .map(|(seg, (int, ps))| SegmentLeak {
                boot: seg[0].boot,
                samples: seg.len(),
                first_ts_us: seg[0].ts_us,
                last_ts_us: seg[seg.len() - 1].ts_us,
                internal: theil_sen(std::slice::from_ref(int)),
                psram: theil_sen(std::slice::from_ref(ps)),
            })
            .collect();
        let internal = theil_sen(&internal_series);
        let psram = theil_sen(&psram_series);
        let current = points.iter().rev().find_map(|p| p.hi);
        let leaking = internal.is_some_and(|s| s.leaking());
        let (hours_to_tripwire, hours_to_zero) = match (internal, current) {
            (Some(s), Some(now)) if leaking => {
                let rate = -s.bytes_per_hour;
                (
                    Some(((now - tripwire) as f64 / rate).max(0.0)),
                    Some((now as f64 / rate).max(0.0)),
                )
            }
            _ => (None, None),
        };
        LeakEstimate {
            internal_bytes_per_hour: internal.map(|s| s.bytes_per_hour),
            internal_ci_low: internal.map(|s| s.ci_low),
            internal_ci_high: internal.map(|s| s.ci_high),
            psram_bytes_per_hour: psram.map(|s| s.bytes_per_hour),
            psram_ci_low: psram.map(|s| s.ci_low),
            psram_ci_high: psram.map(|s| s.ci_high),
            per_segment,
            tripwire_bytes: tripwire,
            current_internal_bytes: current,
            hours_to_tripwire,
            hours_to_zero,
            samples: points.len(),
            leaking,
            psram_leaking: psram.is_some_and(|s| s.leaking()),
        }
    }
}

/// One steady-state sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakPoint {
    pub ts_us: i64,
    pub boot: i64,
    pub hi: Option<i64>,
    pub pf: Option<i64>,
}

/// Consecutive runs of the same boot segment.
fn split_segments(points: &[LeakPoint]) -> Vec<&[LeakPoint]> {
    points
        .chunk_by(|a, b| a.boot == b.boot)
        .filter(|s| !s.is_empty())
        .collect()
}

/// (hours since the segment's first point, bytes).
struct Series {
    t: Vec<f64>,
    y: Vec<f64>,
}

fn series(points: &[LeakPoint], value: impl Fn(&LeakPoint) -> Option<i64>) -> Series {
    let t0 = points.first().map_or(0, |p| p.ts_us);
    let (t, y) = points
        .iter()
        .filter_map(|p| Some(((p.ts_us - t0) as f64 / US_PER_HOUR, value(p)? as f64)))
        .unzip();
    Series { t, y }
}

/// The median of within-segment pairwise slopes over all `segments`, with
/// the Sen confidence band from the rank-based normal approximation
/// (Kendall's S variance summed over independent segments). `None` when
/// no segment has enough samples.
fn theil_sen(segments: &[Series]) -> Option<Slope> {
    let usable: Vec<&Series> = segments
        .iter()
        .filter(|s| s.t.len() >= MIN_SAMPLES)
        .collect();
    let pair_count = |n: usize| (n as f64) * (n as f64 - 1.0) / 2.0;
    let total_pairs: f64 = usable.iter().map(|s| pair_count(s.t.len())).sum();
    if total_pairs <= 0.0 {
        return None;
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut slopes = Vec::new();
    let mut variance = 0.0;
    for s in &usable {
        let n = s.t.len();
        variance += (n as f64) * (n as f64 - 1.0) * (2.0 * n as f64 + 5.0) / 18.0;
        let pairs = pair_count(n);
        if pairs <= PAIR_BUDGET as f64 {
            for i in 0..n {
                for j in i + 1..n {
                    push_slope(&mut slopes, s, i, j);
                }
            }
        } else {
            // This segment's share of the budget, at least a thousand pairs.
            let share = ((PAIR_BUDGET as f64) * pairs / total_pairs).max(1000.0) as usize;
            for _ in 0..share {
                let a = rng.below(n);
                let b = rng.below(n - 1);
                let b = if b >= a { b + 1 } else { b };
                push_slope(&mut slopes, s, a.min(b), a.max(b));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_unstable_by(f64::total_cmp);
    let m = slopes.len();
    let at_rank = |rank: f64| {
        // `rank` is 1-based among all `total_pairs`; scaled onto the sample.
        let idx = ((rank / total_pairs) * m as f64).floor() as isize - 1;
        slopes[idx.clamp(0, m as isize - 1) as usize]
    };
    let c = Z_95 * variance.sqrt();
    Some(Slope {
        bytes_per_hour: median(&slopes),
        ci_low: at_rank((total_pairs - c) / 2.0),
        ci_high: at_rank((total_pairs + c) / 2.0 + 1.0),
    })
}

fn push_slope(out: &mut Vec<f64>, s: &Series, i: usize, j: usize) {
    let dt = s.t[j] - s.t[i];
    if dt > 0.0 {
        out.push((s.y[j] - s.y[i]) / dt);
    }
}

fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len();
    if m % 2 == 1 {
        sorted[m / 2]
    } else {
        (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0
    }
}

/// A tiny deterministic generator: the same rows always give the same
/// estimate.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000;

    fn line(n: usize, boot: i64, t0: i64, start: i64, per_sec: f64) -> Vec<LeakPoint> {
        (0..n)
            .map(|i| LeakPoint {
                ts_us: t0 + i as i64 * SEC,
                boot,
                hi: Some(start + (per_sec * i as f64).round() as i64),
                pf: Some(8_000_000),
            })
            .collect()
    }

    #[test]
    fn exact_slope_on_a_line() {
        // -2 B/s = -7200 B/h.
        let est = LeakEstimate::from_points(&line(500, 0, 0, 200_000, -2.0), None);
        let s = est.internal_bytes_per_hour.expect("slope");
        assert!((s + 7200.0).abs() < 1e-6, "{s}");
        assert!(est.internal_ci_low.expect("low") <= s);
        assert!(est.internal_ci_high.expect("high") >= s);
        assert!(est.leaking);
        assert_eq!(est.psram_bytes_per_hour, Some(0.0));
        assert!(!est.psram_leaking);
        // 200000 - 2*499 = 199002 now; (199002 - 30720) / 7200 h.
        let h = est.hours_to_tripwire.expect("projection");
        assert!((h - (199_002.0 - 30_720.0) / 7200.0).abs() < 1e-6, "{h}");
        let z = est.hours_to_zero.expect("zero");
        assert!((z - 199_002.0 / 7200.0).abs() < 1e-6);
    }

    #[test]
    fn large_runs_are_sampled_and_still_exact() {
        let est = LeakEstimate::from_points(&line(20_000, 0, 0, 250_000, -0.5), None);
        let s = est.internal_bytes_per_hour.expect("slope");
        assert!((s + 1800.0).abs() < 1e-6, "{s}");
        assert_eq!(est.samples, 20_000);
    }

    #[test]
    fn spikes_do_not_move_it() {
        let mut points = line(300, 0, 0, 150_000, -1.0);
        for i in [10, 50, 51, 120, 200, 290] {
            points[i].hi = Some(points[i].hi.unwrap_or(0) - 40_000);
        }
        points[77].hi = Some(260_000);
        let est = LeakEstimate::from_points(&points, None);
        let s = est.internal_bytes_per_hour.expect("slope");
        assert!((s + 3600.0).abs() < 1.0, "{s}");
    }

    #[test]
    fn reboots_are_segments_and_pairs_never_span_them() {
        // Three boots, each starting fresh at 180 KB and losing 1 B/s: a
        // naive fit over the whole run would see a sawtooth with ~0 slope.
        let mut points = line(200, 0, 0, 180_000, -1.0);
        points.extend(line(200, 1, 300 * SEC, 180_000, -1.0));
        points.extend(line(200, 2, 600 * SEC, 180_000, -1.0));
        let est = LeakEstimate::from_points(&points, Some(20_000));
        assert_eq!(est.per_segment.len(), 3);
        for seg in &est.per_segment {
            let s = seg.internal.expect("segment slope").bytes_per_hour;
            assert!((s + 3600.0).abs() < 1e-6, "{s}");
            assert_eq!(seg.samples, 200);
        }
        assert_eq!(est.per_segment[2].boot, 2);
        let s = est.internal_bytes_per_hour.expect("slope");
        assert!((s + 3600.0).abs() < 1e-6, "{s}");
        assert_eq!(est.tripwire_bytes, 20_000);
        assert!(est.leaking);
    }

    #[test]
    fn flat_or_rising_is_not_a_leak() {
        let mut points = line(400, 0, 0, 190_000, 0.0);
        // Heartbeat churn: a few bytes up and down.
        for (i, p) in points.iter_mut().enumerate() {
            p.hi = Some(190_000 + [0, 8, -8, 0, 16][i % 5]);
        }
        let est = LeakEstimate::from_points(&points, None);
        assert!(!est.leaking);
        assert_eq!(est.hours_to_tripwire, None);
        assert_eq!(est.hours_to_zero, None);
        let rising = LeakEstimate::from_points(&line(100, 0, 0, 100_000, 3.0), None);
        assert!(!rising.leaking);
        assert!(rising.internal_bytes_per_hour.expect("slope") > 0.0);
    }

    #[test]
    fn too_few_samples_have_no_slope() {
        let est = LeakEstimate::from_points(&line(2, 0, 0, 100_000, -5.0), None);
        assert_eq!(est.internal_bytes_per_hour, None);
        assert!(!est.leaking);
        let empty = LeakEstimate::from_points(&[], None);
        assert_eq!(empty.samples, 0);
        assert_eq!(empty.tripwire_bytes, DEFAULT_TRIPWIRE_BYTES);
    }
}
