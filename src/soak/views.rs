//! What the pages show of soak data: every number formatted with its unit.

use crate::units::{bytes, duration_us};

use super::leak::{LeakEstimate, Slope};

/// `-7,200 B/h`
pub fn rate(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) => {
            let b = bytes(Some(v.round() as i64));
            format!("{}/h", b)
        }
    }
}

/// `3.2 h` / `4.5 days`
pub fn hours(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(h) if h >= 48.0 => format!("{:.1} days", h / 24.0),
        Some(h) if h >= 1.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.0} min", h * 60.0),
    }
}

fn band(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("{} … {}", rate(Some(l)), rate(Some(h))),
        _ => "–".into(),
    }
}

pub struct SegmentView {
    pub boot: i64,
    pub samples: usize,
    pub span: String,
    pub internal: String,
    pub internal_band: String,
    pub psram: String,
}

/// The "Leak" section of the run and device pages.
pub struct LeakView {
    pub available: bool,
    pub leaking: bool,
    pub verdict: String,
    pub internal: String,
    pub internal_band: String,
    pub psram: String,
    pub psram_band: String,
    pub current: String,
    pub tripwire: String,
    pub to_tripwire: String,
    pub to_zero: String,
    pub samples: usize,
    pub segments: Vec<SegmentView>,
}

impl LeakView {
    pub fn of(e: &LeakEstimate) -> Self {
        let slope_band = |s: &Option<Slope>| match s {
            Some(s) => band(Some(s.ci_low), Some(s.ci_high)),
            None => "–".into(),
        };
        LeakView {
            available: e.internal_bytes_per_hour.is_some(),
            leaking: e.leaking,
            verdict: if e.leaking {
                "✗ leaking".into()
            } else if e.internal_bytes_per_hour.is_some() {
                "✓ no significant leak".into()
            } else {
                "not enough heartbeat snapshots".into()
            },
            internal: rate(e.internal_bytes_per_hour),
            internal_band: band(e.internal_ci_low, e.internal_ci_high),
            psram: rate(e.psram_bytes_per_hour),
            psram_band: band(e.psram_ci_low, e.psram_ci_high),
            current: bytes(e.current_internal_bytes),
            tripwire: bytes(Some(e.tripwire_bytes)),
            to_tripwire: hours(e.hours_to_tripwire),
            to_zero: hours(e.hours_to_zero),
            samples: e.samples,
            segments: e
                .per_segment
                .iter()
                .map(|s| SegmentView {
                    boot: s.boot,
                    samples: s.samples,
                    span: duration_us(s.last_ts_us - s.first_ts_us),
                    internal: rate(s.internal.map(|x| x.bytes_per_hour)),
                    internal_band: slope_band(&s.internal),
                    psram: rate(s.psram.map(|x| x.bytes_per_hour)),
                })
                .collect(),
        }
    }
}

use super::crashes::RunCrashes;
use super::timeline::Timeline;
use crate::analysis::RunSummary;
use crate::store::{RunKind, RunRecord, Store, StoreError, StoredLeak};
use crate::units::time;

/// Above this many snapshots a cached leak estimate is reused until the
/// run has grown by one [`LEAK_REFRESH_FRACTION`]th: Theil–Sen reads every
/// heartbeat, and a week-long run has 600,000 of them.
const LEAK_CACHE_MIN_SNAPSHOTS: i64 = 10_000;
const LEAK_REFRESH_FRACTION: i64 = 100;

/// A run's leak estimate, from the cache beside its summary while that is
/// fresh for `snapshots`, else computed from its heartbeats and cached.
pub async fn cached_leak(
    store: &Store,
    run_id: i64,
    snapshots: i64,
    threshold: Option<i64>,
) -> Result<LeakEstimate, StoreError> {
    if let Some(cached) = store.leak_cache(run_id).await? {
        let fresh = cached.snapshots == snapshots
            || (snapshots >= LEAK_CACHE_MIN_SNAPSHOTS
                && snapshots - cached.snapshots < snapshots / LEAK_REFRESH_FRACTION);
        if fresh {
            if let Ok(leak) = serde_json::from_str(&cached.json) {
                return Ok(leak);
            }
        }
    }
    let points = store.heartbeat_points(run_id).await?;
    let leak =
        tokio::task::spawn_blocking(move || LeakEstimate::from_heap_points(points, threshold))
            .await?;
    store
        .put_leak_cache(
            run_id,
            &StoredLeak {
                json: serde_json::to_string(&leak)?,
                snapshots,
            },
        )
        .await?;
    Ok(leak)
}

/// A run's leak estimate for views that have no summary at hand: the
/// snapshot count and tripwire threshold from the stored summary (or the
/// rows when there is none), the estimate through [`cached_leak`].
pub async fn leak_for_run(store: &Store, run_id: i64) -> Result<LeakEstimate, StoreError> {
    let summary: Option<RunSummary> = store
        .run_summary(run_id)
        .await?
        .and_then(|s| serde_json::from_str(&s.json).ok());
    let (snapshots, threshold) = match summary {
        Some(s) => (s.derived.snapshots, s.derived.tripwire.threshold),
        None => (
            store.snapshot_count(run_id).await?,
            store.tripwire_threshold(run_id).await?,
        ),
    };
    cached_leak(store, run_id, snapshots, threshold).await
}

