//! The boot timeline of a device (or of one soak run): every boot with its
//! reset reason (the ROM's `rst:` line and `/api/health` `reset_reason`),
//! the crash that preceded it, how long the previous boot ran, and the
//! rates over the span: reboots and crashes per day, mean time between
//! failures.
//!
//! A boot is a `boot` event with `marker = "reset"` (the ROM prints one
//! `rst:` line per boot). Live runs end at each reboot and soak runs span
//! them, so the timeline is built over all of the device's runs.

use serde::Serialize;
use serde_json::Value;

use crate::store::{now_us, EventKind, EventRow, Result, Store};

const US_PER_HOUR: f64 = 3_600_000_000.0;

/// The crash that ended a boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashRef {
    pub run_id: i64,
    pub line_no: Option<i64>,
    pub ts_us: i64,
    /// `guru_meditation`, `stack_canary`, `panic`, `abort`, `brownout`, …
    pub kind: String,
    /// The first crash line of the report.
    pub line: String,
    /// The task a stack canary named.
    pub task: Option<String>,
    /// `[pc, sp]` pairs of the report's `Backtrace:` line.
    pub backtrace: Vec<(u32, u32)>,
}

/// One boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootEntry {
    pub run_id: i64,
    pub line_no: Option<i64>,
    pub ts_us: i64,
    pub reset_code: Option<i64>,
    /// From the `rst:` line, e.g. `RTC_SW_CPU_RST`, `POWERON`.
    pub reset_reason: Option<String>,
    /// From the first `/api/health` answer of this boot: `SW`, `PANIC`, …
    pub health_reset_reason: Option<String>,
    /// True when something was recorded before this boot (it is a reboot,
    /// not the first power-on seen).
    pub reboot: bool,
    /// A crash, or a reset reason that means one (panic, watchdog, brownout).
    pub failure: bool,
    pub crash: Option<CrashRef>,
    /// Last activity before this boot minus the previous boot's start, s.
    pub uptime_before_s: Option<f64>,
}

/// A device's (or run's) boots and the rates over its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub device_id: Option<i64>,
    pub run_id: Option<i64>,
    pub from_us: i64,
    pub to_us: i64,
    pub boots: Vec<BootEntry>,
    pub reboots: usize,
    pub crashes: usize,
    pub failures: usize,
    pub span_hours: f64,
    pub reboots_per_day: Option<f64>,
    pub crashes_per_day: Option<f64>,
    /// Span ÷ failures; `None` without a failure.
    pub mtbf_hours: Option<f64>,
    pub mean_uptime_s: Option<f64>,
}

/// Reset reasons (ROM or `esp_reset_reason()`) that mean something failed.
pub fn is_failure_reason(reason: &str) -> bool {
    let r = reason.to_ascii_uppercase();
    ["PANIC", "WDT", "BROWNOUT", "EXCEPTION", "LOCKUP"]
        .iter()
        .any(|k| r.contains(k))
}

/// The runs and the window a timeline covers.
struct Scope {
    device_id: Option<i64>,
    run_id: Option<i64>,
    runs: Vec<i64>,
    from_us: i64,
    to_us: i64,
}

impl Timeline {
    /// Every boot of a device since `since_us` (all time when `None`).
    pub async fn for_device(store: &Store, device_id: i64, since_us: Option<i64>) -> Result<Self> {
        store.device(device_id).await?;
        let runs = store.device_run_spans(device_id).await?;
        let from = runs
            .iter()
            .map(|r| r.started_us)
            .min()
            .unwrap_or_else(now_us);
        let to = if runs.iter().any(|r| r.ended_us.is_none()) {
            now_us()
        } else {
            runs.iter().filter_map(|r| r.ended_us).max().unwrap_or(from)
        };
        let scope = Scope {
            device_id: Some(device_id),
            run_id: None,
            runs: runs.iter().map(|r| r.id).collect(),
            from_us: since_us.map_or(from, |s| s.max(from)),
            to_us: to,
        };
        build(store, scope).await
    }

    /// The boots inside one run's window. A run of a known device looks at
    /// the device's other runs too (a live run ends at each reboot, so the
    /// crash before it sits in the previous run).
    pub async fn for_run(store: &Store, run_id: i64) -> Result<Self> {
        let run = store.run(run_id).await?;
        let last = store.last_snapshot_ts(run_id).await?;
        let to = run
            .ended_us
            .or(last)
            .unwrap_or_else(now_us)
            .max(last.unwrap_or(i64::MIN));
        let runs = match run.device_id {
            Some(device) => {
                store
                    .device_runs_overlapping(device, run.started_us, to)
                    .await?
            }
            None => vec![run_id],
        };
        build(
            store,
            Scope {
                device_id: run.device_id,
                run_id: Some(run_id),
                runs,
                from_us: run.started_us,
                to_us: to,
            },
        )
        .await
    }
}

fn crash_ref(run_id: i64, e: &EventRow) -> CrashRef {
    CrashRef {
        run_id,
        line_no: e.line_no,
        ts_us: e.ts_us,
        kind: e.data["kind"].as_str().unwrap_or("crash").to_owned(),
        line: e.message.clone(),
        task: e.data["task"].as_str().map(str::to_owned),
        backtrace: backtrace_of(&e.data),
    }
}

