//! Durations as people write them: `500ms`, `2s`, `1.5s`, `5m`, `1h`,
//! `1h30m`, `2d`. One parser for every CLI flag and configuration value
//! that is a span of time, so `--hb-interval 2s`, `--timeout 90s` and
//! `dedup_window_s = "10m"` all read the same way. A bare number keeps the
//! unit the option always had (milliseconds for `--hb-interval`, seconds
//! for `*_s` keys), so existing command lines and files mean what they did.

use std::time::Duration;

/// The unit of a bare number (no suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareUnit {
    Millis,
    Seconds,
}

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration: write it like 500ms, 2s, 1.5s, 5m, 1h or 1h30m")]
    Malformed(String),
    #[error("{text:?} has an unknown unit {unit:?}: use ms, s, m (or min), h or d")]
    Unit { text: String, unit: String },
    #[error("{0:?} is too long a duration")]
    Overflow(String),
}

/// Milliseconds in one of a suffix's units.
fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1_000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" | "hrs" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return None,
    })
}

/// Parses `text` (see the module doc); a bare number is in `bare`.
pub fn parse(text: &str, bare: BareUnit) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed(text.to_owned());
    let s = text.trim();
    if s.is_empty() {
        return Err(malformed());
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    if s.chars().all(is_number) {
        let v: f64 = s.parse().map_err(|_| malformed())?;
        let ms = match bare {
            BareUnit::Millis => v,
            BareUnit::Seconds => v * 1_000.0,
        };
        return from_ms(ms, text);
    }
    // One or more `<number><unit>` parts: `1h30m`, `2s`, `1.5h`.
    let mut total_ms = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !is_number(c)).unwrap_or(rest.len());
        if digits == 0 {
            return Err(malformed());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| malformed())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        if unit.is_empty() {
            return Err(malformed());
        }
        let per = unit_ms(&unit).ok_or_else(|| DurationError::Unit {
            text: text.to_owned(),
            unit: unit.clone(),
        })?;
        total_ms += value * per;
        rest = rest[unit_len..].trim_start();
    }
    from_ms(total_ms, text)
}

fn from_ms(ms: f64, text: &str) -> Result<Duration, DurationError> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(DurationError::Malformed(text.to_owned()));
    }
    // A hundred years is far past any interval heaplab waits on.
    if ms > 100.0 * 365.0 * 86_400_000.0 {
        return Err(DurationError::Overflow(text.to_owned()));
    }
    Ok(Duration::from_micros((ms * 1_000.0).round() as u64))
}

/// A flag that is a span of time, bare numbers in seconds (`--every 3m`).
pub fn duration_arg(text: &str) -> Result<Duration, DurationError> {
    parse(text, BareUnit::Seconds)
}

/// A flag whose bare number is milliseconds, as whole milliseconds
/// (`--hb-interval 2s` is 2000).
pub fn millis_arg(text: &str) -> Result<u64, DurationError> {
    Ok(parse(text, BareUnit::Millis)?.as_millis() as u64)
}

/// A flag whose bare number is seconds, as whole seconds (`--seconds 1m`
/// is 60); below a second is refused rather than rounded to zero.
pub fn secs_arg(text: &str) -> Result<u64, DurationError> {
    let d = parse(text, BareUnit::Seconds)?;
    if d.subsec_micros() != 0 {
        return Err(DurationError::Malformed(format!(
            "{text} (whole seconds only here)"
        )));
    }
    Ok(d.as_secs())
}

/// A flag whose bare number is seconds, as fractional seconds
/// (`--timeout 500ms` is 0.5).
pub fn secs_f64_arg(text: &str) -> Result<f64, DurationError> {
    Ok(parse(text, BareUnit::Seconds)?.as_secs_f64())
}

/// `serde(deserialize_with)` for a `*_s` key: a number of seconds, or a
/// string with its unit (`"10m"`).
pub fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_with(d, BareUnit::Seconds).and_then(|dur| {
        if dur.subsec_micros() != 0 {
            Err(serde::de::Error::custom(format!(
                "{} ms is not a whole number of seconds",
                dur.as_millis()
            )))
        } else {
            Ok(dur.as_secs())
        }
    })
}

/// `serde(deserialize_with)` for an optional `*_s` key.
pub fn de_opt_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_secs(d).map(Some)
}

/// `serde(deserialize_with)` for a `*_ms` key: a number of milliseconds,
/// or a string with its unit (`"2s"`).
pub fn de_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_with(d, BareUnit::Millis).map(|dur| dur.as_millis() as u64)
}

/// `serde(deserialize_with)` for a `*_days` key: a number of days, or a
/// string with its unit (`"36h"`), as fractional days.
pub fn de_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    match NumberOrText::deserialize(d)? {
        NumberOrText::Int(v) => Ok(v as f64),
        NumberOrText::Float(v) => Ok(v),
        NumberOrText::Text(t) => parse(&t, BareUnit::Seconds)
            .map(|dur| dur.as_secs_f64() / 86_400.0)
            .map_err(serde::de::Error::custom),
    }
}

