//! The axes' arithmetic: what an x value means, where its ticks fall and how
//! it is labelled, and how a raw y value maps onto the y axis. Kept apart
//! from drawing so tick choice can be tested without rendering an SVG.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::spec::XAxis;
use super::text::elapsed;

/// What the x coordinate of a chart means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XKind {
    /// UTC microseconds (run charts).
    TimeUs,
    /// Microseconds since the run's first snapshot (since-boot comparisons).
    SinceStartUs,
    /// Snapshot index within the run (tag-order comparisons).
    Index,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum YUnit {
    Kb,
    Percent,
}

impl YUnit {
    pub(super) fn axis(self, raw: i64) -> f64 {
        match self {
            YUnit::Kb => raw as f64 / 1024.0,
            YUnit::Percent => raw as f64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct XScale {
    pub(super) min: i64,
    pub(super) max: i64,
    pub(super) kind: XKind,
    /// When set, labels read `mm:ss` since this x.
    pub(super) origin: Option<i64>,
    /// No ticks at all (an empty chart with no meaningful x).
    pub(super) bare: bool,
}

impl XScale {
    pub(super) fn empty() -> XScale {
        XScale {
            min: 0,
            max: 1,
            kind: XKind::Index,
            origin: None,
            bare: true,
        }
    }

    /// A UTC window, labelled as time of day or as `mm:ss` since its start.
    pub(super) fn time_window(lo: i64, hi: i64) -> XScale {
        let (min, max) = if hi > lo {
            (lo, hi)
        } else {
            // A single instant: show a minute around it.
            (lo.saturating_sub(30_000_000), lo.saturating_add(30_000_000))
        };
        let origin = match XAxis::for_span(max.saturating_sub(min)) {
            XAxis::Time => None,
            XAxis::SinceStart => Some(min),
        };
        XScale {
            min,
            max,
            kind: XKind::TimeUs,
            origin,
            bare: false,
        }
    }

    pub(super) fn desc(&self) -> &'static str {
        match (self.kind, self.origin) {
            _ if self.bare => "",
            (XKind::TimeUs, None) => "time of day (UTC)",
            (XKind::TimeUs, Some(_)) => "time since start (mm:ss)",
            (XKind::SinceStartUs, _) => "time since first snapshot (mm:ss)",
            (XKind::Index, _) => "snapshot index",
        }
    }

    pub(super) fn label(&self, x: i64) -> String {
        if let Some(origin) = self.origin {
            return elapsed(x - origin);
        }
        match self.kind {
            XKind::TimeUs => {
                let Some(t) = DateTime::<Utc>::from_timestamp_micros(x) else {
                    return String::new();
                };
                if self.max - self.min > 86_400_000_000 {
                    t.format("%m-%d %H:%M").to_string()
                } else {
                    t.format("%H:%M:%S").to_string()
                }
            }
            XKind::SinceStartUs => elapsed(x),
            XKind::Index => x.to_string(),
        }
    }

    pub(super) fn ticks(&self, plot_width: u32) -> Vec<i64> {
        if self.bare || self.max <= self.min {
            return Vec::new();
        }
        let max_ticks = i64::from((plot_width / 110).max(2));
        let span = self.max - self.min;
        let step = match self.kind {
            XKind::Index => nice_step(span, max_ticks),
            XKind::TimeUs | XKind::SinceStartUs => time_step(span, max_ticks),
        };
        // Ticks fall on whole steps of the labelled clock.
        let base = self.origin.unwrap_or(0);
        let mut t = base + (self.min - base).div_euclid(step) * step;
        if t < self.min {
            t += step;
        }
        let mut out = Vec::new();
        while t <= self.max && out.len() < 64 {
            out.push(t);
            t += step;
        }
        out
    }
}

/// A 1-2-5 step giving at most `max_ticks` ticks over `span`.
fn nice_step(span: i64, max_ticks: i64) -> i64 {
    let raw = (span / max_ticks.max(1)).max(1);
    let mut mag = 1i64;
    while mag.saturating_mul(10) <= raw {
        mag *= 10;
    }
    for m in [1, 2, 5, 10] {
        let step = mag.saturating_mul(m);
        if step >= raw {
            return step;
        }
    }
    mag.saturating_mul(10)
}

/// A clock-friendly step (1 s … 1 day, then whole days).
fn time_step(span_us: i64, max_ticks: i64) -> i64 {
    const S: i64 = 1_000_000;
    const STEPS: [i64; 18] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    let raw = span_us / max_ticks.max(1);
    for s in STEPS {
        if s * S >= raw {
            return s * S;
        }
    }
    let day = 86_400 * S;
    (raw + day - 1) / day * day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        assert_eq!(nice_step(1000, 5), 200);
        assert_eq!(time_step(600_000_000, 8), 120_000_000);
    }
}