/// `data.backtrace` as `[[pc, sp], …]`.
pub fn backtrace_of(data: &Value) -> Vec<(u32, u32)> {
    data["backtrace"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| {
                    Some((
                        u32::try_from(p.get(0)?.as_u64()?).ok()?,
                        u32::try_from(p.get(1)?.as_u64()?).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn build(store: &Store, s: Scope) -> Result<Timeline> {
    let mut boots: Vec<BootEntry> = Vec::new();
    let mut crashes_total = 0;
    if !s.runs.is_empty() {
        let markers = store.boot_markers(&s.runs, s.from_us, s.to_us).await?;
        let mut pending: Option<CrashRef> = None;
        // The boot running when the window opens (a soak starts mid-boot).
        let mut prev_boot = store.last_reset_before(&s.runs, s.from_us).await?;
        for (run_id, e) in &markers {
            if e.kind == EventKind::Crash {
                crashes_total += usize::from(pending.is_none());
                match &mut pending {
                    None => pending = Some(crash_ref(*run_id, e)),
                    Some(c) if c.backtrace.is_empty() => c.backtrace = backtrace_of(&e.data),
                    Some(_) => {}
                }
                continue;
            }
            let window_start = prev_boot.unwrap_or(s.from_us);
            let activity = store.last_activity(&s.runs, window_start, e.ts_us).await?;
            let reset_reason = e.data["reason"].as_str().map(str::to_owned);
            let crash = pending.take();
            boots.push(BootEntry {
                run_id: *run_id,
                line_no: e.line_no,
                ts_us: e.ts_us,
                reset_code: e.data["code"].as_i64(),
                reset_reason,
                health_reset_reason: None,
                reboot: activity.is_some() || crash.is_some(),
                failure: crash.is_some(),
                crash,
                uptime_before_s: match (prev_boot, activity) {
                    (Some(b), Some(a)) => Some((a - b) as f64 / 1e6),
                    _ => None,
                },
            });
            prev_boot = Some(e.ts_us);
        }
        let starts: Vec<i64> = boots.iter().map(|b| b.ts_us).collect();
        for (i, boot) in boots.iter_mut().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(i64::MAX);
            boot.health_reset_reason = store
                .first_health_reset_reason(&s.runs, boot.ts_us, end)
                .await?;
            let reasons = [&boot.reset_reason, &boot.health_reset_reason];
            if boot.reboot
                && reasons
                    .iter()
                    .any(|r| r.as_deref().is_some_and(is_failure_reason))
            {
                boot.failure = true;
            }
        }
    }
    Ok(summarise(
        s.device_id,
        s.run_id,
        s.from_us,
        s.to_us,
        boots,
        crashes_total,
    ))
}

/// The rates over the span (pure).
pub fn summarise(
    device_id: Option<i64>,
    run_id: Option<i64>,
    from_us: i64,
    to_us: i64,
    boots: Vec<BootEntry>,
    crashes: usize,
) -> Timeline {
    let span_hours = ((to_us - from_us).max(0)) as f64 / US_PER_HOUR;
    let reboots = boots.iter().filter(|b| b.reboot).count();
    let failures = boots.iter().filter(|b| b.failure).count();
    let per_day = |n: usize| (span_hours > 0.0).then(|| n as f64 / (span_hours / 24.0));
    let uptimes: Vec<f64> = boots.iter().filter_map(|b| b.uptime_before_s).collect();
    Timeline {
        device_id,
        run_id,
        from_us,
        to_us,
        reboots,
        crashes,
        failures,
        span_hours,
        reboots_per_day: per_day(reboots),
        crashes_per_day: per_day(crashes),
        mtbf_hours: (failures > 0).then(|| span_hours / failures as f64),
        mean_uptime_s: (!uptimes.is_empty())
            .then(|| uptimes.iter().sum::<f64>() / uptimes.len() as f64),
        boots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(ts_h: f64, reboot: bool, failure: bool, up: Option<f64>) -> BootEntry {
        BootEntry {
            run_id: 1,
            line_no: None,
            ts_us: (ts_h * US_PER_HOUR) as i64,
            reset_code: None,
            reset_reason: None,
            health_reset_reason: None,
            reboot,
            failure,
            crash: None,
            uptime_before_s: up,
        }
    }

    #[test]
    fn rates_over_the_span() {
        let boots = vec![
            boot(0.0, false, false, None),
            boot(12.0, true, true, Some(43_000.0)),
            boot(30.0, true, false, Some(64_000.0)),
        ];
        let t = summarise(Some(1), None, 0, (48.0 * US_PER_HOUR) as i64, boots, 1);
        assert_eq!(t.reboots, 2);
        assert_eq!(t.failures, 1);
        assert_eq!(t.reboots_per_day, Some(1.0));
        assert_eq!(t.crashes_per_day, Some(0.5));
        assert_eq!(t.mtbf_hours, Some(48.0));
        assert_eq!(t.mean_uptime_s, Some(53_500.0));
    }

    #[test]
    fn failure_reasons() {
        assert!(is_failure_reason("PANIC"));
        assert!(is_failure_reason("TG1WDT_SYS_RST"));
        assert!(is_failure_reason("RTCWDT_BROWN_OUT_RST") || is_failure_reason("BROWNOUT"));
        assert!(!is_failure_reason("SW"));
        assert!(!is_failure_reason("RTC_SW_CPU_RST"));
        assert!(!is_failure_reason("POWERON"));
    }

    #[test]
    fn backtrace_pairs_from_json() {
        let data = serde_json::json!({"backtrace": [[1077387698u32, 1070514992u32], [4, 5]]});
        assert_eq!(
            backtrace_of(&data),
            vec![(1_077_387_698, 1_070_514_992), (4, 5)]
        );
        assert!(backtrace_of(&Value::Null).is_empty());
    }
}
