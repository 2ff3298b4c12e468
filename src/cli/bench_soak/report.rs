//! The soak benchmark's table: one row per figure with the big and small
//! value, big ÷ small, the target and PASS/MISS. Printed as a
//! Markdown table so it can go into the README as it is.

use serde::Serialize;

use super::timing::Measurement;

/// The ceiling on big ÷ small time: a run ten times longer may be
/// at most half again as slow to look at.
pub const MAX_RATIO: f64 = 1.5;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub big: String,
    pub small: String,
    /// Big ÷ small (time, or bytes on a size row).
    pub ratio: Option<f64>,
    pub target: String,
    pub result: String,
    /// Every target of the row met; `None` when it has none.
    pub pass: Option<bool>,
}

/// A target and whether it was met.
struct Check {
    text: String,
    pass: bool,
}

fn row(figure: &str, big: String, small: String, ratio: Option<f64>, checks: &[Check]) -> Row {
    let word = |pass: bool| if pass { "PASS" } else { "MISS" };
    Row {
        figure: figure.to_owned(),
        big,
        small,
        ratio,
        target: checks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        result: checks
            .iter()
            .map(|c| word(c.pass))
            .collect::<Vec<_>>()
            .join("; "),
        pass: (!checks.is_empty()).then(|| checks.iter().all(|c| c.pass)),
    }
}

pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

pub fn mb_of_kb(kb: i64) -> String {
    format!("{:.0} MB", kb as f64 / 1024.0)
}

/// `600000` → `600 k`, for headers.
pub fn count(n: u64) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{} k", n / 1000)
    } else {
        n.to_string()
    }
}

/// A request's time row: its own ceiling (if any) and the ratio's.
pub fn time_row(figure: &str, big: &Measurement, small: &Measurement, max_ms: Option<f64>) -> Row {
    ms_row(figure, big.ms, small.ms, max_ms)
}

/// A row of milliseconds at both sizes (a median or a percentile), with
/// its ceiling (if any) and the ratio's.
pub fn ms_row(figure: &str, big_ms: f64, small_ms: f64, max_ms: Option<f64>) -> Row {
    let ratio = big_ms / small_ms;
    let mut checks = Vec::new();
    if let Some(max) = max_ms {
        checks.push(Check {
            text: format!("≤ {max:.0} ms"),
            pass: big_ms <= max,
        });
    }
    checks.push(Check {
        text: format!("ratio ≤ {MAX_RATIO}"),
        pass: ratio <= MAX_RATIO,
    });
    row(figure, ms(big_ms), ms(small_ms), Some(ratio), &checks)
}

/// A response-size row; the ratio is shown but has no target.
pub fn bytes_row(figure: &str, big: &Measurement, small: &Measurement, max_kb: Option<u64>) -> Row {
    let checks: Vec<Check> = max_kb
        .map(|max| Check {
            text: format!("≤ {max} KB"),
            pass: big.bytes <= max * 1024,
        })
        .into_iter()
        .collect();
    row(
        figure,
        size(big.bytes),
        size(small.bytes),
        Some(big.bytes as f64 / small.bytes.max(1) as f64),
        &checks,
    )
}

/// A row measured at one size, or one that is not a ratio.
pub fn value_row(figure: &str, big: String, small: String, target: Option<(String, bool)>) -> Row {
    let checks: Vec<Check> = target
        .map(|(text, pass)| Check { text, pass })
        .into_iter()
        .collect();
    row(figure, big, small, None, &checks)
}

/// Prints the table.
pub fn print(rows: &[Row], big: u64, small: u64) {
    println!(
        "| figure | {} | {} | {} ÷ {} | target | result |",
        count(big),
        count(small),
        count(big),
        count(small)
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure,
            r.big,
            r.small,
            r.ratio.map_or_else(|| "—".into(), |x| format!("{x:.2}")),
            if r.target.is_empty() {
                "—"
            } else {
                &r.target
            },
            if r.result.is_empty() {
                "—"
            } else {
                &r.result
            },
        );
    }
}