pub struct BootRow {
    pub time: String,
    pub run_id: i64,
    pub line_no: i64,
    pub reason: String,
    pub health_reason: String,
    pub crash: String,
    pub uptime: String,
    pub failure: bool,
}

pub struct TimelineView {
    pub reboots: usize,
    pub crashes: usize,
    pub failures: usize,
    pub span: String,
    pub reboots_per_day: String,
    pub crashes_per_day: String,
    pub mtbf: String,
    pub mean_uptime: String,
    pub rows: Vec<BootRow>,
}

fn per_day(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1} /day"))
}

impl TimelineView {
    pub fn of(t: &Timeline) -> Self {
        TimelineView {
            reboots: t.reboots,
            crashes: t.crashes,
            failures: t.failures,
            span: duration_us((t.span_hours * 3.6e9) as i64),
            reboots_per_day: per_day(t.reboots_per_day),
            crashes_per_day: per_day(t.crashes_per_day),
            mtbf: hours(t.mtbf_hours),
            mean_uptime: t
                .mean_uptime_s
                .map_or_else(|| "–".into(), |s| duration_us((s * 1e6) as i64)),
            rows: t
                .boots
                .iter()
                .rev()
                .take(200)
                .map(|b| BootRow {
                    time: time(b.ts_us),
                    run_id: b.run_id,
                    line_no: b.line_no.unwrap_or(1),
                    reason: b.reset_reason.clone().unwrap_or_else(|| "–".into()),
                    health_reason: b.health_reset_reason.clone().unwrap_or_else(|| "–".into()),
                    crash: b
                        .crash
                        .as_ref()
                        .map_or_else(|| "–".into(), |c| format!("{}: {}", c.kind, c.line)),
                    uptime: b
                        .uptime_before_s
                        .map_or_else(|| "–".into(), |s| duration_us((s * 1e6) as i64)),
                    failure: b.failure,
                })
                .collect(),
        }
    }
}

pub struct FrameView {
    pub pc: String,
    pub function: String,
    pub location: String,
    pub inlined: bool,
}

pub struct CrashView {
    pub time: String,
    pub line_no: i64,
    pub kind: String,
    pub message: String,
    pub frames: Vec<FrameView>,
}

/// The soak parts of a run page: its boots (for a soak, or any run that
/// rebooted) and its crashes with decoded backtraces.
pub struct RunSoakView {
    pub timeline: Option<TimelineView>,
    pub crashes: Vec<CrashView>,
    pub has_backtrace: bool,
    pub firmware: String,
    pub elf: bool,
    pub decode_error: String,
}

impl RunSoakView {
    pub async fn load(store: &Store, run: &RunRecord) -> Result<Self, StoreError> {
        let c = RunCrashes::load(store, run.id).await?;
        let timeline = Timeline::for_run(store, run.id).await?;
        let show_timeline = run.kind == RunKind::Soak || timeline.reboots > 0;
        Ok(RunSoakView {
            timeline: show_timeline.then(|| TimelineView::of(&timeline)),
            has_backtrace: c.crashes.iter().any(|x| !x.backtrace.is_empty()),
            crashes: c
                .crashes
                .iter()
                .take(100)
                .map(|x| CrashView {
                    time: time(x.ts_us),
                    line_no: x.line_no.unwrap_or(1),
                    kind: x.kind.clone(),
                    message: x.message.clone(),
                    frames: x
                        .frames
                        .iter()
                        .map(|f| FrameView {
                            pc: f.pc_hex.clone(),
                            function: f.function.clone().unwrap_or_else(|| "??".into()),
                            location: match (&f.file, f.line) {
                                (Some(file), Some(line)) => format!("{file}:{line}"),
                                (Some(file), None) => file.clone(),
                                _ => "–".into(),
                            },
                            inlined: f.inlined,
                        })
                        .collect(),
                })
                .collect(),
            firmware: c
                .firmware_version
                .clone()
                .map(|v| super::symbolize::normalize_version(&v))
                .unwrap_or_default(),
            elf: c.elf,
            decode_error: c.decode_error.unwrap_or_default(),
        })
    }
}

/// The soak parts of a device page: the leak of its current (or latest)
/// run and its boot timeline.
pub struct DeviceSoakView {
    pub leak: LeakEstimate,
    pub leak_run: Option<i64>,
    pub timeline: TimelineView,
}

impl DeviceSoakView {
    pub async fn load(
        store: &Store,
        device_id: i64,
        active_run: Option<i64>,
    ) -> Result<Self, StoreError> {
        let leak_run = match active_run {
            Some(r) => Some(r),
            None => store.latest_run_of_device(device_id).await?,
        };
        let leak = match leak_run {
            Some(r) => leak_for_run(store, r).await?,
            None => LeakEstimate::default(),
        };
        let timeline = Timeline::for_device(store, device_id, None).await?;
        Ok(DeviceSoakView {
            leak,
            leak_run,
            timeline: TimelineView::of(&timeline),
        })
    }
}
