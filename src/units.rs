//! Numbers for people: every value carries its unit (B, KB, %, B/h),
//! missing values are a dash (never a misleading 0). Shared by the pages,
//! the alert texts and the soak views.

pub mod duration;

const DASH: &str = "–";

fn grouped(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `20,912 B`
pub fn bytes(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), |v| format!("{} B", grouped(v)))
}

/// `20.4 KB` (1 KB = 1024 B, as ESP-IDF reports).
pub fn kb(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), |v| format!("{:.1} KB", v as f64 / 1024.0))
}

/// `100 KB`, `1.5 KB`: a round threshold in KB, without a needless `.0`.
pub fn kb_round(v: i64) -> String {
    let k = v as f64 / 1024.0;
    if k.fract() == 0.0 {
        format!("{k:.0} KB")
    } else {
        format!("{k:.1} KB")
    }
}

/// `+1,024 B` / `-512 B` / `±0 B`
pub fn delta_bytes(v: Option<i64>) -> String {
    match v {
        None => DASH.into(),
        Some(0) => "±0 B".into(),
        Some(v) if v > 0 => format!("+{} B", grouped(v)),
        Some(v) => format!("{} B", grouped(v)),
    }
}

pub fn pct(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), |v| format!("{v} %"))
}

pub fn delta_pct(v: Option<i64>) -> String {
    match v {
        None => DASH.into(),
        Some(0) => "±0 %".into(),
        Some(v) => format!("{v:+} %"),
    }
}

pub fn num(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), grouped)
}

/// `20912`: no grouping, for terminal tables that align on the right and
/// for values a script may copy.
pub fn plain(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), |v| v.to_string())
}

/// `+1024` / `-512` / `+0`: a delta in a terminal table.
pub fn signed(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.into(), |v| format!("{v:+}"))
}

/// `20912 B`, `37 %`, or the bare number when the unit is empty (counts).
pub fn with_unit(v: Option<i64>, unit: &str) -> String {
    match (v, unit) {
        (None, _) => DASH.into(),
        (Some(v), "") => v.to_string(),
        (Some(v), u) => format!("{v} {u}"),
    }
}

/// `20884`, `20884.5` (one decimal only when there is a fraction), with the
/// unit when there is one: medians and means of a run group.
pub fn stat_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => DASH.into(),
        Some(v) => {
            let s = if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            };
            if unit.is_empty() {
                s
            } else {
                format!("{s} {unit}")
            }
        }
    }
}

/// `2026-01-09 11:15:35` (UTC, for terminal columns that say so once).
pub fn time_short(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| DASH.into())
}

/// `2026-01-09 11:15:35 UTC`
pub fn time(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| DASH.into())
}

pub fn opt_time(us: Option<i64>) -> String {
    us.map_or_else(|| DASH.into(), time)
}

/// `3 d 04 h`, `1 h 02 min`, `4 min 05 s`, `12 s`
pub fn duration_us(us: i64) -> String {
    let s = us.max(0) / 1_000_000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d} d {h:02} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {sec:02} s")
    } else {
        format!("{sec} s")
    }
}

/// How a change reads for a metric where more is better (free heap) or
/// worse (fragmentation): a word, not only a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Better,
    Worse,
    Same,
    Unknown,
}

impl Direction {
    pub fn of(delta: Option<i64>, more_is_better: bool) -> Self {
        match delta {
            None => Direction::Unknown,
            Some(0) => Direction::Same,
            Some(d) if (d > 0) == more_is_better => Direction::Better,
            Some(_) => Direction::Worse,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Direction::Better => "better",
            Direction::Worse => "worse",
            Direction::Same | Direction::Unknown => "same",
        }
    }

    /// Text shown beside the number.
    pub fn word(self) -> &'static str {
        match self {
            Direction::Better => "▲ better",
            Direction::Worse => "▼ worse",
            Direction::Same => "= same",
            Direction::Unknown => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_everywhere() {
        assert_eq!(bytes(Some(20912)), "20,912 B");
        assert_eq!(bytes(Some(-1234567)), "-1,234,567 B");
        assert_eq!(bytes(None), "–");
        assert_eq!(kb(Some(102_400)), "100.0 KB");
        assert_eq!(delta_bytes(Some(160_000)), "+160,000 B");
        assert_eq!(delta_bytes(Some(-90_000)), "-90,000 B");
        assert_eq!(pct(Some(41)), "41 %");
        assert_eq!(delta_pct(Some(-42)), "-42 %");
        assert_eq!(duration_us(3_723_000_000), "1 h 02 min");
        assert_eq!(Direction::of(Some(-3), false), Direction::Better);
        assert_eq!(Direction::of(Some(-3), true), Direction::Worse);
    }
}
