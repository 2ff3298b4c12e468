//! The chart model: everything a chart shows (series, thresholds, lifecycle
//! tags, event markers, a message), decided before any pixel is drawn, so
//! the run and comparison charts differ only in how they fill it in.

use plotters::style::RGBColor;

use super::downsample::Point;
use super::scale::{XScale, YUnit};
use super::spec::Metric;
use crate::store::{EventKind, SnapshotRow};

pub(super) const FONT: &str = "sans-serif";
pub(super) const MARGIN: u32 = 10;
pub(super) const LEFT_AREA: u32 = 64;
const RIGHT_AREA_SECONDARY: u32 = 52;
const RIGHT_AREA_PLAIN: u32 = 14;
pub(super) const BOTTOM_AREA: u32 = 40;

const FLOOR_COLOR: RGBColor = RGBColor(0xB0, 0x00, 0x20);
pub(super) const TRIP_LINE_COLOR: RGBColor = RGBColor(0x7A, 0x01, 0x77);
pub(super) const TAG_COLOR: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(super) const GROUP_A: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub(super) const GROUP_B: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// How a series' point x maps back to a row's host time.
#[derive(Debug, Clone, Copy)]
pub(super) enum XOf {
    Ts,
    Other,
}

pub(super) struct Series<'a> {
    pub(super) label: String,
    pub(super) legend: Option<String>,
    pub(super) metric: Metric,
    pub(super) color: RGBColor,
    pub(super) stroke: u32,
    pub(super) opacity: f64,
    pub(super) secondary: bool,
    pub(super) points: Vec<Point>,
    pub(super) rows: &'a [SnapshotRow],
    pub(super) x_of: XOf,
}

pub(super) struct Mark {
    pub(super) x: i64,
    pub(super) label: String,
}

pub(super) struct Threshold {
    pub(super) bytes: i64,
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) dash: (u32, u32),
}

/// The events a run chart marks, each with its own shape and colour: a
/// drawing vocabulary, made from the stored [`EventKind`] by [`Self::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkerKind {
    Tripwire,
    Crash,
    AllocFailed,
}

impl MarkerKind {
    /// The marker an event gets, if the chart marks it.
    pub(super) fn of(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Tripwire => Some(MarkerKind::Tripwire),
            EventKind::Crash => Some(MarkerKind::Crash),
            EventKind::AllocFailed => Some(MarkerKind::AllocFailed),
            _ => None,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            MarkerKind::Tripwire => "tripwire",
            MarkerKind::Crash => "crash",
            MarkerKind::AllocFailed => "alloc failed",
        }
    }

    pub(super) fn color(self) -> RGBColor {
        match self {
            MarkerKind::Tripwire => RGBColor(0xC0, 0x00, 0x00),
            MarkerKind::Crash => RGBColor(0x00, 0x00, 0x00),
            MarkerKind::AllocFailed => RGBColor(0x6A, 0x3D, 0x9A),
        }
    }
}

pub(super) struct EventMark {
    pub(super) x: i64,
    pub(super) kind: MarkerKind,
    pub(super) label: String,
}

pub(super) struct Plot<'a> {
    pub(super) title: String,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) x: XScale,
    pub(super) y_unit: YUnit,
    pub(super) secondary: bool,
    pub(super) series: Vec<Series<'a>>,
    pub(super) tags: Vec<Mark>,
    pub(super) tags_at_bottom: bool,
    pub(super) thresholds: Vec<Threshold>,
    pub(super) events: Vec<EventMark>,
    pub(super) message: Option<String>,
}

impl<'a> Plot<'a> {
    pub(super) fn new(title: String, width: u32, height: u32) -> Plot<'a> {
        Plot {
            title,
            width,
            height,
            x: XScale::empty(),
            y_unit: YUnit::Kb,
            secondary: false,
            series: Vec::new(),
            tags: Vec::new(),
            tags_at_bottom: false,
            thresholds: Vec::new(),
            events: Vec::new(),
            message: None,
        }
    }

    pub(super) fn right_area(&self) -> u32 {
        if self.secondary {
            RIGHT_AREA_SECONDARY
        } else {
            RIGHT_AREA_PLAIN
        }
    }

    /// The plot's width in pixels: the M4 column count.
    pub(super) fn columns(&self) -> u32 {
        self.width
            .saturating_sub(2 * MARGIN + LEFT_AREA + self.right_area())
            .max(1)
    }
}

impl Threshold {
    /// The dashed line at the acceptance floor (the configured `hin_min`).
    pub(super) fn floor(bytes: i64) -> Threshold {
        Threshold {
            bytes,
            label: format!("{} floor", crate::units::kb_round(bytes)),
            color: FLOOR_COLOR,
            dash: (8, 4),
        }
    }
}

pub(super) fn metric_style(m: Metric) -> (RGBColor, u32) {
    // Okabe–Ito hues (distinguishable with colour-vision deficiencies); the
    // metric this tool exists for, hin, is drawn thicker.
    match m {
        Metric::Hin => (RGBColor(0xD5, 0x5E, 0x00), 2),
        Metric::Hi => (RGBColor(0x00, 0x72, 0xB2), 1),
        Metric::Hl => (RGBColor(0x00, 0x9E, 0x73), 1),
        Metric::Pf => (RGBColor(0xCC, 0x79, 0xA7), 1),
        Metric::Frag => (RGBColor(0xE6, 0x9F, 0x00), 1),
        Metric::Hf => (RGBColor(0x56, 0xB4, 0xE9), 1),
        Metric::Hm => (RGBColor(0x33, 0x33, 0x33), 1),
        Metric::Pm => (RGBColor(0x88, 0x44, 0x99), 1),
        Metric::Pl => (RGBColor(0x99, 0x99, 0x99), 1),
    }
}

pub(super) fn clamp_dim(v: u32, (lo, hi): (u32, u32)) -> u32 {
    v.clamp(lo, hi)
}
