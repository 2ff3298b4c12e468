//! Metric cells in the plan's own notation, computed from runs:
//! `20912`, `20772–20912 (avg 20884)`, `not fired`,
//! `fired 5/5 @ `http_root` (threshold 30720B, `hin` 21532–21672B)`.

use crate::analysis::Derived;

/// `v` for one run, `min–max (avg N)` for several (avg rounded).
pub fn range_cell(values: &[i64]) -> String {
    match values {
        [] => String::new(),
        [one] => one.to_string(),
        many => {
            let min = many.iter().min().copied().unwrap_or_default();
            let max = many.iter().max().copied().unwrap_or_default();
            let avg = (many.iter().sum::<i64>() as f64 / many.len() as f64).round() as i64;
            if min == max {
                format!("{min} (avg {avg})")
            } else {
                format!("{min}–{max} (avg {avg})")
            }
        }
    }
}

/// The tripwire column for a set of runs.
pub fn tripwire_cell(runs: &[&Derived]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let fired: Vec<&&Derived> = runs.iter().filter(|d| d.tripwire.fired).collect();
    if fired.is_empty() {
        return "not fired".into();
    }
    // The tag where it fired most often (first seen on ties).
    let mut tags: Vec<(&str, usize)> = Vec::new();
    for d in &fired {
        let tag = d.tripwire.tag.as_deref().unwrap_or("?");
        match tags.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, n)) => *n += 1,
            None => tags.push((tag, 1)),
        }
    }
    let tag = tags
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(std::cmp::Ordering::Greater))
        .map_or("?", |t| t.0);
    let threshold = fired.iter().find_map(|d| d.tripwire.threshold);
    let hins: Vec<i64> = fired.iter().filter_map(|d| d.tripwire.hin).collect();
    let hin = match (hins.iter().min(), hins.iter().max()) {
        (Some(a), Some(b)) if a == b => format!("{a}B"),
        (Some(a), Some(b)) => format!("{a}–{b}B"),
        _ => "?".into(),
    };
    let count = if runs.len() == 1 {
        String::new()
    } else {
        format!(" {}/{}", fired.len(), runs.len())
    };
    let threshold = threshold.map_or_else(|| "?".into(), |t| format!("{t}B"));
    format!("fired{count} @ `{tag}` (threshold {threshold}, `hin` {hin})")
}

/// The computed metric cells of a log row.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricCells {
    pub hin_min: String,
    pub frag_max: String,
    pub psram_free_min: String,
    pub tripwire: String,
    /// The value deltas are measured on: the single value or the average.
    pub hin_min_value: Option<i64>,
    pub frag_max_value: Option<i64>,
    pub psram_free_min_value: Option<i64>,
}

pub fn metric_cells(runs: &[&Derived]) -> MetricCells {
    let hins: Vec<i64> = runs.iter().filter_map(|d| d.hin_min).collect();
    let frags: Vec<i64> = runs.iter().filter_map(|d| d.frag_max).collect();
    let pf = runs.iter().filter_map(|d| d.pf_min).min();
    let avg = |v: &[i64]| {
        (!v.is_empty()).then(|| (v.iter().sum::<i64>() as f64 / v.len() as f64).round() as i64)
    };
    MetricCells {
        hin_min: range_cell(&hins),
        frag_max: range_cell(&frags),
        psram_free_min: pf.map(|v| v.to_string()).unwrap_or_default(),
        tripwire: tripwire_cell(runs),
        hin_min_value: avg(&hins),
        frag_max_value: avg(&frags),
        psram_free_min_value: pf,
    }
}

/// Reads the leading number of a hand-entered cell (`42916`,
/// `20772–20912 (avg 20884)` → the avg), for deltas against history rows.
pub fn cell_value(cell: &str) -> Option<i64> {
    if let Some(at) = cell.find("(avg ") {
        let digits: String = cell[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return digits.parse().ok();
    }
    let digits: String = cell
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::TripwireSummary;

    fn run(hin: i64, frag: i64, pf: i64, trip: Option<(&str, i64)>) -> Derived {
        Derived {
            hin_min: Some(hin),
            frag_max: Some(frag),
            pf_min: Some(pf),
            tripwire: match trip {
                Some((tag, h)) => TripwireSummary {
                    fired: true,
                    tag: Some(tag.into()),
                    hin: Some(h),
                    threshold: Some(30720),
                    worst_stacks: vec![],
                },
                None => TripwireSummary::default(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_plans_own_rows() {
        // S2 ×5 from the plan: hin 20772–20912 (avg 20884), tripwire 5/5.
        let runs = [
            run(20912, 37, 8266852, Some(("http_root", 21532))),
            run(20912, 42, 8266852, Some(("http_root", 21672))),
            run(20912, 42, 8266852, Some(("http_root", 21600))),
            run(20912, 42, 8266852, Some(("http_root", 21560))),
            run(20772, 42, 8266852, Some(("http_root", 21640))),
        ];
        let refs: Vec<&Derived> = runs.iter().collect();
        let c = metric_cells(&refs);
        assert_eq!(c.hin_min, "20772–20912 (avg 20884)");
        assert_eq!(c.frag_max, "37–42 (avg 41)");
        assert_eq!(c.psram_free_min, "8266852");
        assert_eq!(
            c.tripwire,
            "fired 5/5 @ `http_root` (threshold 30720B, `hin` 21532–21672B)"
        );
        let one = run(16060, 67, 8179772, Some(("lvgl_switch_pre_macro1", 16060)));
        assert_eq!(
            metric_cells(&[&one]).tripwire,
            "fired @ `lvgl_switch_pre_macro1` (threshold 30720B, `hin` 16060B)"
        );
        assert_eq!(metric_cells(&[&one]).hin_min, "16060");
        let clean = run(31668, 42, 8158544, None);
        assert_eq!(metric_cells(&[&clean]).tripwire, "not fired");
        assert_eq!(cell_value("20772–20912 (avg 20884)"), Some(20884));
        assert_eq!(cell_value("42916"), Some(42916));
        assert_eq!(cell_value("(see artifacts)"), None);
    }
}