/// `serde(deserialize_with)` for an optional seconds value that may be
/// fractional (`"timeout_s": 2.5` or `"timeout_s": "500ms"`).
pub fn de_opt_secs_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    use serde::Deserialize;
    let text = match Option::<NumberOrText>::deserialize(d)? {
        None => return Ok(None),
        Some(NumberOrText::Int(v)) => v.to_string(),
        Some(NumberOrText::Float(v)) => v.to_string(),
        Some(NumberOrText::Text(t)) => t,
    };
    parse(&text, BareUnit::Seconds)
        .map(|dur| Some(dur.as_secs_f64()))
        .map_err(serde::de::Error::custom)
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Int(u64),
    Float(f64),
    Text(String),
}

fn de_with<'de, D: serde::Deserializer<'de>>(d: D, bare: BareUnit) -> Result<Duration, D::Error> {
    use serde::Deserialize;
    let text = match NumberOrText::deserialize(d)? {
        NumberOrText::Int(v) => v.to_string(),
        NumberOrText::Float(v) => v.to_string(),
        NumberOrText::Text(t) => t,
    };
    parse(&text, bare).map_err(serde::de::Error::custom)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn ms(text: &str, bare: BareUnit) -> u128 {
        parse(text, bare).unwrap().as_millis()
    }

    #[test]
    fn units_and_bare_numbers() {
        assert_eq!(ms("500ms", BareUnit::Seconds), 500);
        assert_eq!(ms("2s", BareUnit::Millis), 2_000);
        assert_eq!(ms("1.5s", BareUnit::Millis), 1_500);
        assert_eq!(ms("5m", BareUnit::Millis), 300_000);
        assert_eq!(ms("5 min", BareUnit::Millis), 300_000);
        assert_eq!(ms("1h", BareUnit::Millis), 3_600_000);
        assert_eq!(ms("1h30m", BareUnit::Millis), 5_400_000);
        assert_eq!(ms("2d", BareUnit::Millis), 172_800_000);
        assert_eq!(ms("2S", BareUnit::Millis), 2_000, "case does not matter");
        assert_eq!(ms("300", BareUnit::Millis), 300);
        assert_eq!(ms("300", BareUnit::Seconds), 300_000);
        assert_eq!(ms(" 0 ", BareUnit::Seconds), 0);
    }

    #[test]
    fn bad_text_says_what_is_accepted() {
        for bad in ["", "s", "2 parsecs", "-1s", "1..2s", "h1", "2s5"] {
            let e = parse(bad, BareUnit::Millis).unwrap_err().to_string();
            assert!(e.contains("ms") || e.contains("unit"), "{bad:?}: {e}");
        }
        assert!(matches!(
            parse("2 fortnights", BareUnit::Seconds),
            Err(DurationError::Unit { .. })
        ));
        assert!(matches!(
            parse("999999999d", BareUnit::Seconds),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn flag_wrappers_keep_each_flags_bare_unit() {
        assert_eq!(millis_arg("2s").unwrap(), 2_000);
        assert_eq!(millis_arg("300").unwrap(), 300);
        assert_eq!(secs_arg("1m").unwrap(), 60);
        assert_eq!(secs_arg("20").unwrap(), 20);
        assert!(secs_arg("1500ms").is_err(), "not rounded to a whole second");
        assert_eq!(secs_f64_arg("500ms").unwrap(), 0.5);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Keys {
        #[serde(deserialize_with = "de_secs")]
        window_s: u64,
        #[serde(deserialize_with = "de_millis")]
        backoff_ms: u64,
        #[serde(deserialize_with = "de_days")]
        keep_days: f64,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct Options {
        #[serde(deserialize_with = "de_opt_secs_f64")]
        timeout_s: Option<f64>,
    }

    #[test]
    fn optional_fractional_seconds_from_json() {
        let o: Options = serde_json::from_str(r#"{"timeout_s": "500ms"}"#).unwrap();
        assert_eq!(o.timeout_s, Some(0.5));
        let o: Options = serde_json::from_str(r#"{"timeout_s": 2.5}"#).unwrap();
        assert_eq!(o.timeout_s, Some(2.5));
        let o: Options = serde_json::from_str(r#"{"timeout_s": null}"#).unwrap();
        assert_eq!(o.timeout_s, None);
        let o: Options = serde_json::from_str("{}").unwrap();
        assert_eq!(o.timeout_s, None);
        assert!(serde_json::from_str::<Options>(r#"{"timeout_s": "later"}"#).is_err());
    }

    #[test]
    fn config_keys_take_numbers_in_their_unit_or_text_with_one() {
        let k: Keys = toml::from_str("window_s = 60\nbackoff_ms = 250\nkeep_days = 1.5\n").unwrap();
        assert_eq!((k.window_s, k.backoff_ms, k.keep_days), (60, 250, 1.5));
        let k: Keys =
            toml::from_str("window_s = \"10m\"\nbackoff_ms = \"2s\"\nkeep_days = \"36h\"\n")
                .unwrap();
        assert_eq!((k.window_s, k.backoff_ms, k.keep_days), (600, 2_000, 1.5));
        let e = toml::from_str::<Keys>("window_s = \"soon\"\nbackoff_ms = 1\nkeep_days = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn a_plain_duration_flag_reads_bare_numbers_as_seconds() {
        assert_eq!(duration_arg("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration_arg("3m"), Ok(Duration::from_secs(180)));
        assert!(duration_arg("2 parsecs").is_err());
    }
}
