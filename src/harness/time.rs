//! Timestamps as the harness wrote them: Unix seconds as a float, or an ISO
//! 8601 string. Stored as UTC microseconds.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Reads a harness timestamp; `None` when it is neither form.
pub fn parse_ts(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            secs.is_finite().then(|| (secs * 1e6).round() as i64)
        }
        Value::String(s) => parse_ts_str(s),
        _ => None,
    }
}

fn parse_ts_str(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    // Python's naive isoformat(); taken as UTC.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t).timestamp_micros());
        }
    }
    s.parse::<f64>()
        .ok()
        .map(|secs| (secs * 1e6).round() as i64)
}

/// The float-seconds form the harness writes in its JSONL rows.
pub fn format_ts(us: i64) -> Value {
    serde_json::Number::from_f64(us as f64 / 1e6)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// `20260109_111535_s1` → its start time and scenario.
pub fn ts_from_folder_name(name: &str) -> Option<(i64, Option<String>)> {
    let stamp = name.get(..15)?;
    let t = NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").ok()?;
    let scenario = name.get(16..).filter(|s| !s.is_empty()).map(str::to_owned);
    Some((Utc.from_utc_datetime(&t).timestamp_micros(), scenario))
}

/// An RFC 3339 string for people and `summary.json`.
pub fn iso(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
