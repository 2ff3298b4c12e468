//! Drawing: turns snapshot and event rows into an SVG chart plus the small
//! hover table the browser needs to name the point under the mouse.
//!
//! The pipeline is always the same: pick the x window, M4-downsample every
//! series to the plot's pixel width, then hand at most ~4 points per pixel
//! per series to plotters' SVG backend. Annotations (tag markers, threshold
//! lines, event markers) are drawn in pixel space on top.
//!
//! Escaping: every string that reaches the SVG goes through plotters'
//! `SVGBackend`, which XML-escapes `<`, `>`, `&`, `"` and `'` in text and
//! attributes. So text is handed over raw (escaping here too would show
//! `&amp;lt;`), only stripped of control characters, which XML cannot carry
//! even escaped, and shortened. The sparkline writes no text at all.

use chrono::{DateTime, Utc};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::downsample::{m4, Point, M4};
use super::spec::{ChartRequest, Metric, XAxis};
use super::ChartError;
use crate::analysis::HEARTBEAT_TAG;
use crate::store::{EventRow, SnapshotRow};

/// The acceptance floor for the internal low-water mark: 100 KB.
pub const FLOOR_BYTES: i64 = 102_400;

const FONT: &str = "sans-serif";
const MARGIN: u32 = 10;
const LEFT_AREA: u32 = 64;
const RIGHT_AREA_SECONDARY: u32 = 52;
const RIGHT_AREA_PLAIN: u32 = 14;
const BOTTOM_AREA: u32 = 40;
/// Past this many lifecycle markers only the first of each distinct tag is
/// labelled.
const MAX_LABELLED_TAGS: usize = 40;
/// Minimum horizontal distance between two labelled tag markers.
const TAG_LABEL_GAP_PX: i32 = 13;
/// Rows of event labels, and the room kept between two labels in a row.
const EVENT_LABEL_ROWS: usize = 3;
const EVENT_LABEL_PAD_PX: i32 = 6;
const MAX_LABEL_CHARS: usize = 40;
const MAX_TITLE_CHARS: usize = 120;
/// Hover keeps one M4 column per this many pixels: ≤ ~1 point per pixel.
const HOVER_PX_PER_COLUMN: u32 = 4;

const FLOOR_COLOR: RGBColor = RGBColor(0xB0, 0x00, 0x20);
const TRIP_LINE_COLOR: RGBColor = RGBColor(0x7A, 0x01, 0x77);
const TAG_COLOR: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GROUP_A: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const GROUP_B: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// An SVG document and what the browser needs for hover.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedChart {
    pub svg: String,
    pub hover: HoverData,
}

/// The plot rectangle in SVG pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlotArea {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

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

/// Hover table: map the mouse x linearly from `plot.left..plot.right` to
/// `x_min..x_max`, then take the nearest point by `x`.
#[derive(Debug, Clone, Serialize)]
pub struct HoverData {
    pub plot: PlotArea,
    pub x_min: i64,
    pub x_max: i64,
    pub x_kind: XKind,
    pub series: Vec<HoverSeries>,
    /// Downsampled (M4 at one column per 4 px), so column minima survive.
    pub points: Vec<HoverPoint>,
}

/// One drawn line.
#[derive(Debug, Clone, Serialize)]
pub struct HoverSeries {
    pub label: String,
    pub metric: Metric,
    pub unit: &'static str,
    /// `#RRGGBB`.
    pub color: String,
}

/// One plotted point.
#[derive(Debug, Clone, Serialize)]
pub struct HoverPoint {
    /// The plotted x (see [`XKind`]).
    pub x: i64,
    /// The snapshot's host time, UTC microseconds.
    pub x_us: i64,
    /// The raw value (bytes or percent).
    pub y: i64,
    pub metric: Metric,
    /// Index into [`HoverData::series`].
    pub series: u16,
    pub tag: String,
    pub seq: i64,
}

/// How two runs are lined up in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareAlign {
    /// x = snapshot index within each run; run A's lifecycle tags along the
    /// bottom.
    TagOrder,
    /// x = time since each run's first snapshot.
    SinceBoot,
}

// ---------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------

/// One run: every requested metric over host time, with lifecycle tags,
/// thresholds and tripwire/crash/alloc-failure markers.
///
/// No snapshots, or none in the requested window, is not an error: the chart
/// says so.
pub fn run_chart(
    snapshots: &[SnapshotRow],
    events: &[EventRow],
    req: &ChartRequest,
    title: &str,
) -> Result<RenderedChart, ChartError> {
    let width = clamp_dim(req.width, ChartRequest::WIDTH_RANGE);
    let height = clamp_dim(req.height, ChartRequest::HEIGHT_RANGE);
    let metrics: Vec<Metric> = if req.metrics.is_empty() {
        ChartRequest::DEFAULT_METRICS.to_vec()
    } else {
        req.metrics.clone()
    };
    let has_bytes = metrics.iter().any(|m| !m.is_percent());
    let secondary = has_bytes && metrics.iter().any(|m| m.is_percent());
    let mut plot = Plot::new(clean(title, MAX_TITLE_CHARS), width, height);
    plot.y_unit = if has_bytes { YUnit::Kb } else { YUnit::Percent };
    plot.secondary = secondary;

    // Rows are ~250 bytes each, so a week of them is memory-bound: at most
    // two passes, one for the extent (skipped when both bounds are given)
    // and one that feeds every metric's M4 and collects the tags.
    let (lo, hi) = match (req.from_us, req.to_us) {
        (Some(from), Some(to)) => (from, to),
        (from, to) => {
            let extent = snapshots.iter().fold(None, |acc, s| match acc {
                None => Some((s.ts_us, s.ts_us)),
                Some((a, b)) => Some((s.ts_us.min(a), s.ts_us.max(b))),
            });
            let Some((first, last)) = extent else {
                plot.message = Some("no snapshots".to_owned());
                return draw(&plot);
            };
            (from.unwrap_or(first), to.unwrap_or(last))
        }
    };
    let outside = |plot: &mut Plot<'_>| {
        plot.message = Some(if snapshots.is_empty() {
            "no snapshots".to_owned()
        } else {
            format!(
                "no snapshots between {} and {}",
                utc(lo.min(hi)),
                utc(lo.max(hi))
            )
        });
        plot.x = XScale::time_window(lo.min(hi), lo.max(hi));
    };
    if lo > hi {
        outside(&mut plot);
        return draw(&plot);
    }
    plot.x = XScale::time_window(lo, hi);
    let x = plot.x;
    let columns = plot.columns();

    let mut accs: Vec<(Metric, M4)> = metrics
        .iter()
        .map(|&m| (m, M4::new(x.min, x.max, columns)))
        .collect();
    let mut in_window = 0usize;
    for (i, row) in snapshots.iter().enumerate() {
        let Ok(idx) = u32::try_from(i) else { break };
        if row.ts_us < x.min || row.ts_us > x.max {
            continue;
        }
        in_window += 1;
        for (metric, acc) in accs.iter_mut() {
            if let Some(y) = metric.value(&row.snapshot) {
                acc.push(Point {
                    x: row.ts_us,
                    y,
                    idx,
                });
            }
        }
        if row.snapshot.tag != HEARTBEAT_TAG {
            plot.tags.push(Mark {
                x: row.ts_us,
                label: clean(&row.snapshot.tag, MAX_LABEL_CHARS),
            });
        }
    }
    if in_window == 0 {
        plot.tags.clear();
        outside(&mut plot);
        return draw(&plot);
    }
    for (metric, acc) in accs {
        let (color, stroke) = metric_style(metric);
        let secondary_axis = secondary && metric.is_percent();
        plot.series.push(Series {
            label: metric.label().to_owned(),
            legend: Some(if secondary_axis {
                format!("{} [%, right axis]", metric.label())
            } else {
                format!("{} [{}]", metric.label(), metric.unit())
            }),
            metric,
            color,
            stroke,
            opacity: 1.0,
            secondary: secondary_axis,
            points: acc.finish(),
            rows: snapshots,
            x_of: XOf::Ts,
        });
    }

    if has_bytes
        && metrics
            .iter()
            .any(|m| matches!(m, Metric::Hin | Metric::Hi))
    {
        plot.thresholds.push(Threshold {
            bytes: FLOOR_BYTES,
            label: "100 KB floor".to_owned(),
            color: FLOOR_COLOR,
            dash: (8, 4),
        });
    }
    let internal = metrics.iter().any(|m| {
        matches!(
            m,
            Metric::Hf | Metric::Hm | Metric::Hl | Metric::Hi | Metric::Hin
        )
    });
    if has_bytes && internal {
        let threshold = events
            .iter()
            .find(|e| e.kind == "tripwire")
            .and_then(|e| e.data.get("threshold"))
            .and_then(serde_json::Value::as_i64);
        if let Some(bytes) = threshold {
            plot.thresholds.push(Threshold {
                bytes,
                label: format!("tripwire threshold {}", kb(bytes)),
                color: TRIP_LINE_COLOR,
                dash: (3, 3),
            });
        }
    }

    plot.events = events
        .iter()
        .filter(|e| e.ts_us >= x.min && e.ts_us <= x.max)
        .filter_map(|e| {
            let kind = match e.kind.as_str() {
                "tripwire" => EventKind::Tripwire,
                "crash" => EventKind::Crash,
                "alloc_failed" => EventKind::AllocFailed,
                _ => return None,
            };
            let detail = match kind {
                EventKind::Crash => e.data.get("kind").and_then(|k| k.as_str()),
                EventKind::Tripwire => e.data.get("tag").and_then(|k| k.as_str()),
                EventKind::AllocFailed => None,
            };
            let label = match detail {
                Some(d) if !d.is_empty() => format!("{} ({})", kind.label(), d),
                _ => kind.label().to_owned(),
            };
            Some(EventMark {
                x: e.ts_us,
                kind,
                label: clean(&label, MAX_LABEL_CHARS),
            })
        })
        .collect();

    draw(&plot)
}

/// Two runs, one metric, lined up by tag order or by time since boot.
pub fn compare_chart(
    a: &[SnapshotRow],
    b: &[SnapshotRow],
    metric: Metric,
    align: CompareAlign,
    labels: (&str, &str),
    width: u32,
    height: u32,
) -> Result<RenderedChart, ChartError> {
    compare_impl(&[a], &[b], metric, align, labels, width, height)
}

/// Two groups of runs, one metric: every member drawn as a thin line, group
/// A in one hue and group B in another, so the spread is visible and not
/// only a mean.
pub fn compare_groups_chart(
    a_runs: &[&[SnapshotRow]],
    b_runs: &[&[SnapshotRow]],
    metric: Metric,
    align: CompareAlign,
    labels: (&str, &str),
    width: u32,
    height: u32,
) -> Result<RenderedChart, ChartError> {
    compare_impl(a_runs, b_runs, metric, align, labels, width, height)
}

/// A tiny axis-free SVG line for overview tables. The minimum is marked
/// with a dot. Points need not be sorted.
pub fn sparkline(points: &[(i64, i64)], width: u32, height: u32) -> String {
    use std::fmt::Write as _;
    let w = width.clamp(8, 2000);
    let h = height.clamp(8, 2000);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sparkline\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" aria-hidden=\"true\">"
    );
    let mut pts: Vec<Point> = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| Point {
            x,
            y,
            idx: u32::try_from(i).unwrap_or(u32::MAX),
        })
        .collect();
    if !pts.windows(2).all(|p| p[0].x <= p[1].x) {
        pts.sort_by_key(|p| p.x);
    }
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        svg.push_str("</svg>");
        return svg;
    };
    let (x_min, x_max) = (first.x, last.x);
    let pts = m4(&pts, x_min, x_max, w);
    let y_min = pts.iter().map(|p| p.y).min().unwrap_or(0);
    let y_max = pts.iter().map(|p| p.y).max().unwrap_or(0);
    let pad = 2.0;
    let (fw, fh) = (f64::from(w) - 2.0 * pad, f64::from(h) - 2.0 * pad);
    let px = |x: i64| -> f64 {
        if x_max == x_min {
            pad + fw / 2.0
        } else {
            pad + (x - x_min) as f64 / (x_max - x_min) as f64 * fw
        }
    };
    let py = |y: i64| -> f64 {
        if y_max == y_min {
            pad + fh / 2.0
        } else {
            pad + (y_max - y) as f64 / (y_max - y_min) as f64 * fh
        }
    };
    if pts.len() > 1 {
        svg.push_str(
            "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.25\" \
             stroke-linejoin=\"round\" points=\"",
        );
        for (i, p) in pts.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(svg, "{sep}{:.1},{:.1}", px(p.x), py(p.y));
        }
        svg.push_str("\"/>");
    }
    if let Some(low) = pts.iter().min_by_key(|p| p.y) {
        let _ = write!(
            svg,
            "<circle class=\"sparkline-min\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.75\" fill=\"currentColor\"/>",
            px(low.x),
            py(low.y)
        );
    }
    svg.push_str("</svg>");
    svg
}

// ---------------------------------------------------------------------------
// The chart model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YUnit {
    Kb,
    Percent,
}

impl YUnit {
    fn axis(self, raw: i64) -> f64 {
        match self {
            YUnit::Kb => raw as f64 / 1024.0,
            YUnit::Percent => raw as f64,
        }
    }
}

/// How a series' point x maps back to a row's host time.
#[derive(Debug, Clone, Copy)]
enum XOf {
    Ts,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct XScale {
    min: i64,
    max: i64,
    kind: XKind,
    /// When set, labels read `mm:ss` since this x.
    origin: Option<i64>,
    /// No ticks at all (an empty chart with no meaningful x).
    bare: bool,
}

impl XScale {
    fn empty() -> XScale {
        XScale {
            min: 0,
            max: 1,
            kind: XKind::Index,
            origin: None,
            bare: true,
        }
    }

    /// A UTC window, labelled as time of day or as `mm:ss` since its start.
    fn time_window(lo: i64, hi: i64) -> XScale {
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

    fn desc(&self) -> &'static str {
        match (self.kind, self.origin) {
            _ if self.bare => "",
            (XKind::TimeUs, None) => "time of day (UTC)",
            (XKind::TimeUs, Some(_)) => "time since start (mm:ss)",
            (XKind::SinceStartUs, _) => "time since first snapshot (mm:ss)",
            (XKind::Index, _) => "snapshot index",
        }
    }

    fn label(&self, x: i64) -> String {
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

    fn ticks(&self, plot_width: u32) -> Vec<i64> {
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

struct Series<'a> {
    label: String,
    legend: Option<String>,
    metric: Metric,
    color: RGBColor,
    stroke: u32,
    opacity: f64,
    secondary: bool,
    points: Vec<Point>,
    rows: &'a [SnapshotRow],
    x_of: XOf,
}

struct Mark {
    x: i64,
    label: String,
}

struct Threshold {
    bytes: i64,
    label: String,
    color: RGBColor,
    dash: (u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Tripwire,
    Crash,
    AllocFailed,
}

impl EventKind {
    fn label(self) -> &'static str {
        match self {
            EventKind::Tripwire => "tripwire",
            EventKind::Crash => "crash",
            EventKind::AllocFailed => "alloc failed",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            EventKind::Tripwire => RGBColor(0xC0, 0x00, 0x00),
            EventKind::Crash => RGBColor(0x00, 0x00, 0x00),
            EventKind::AllocFailed => RGBColor(0x6A, 0x3D, 0x9A),
        }
    }
}

struct EventMark {
    x: i64,
    kind: EventKind,
    label: String,
}

struct Plot<'a> {
    title: String,
    width: u32,
    height: u32,
    x: XScale,
    y_unit: YUnit,
    secondary: bool,
    series: Vec<Series<'a>>,
    tags: Vec<Mark>,
    tags_at_bottom: bool,
    thresholds: Vec<Threshold>,
    events: Vec<EventMark>,
    message: Option<String>,
}

impl<'a> Plot<'a> {
    fn new(title: String, width: u32, height: u32) -> Plot<'a> {
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

    fn right_area(&self) -> u32 {
        if self.secondary {
            RIGHT_AREA_SECONDARY
        } else {
            RIGHT_AREA_PLAIN
        }
    }

    /// The plot's width in pixels: the M4 column count.
    fn columns(&self) -> u32 {
        self.width
            .saturating_sub(2 * MARGIN + LEFT_AREA + self.right_area())
            .max(1)
    }
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

fn compare_impl(
    a_runs: &[&[SnapshotRow]],
    b_runs: &[&[SnapshotRow]],
    metric: Metric,
    align: CompareAlign,
    labels: (&str, &str),
    width: u32,
    height: u32,
) -> Result<RenderedChart, ChartError> {
    let (label_a, label_b) = (
        clean(labels.0, MAX_LABEL_CHARS),
        clean(labels.1, MAX_LABEL_CHARS),
    );
    let mut plot = Plot::new(
        clean(
            &format!("{}: {} vs {}", metric.label(), label_a, label_b),
            MAX_TITLE_CHARS,
        ),
        clamp_dim(width, ChartRequest::WIDTH_RANGE),
        clamp_dim(height, ChartRequest::HEIGHT_RANGE),
    );
    plot.y_unit = if metric.is_percent() {
        YUnit::Percent
    } else {
        YUnit::Kb
    };
    let x_at = |run: &[SnapshotRow], i: usize| -> i64 {
        match align {
            CompareAlign::TagOrder => i as i64,
            CompareAlign::SinceBoot => run[i].ts_us - run[0].ts_us,
        }
    };
    let all = a_runs.iter().chain(b_runs).filter(|r| !r.is_empty());
    let mut x_min = 0;
    let mut x_max = i64::MIN;
    for run in all {
        for i in 0..run.len() {
            let x = x_at(run, i);
            x_min = x_min.min(x);
            x_max = x_max.max(x);
        }
    }
    if x_max == i64::MIN {
        plot.message = Some("no snapshots".to_owned());
        return draw(&plot);
    }
    let (kind, pad) = match align {
        CompareAlign::TagOrder => (XKind::Index, 1),
        CompareAlign::SinceBoot => (XKind::SinceStartUs, 1_000_000),
    };
    plot.x = XScale {
        min: x_min,
        max: if x_max > x_min { x_max } else { x_min + pad },
        kind,
        origin: (align == CompareAlign::SinceBoot).then_some(0),
        bare: false,
    };
    let columns = plot.columns();
    let x = plot.x;

    for (group, runs, color, label) in [
        (0, a_runs, GROUP_A, &label_a),
        (1, b_runs, GROUP_B, &label_b),
    ] {
        let members = runs.iter().filter(|r| !r.is_empty()).count();
        let single = runs.len() == 1;
        let mut first_legend = true;
        for (k, run) in runs.iter().enumerate() {
            let mut acc = M4::new(x.min, x.max, columns);
            for (i, row) in run.iter().enumerate() {
                let Ok(idx) = u32::try_from(i) else { break };
                if let Some(y) = metric.value(&row.snapshot) {
                    acc.push(Point {
                        x: x_at(run, i),
                        y,
                        idx,
                    });
                }
            }
            let legend = if run.is_empty() || !first_legend {
                None
            } else if single {
                Some(format!("{label} [{}]", metric.unit()))
            } else {
                Some(format!("{label} ({members} runs) [{}]", metric.unit()))
            };
            if legend.is_some() {
                first_legend = false;
            }
            plot.series.push(Series {
                label: if single {
                    label.clone()
                } else {
                    format!("{label} #{}", k + 1)
                },
                legend,
                metric,
                color,
                stroke: if single { 2 } else { 1 },
                opacity: if single { 1.0 } else { 0.55 },
                secondary: false,
                points: acc.finish(),
                rows: run,
                x_of: XOf::Other,
            });
        }
        let _ = group;
    }

    if matches!(metric, Metric::Hin | Metric::Hi) {
        plot.thresholds.push(Threshold {
            bytes: FLOOR_BYTES,
            label: "100 KB floor".to_owned(),
            color: FLOOR_COLOR,
            dash: (8, 4),
        });
    }
    if align == CompareAlign::TagOrder {
        if let Some(run) = a_runs.iter().find(|r| !r.is_empty()) {
            plot.tags = run
                .iter()
                .enumerate()
                .filter(|(_, s)| s.snapshot.tag != HEARTBEAT_TAG)
                .map(|(i, s)| Mark {
                    x: i as i64,
                    label: clean(&s.snapshot.tag, MAX_LABEL_CHARS),
                })
                .collect();
            plot.tags_at_bottom = true;
        }
    }
    draw(&plot)
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn draw(plot: &Plot<'_>) -> Result<RenderedChart, ChartError> {
    let x = plot.x;
    let y_unit = plot.y_unit;

    // Primary y range from what is drawn on it, including threshold lines.
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for s in plot.series.iter().filter(|s| !s.secondary) {
        for p in &s.points {
            lo = lo.min(p.y);
            hi = hi.max(p.y);
        }
    }
    if y_unit == YUnit::Kb {
        for t in &plot.thresholds {
            lo = lo.min(t.bytes);
            hi = hi.max(t.bytes);
        }
    }
    let (y_lo, y_hi) = if lo > hi {
        (0.0, if y_unit == YUnit::Kb { 1.0 } else { 100.0 })
    } else {
        let lo = y_unit.axis(lo.min(0));
        let hi = y_unit.axis(hi);
        // Headroom above the highest line for the tag labels.
        let top = if hi > lo {
            hi + (hi - lo) * 0.12
        } else {
            lo + 1.0
        };
        (lo, top)
    };
    let frag_hi = plot
        .series
        .iter()
        .filter(|s| s.secondary)
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .max()
        .map_or(100.0, |m| (m as f64).max(100.0));

    let mut svg = String::with_capacity(64 * 1024);
    let (plot_area, hover_series, hover_points) = {
        let root = SVGBackend::with_string(&mut svg, (plot.width, plot.height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;

        let ticks = x.ticks(plot.columns());
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .caption(&plot.title, (FONT, 17))
            .x_label_area_size(BOTTOM_AREA)
            .y_label_area_size(LEFT_AREA)
            .right_y_label_area_size(plot.right_area())
            .build_cartesian_2d((x.min..x.max).with_key_points(ticks), y_lo..y_hi)
            .map_err(draw_err)?
            .set_secondary_coord(x.min..x.max, 0f64..frag_hi);

        let x_fmt = |v: &i64| x.label(*v);
        let y_fmt = |v: &f64| match y_unit {
            YUnit::Kb if y_hi - y_lo < 10.0 => format!("{v:.1} KB"),
            YUnit::Kb => format!("{v:.0} KB"),
            YUnit::Percent => format!("{v:.0}%"),
        };
        let y_desc = match y_unit {
            YUnit::Kb => "bytes (KB)",
            YUnit::Percent => "fragmentation (%)",
        };
        chart
            .configure_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(x.desc())
            .y_desc(y_desc)
            .y_labels(if plot.message.is_some() { 0 } else { 6 })
            .bold_line_style(BLACK.mix(0.08))
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .draw()
            .map_err(draw_err)?;
        if plot.secondary {
            let pct = |v: &f64| format!("{v:.0}%");
            chart
                .configure_secondary_axes()
                .y_label_formatter(&pct)
                .y_desc("fragmentation (%)")
                .label_style((FONT, 11))
                .axis_desc_style((FONT, 12))
                .draw()
                .map_err(draw_err)?;
        }

        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let area = PlotArea {
            left: xr.start,
            top: yr.start,
            right: xr.end,
            bottom: yr.end,
        };

        if let Some(message) = &plot.message {
            let style = TextStyle::from((FONT, 16).into_font())
                .color(&RGBColor(0x44, 0x44, 0x44))
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(
                message.as_str(),
                ((area.left + area.right) / 2, (area.top + area.bottom) / 2),
                style,
            ))
            .map_err(draw_err)?;
        }

        // Thresholds under the data lines, labelled at the right end; a
        // label too close to the previous one goes below its line instead.
        let mut last_label_y = i32::MIN / 2;
        let mut thresholds: Vec<(i32, &Threshold)> = plot
            .thresholds
            .iter()
            .filter(|_| y_unit == YUnit::Kb)
            .map(|t| (chart.backend_coord(&(x.min, y_unit.axis(t.bytes))).1, t))
            .collect();
        thresholds.sort_by_key(|(py, _)| *py);
        for (py, t) in thresholds {
            root.draw(&DashedPathElement::new(
                vec![(area.left, py), (area.right, py)],
                t.dash.0,
                t.dash.1,
                t.color.stroke_width(1),
            ))
            .map_err(draw_err)?;
            let above = py - 2 - last_label_y >= 12;
            let (v, ly) = if above {
                (VPos::Bottom, py - 2)
            } else {
                (VPos::Top, py + 2)
            };
            let style = TextStyle::from((FONT, 11).into_font())
                .color(&t.color)
                .pos(Pos::new(HPos::Right, v));
            root.draw(&Text::new(t.label.as_str(), (area.right - 4, ly), style))
                .map_err(draw_err)?;
            last_label_y = if above { py } else { py + 14 };
        }

        draw_tags(&root, &chart, plot, area)?;

        // Data lines.
        let columns = i64::from(plot.columns());
        for s in &plot.series {
            if s.points.is_empty() {
                continue;
            }
            let style = s.color.mix(s.opacity).stroke_width(s.stroke);
            let sparse = (s.points.len() as i64) * 6 < columns;
            let anno = if s.secondary {
                let line = s.points.iter().map(|p| (p.x, p.y as f64));
                chart.draw_secondary_series(LineSeries::new(line, style))
            } else {
                let line = s.points.iter().map(|p| (p.x, y_unit.axis(p.y)));
                chart.draw_series(LineSeries::new(line, style))
            }
            .map_err(draw_err)?;
            if let Some(legend) = &s.legend {
                anno.label(legend.as_str())
                    .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 18, ly)], style));
            }
            if sparse {
                let dots = s.points.iter().map(|p| {
                    let y = if s.secondary {
                        p.y as f64
                    } else {
                        y_unit.axis(p.y)
                    };
                    Circle::new((p.x, y), 2, s.color.filled())
                });
                if s.secondary {
                    chart.draw_secondary_series(dots).map_err(draw_err)?;
                } else {
                    chart.draw_series(dots).map_err(draw_err)?;
                }
            }
        }

        draw_events(&root, &chart, plot, area)?;

        if plot
            .series
            .iter()
            .any(|s| s.legend.is_some() && !s.points.is_empty())
        {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 11))
                .draw()
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;

        let (series, points) = hover(plot, area);
        (area, series, points)
    };

    Ok(RenderedChart {
        svg,
        hover: HoverData {
            plot: plot_area,
            x_min: x.min,
            x_max: x.max,
            x_kind: x.kind,
            series: hover_series,
            points: hover_points,
        },
    })
}

type Root<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;
type Chart<'c, 'b> = ChartContext<
    'c,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::combinators::WithKeyPoints<plotters::coord::types::RangedCoordi64>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// Vertical lines at lifecycle snapshots, one per pixel, with labels thinned
/// so they never overlap: past [`MAX_LABELLED_TAGS`] markers only the first
/// of each distinct tag is a candidate, and a label needs
/// [`TAG_LABEL_GAP_PX`] of room from the previous one.
fn draw_tags(
    root: &Root<'_>,
    chart: &Chart<'_, '_>,
    plot: &Plot<'_>,
    area: PlotArea,
) -> Result<(), ChartError> {
    if plot.tags.is_empty() {
        return Ok(());
    }
    let distinct_only = plot.tags.len() > MAX_LABELLED_TAGS;
    let mut labelled: Vec<&str> = Vec::new();
    let mut last_line = None;
    let mut last_label = i32::MIN / 2;
    let line_style = TAG_COLOR.mix(0.35).stroke_width(1);
    let text_style = TextStyle::from((FONT, 10).into_font())
        .color(&TAG_COLOR)
        .transform(FontTransform::Rotate270);
    let (pos, y) = if plot.tags_at_bottom {
        (Pos::new(HPos::Left, VPos::Top), area.bottom - 4)
    } else {
        (Pos::new(HPos::Right, VPos::Top), area.top + 4)
    };
    let text_style = text_style.pos(pos);
    // Dense markers that get no label are drawn as short ticks at the label
    // edge, so hundreds of repeats do not grey out the plot.
    let tick = if plot.tags_at_bottom {
        (area.bottom - 6, area.bottom)
    } else {
        (area.top, area.top + 6)
    };
    for mark in &plot.tags {
        let px = chart.backend_coord(&(mark.x, 0.0)).0;
        let wanted = !distinct_only || !labelled.contains(&mark.label.as_str());
        let label = wanted && px - last_label >= TAG_LABEL_GAP_PX;
        let (y0, y1) = if label || !distinct_only {
            (area.top, area.bottom)
        } else {
            tick
        };
        if last_line != Some((px, y0, y1)) {
            root.draw(&PathElement::new(vec![(px, y0), (px, y1)], line_style))
                .map_err(draw_err)?;
            last_line = Some((px, y0, y1));
        }
        if label {
            root.draw(&Text::new(
                mark.label.as_str(),
                (px + 1, y),
                text_style.clone(),
            ))
            .map_err(draw_err)?;
            last_label = px;
            labelled.push(mark.label.as_str());
        }
    }
    Ok(())
}

/// Tripwire (triangle), crash (cross) and alloc-failure (square) markers
/// along the bottom of the plot, each with a text label: status is never
/// shown by colour alone.
fn draw_events(
    root: &Root<'_>,
    chart: &Chart<'_, '_>,
    plot: &Plot<'_>,
    area: PlotArea,
) -> Result<(), ChartError> {
    let base = area.bottom - 10;
    let mut last_px: [Option<i32>; 3] = [None; 3];
    // Labels go in up to three stacked rows; a label takes the first row
    // where it does not overlap the previous one, else it is left out (the
    // marker shape stays).
    let mut row_end = [i32::MIN / 2; EVENT_LABEL_ROWS];
    for e in &plot.events {
        let slot = e.kind as usize;
        let px = chart.backend_coord(&(e.x, 0.0)).0;
        let color = e.kind.color();
        if last_px[slot] != Some(px) {
            last_px[slot] = Some(px);
            if e.kind != EventKind::AllocFailed {
                root.draw(&DashedPathElement::new(
                    vec![(px, area.top), (px, area.bottom)],
                    4,
                    3,
                    color.mix(0.5).stroke_width(1),
                ))
                .map_err(draw_err)?;
            }
            match e.kind {
                EventKind::Tripwire => {
                    root.draw(&TriangleMarker::new((px, base), 6, color.filled()))
                }
                EventKind::Crash => root.draw(&Cross::new((px, base), 5, color.stroke_width(2))),
                EventKind::AllocFailed => root.draw(&Rectangle::new(
                    [(px - 4, base - 4), (px + 4, base + 4)],
                    color.filled(),
                )),
            }
            .map_err(draw_err)?;
        }
        // Right of the marker, or left of it where it would leave the plot.
        let w = estimate_text_px(&e.label, 11);
        let (start, anchor_x, h) = if px + 6 + w <= area.right {
            (px + 6, px + 6, HPos::Left)
        } else {
            (px - 6 - w, px - 6, HPos::Right)
        };
        if let Some(row) = row_end
            .iter()
            .position(|&r| start >= r + EVENT_LABEL_PAD_PX)
        {
            let style = TextStyle::from((FONT, 11).into_font())
                .color(&color)
                .pos(Pos::new(h, VPos::Center));
            let y = base - 10 - 13 * row as i32;
            root.draw(&Text::new(e.label.as_str(), (anchor_x, y), style))
                .map_err(draw_err)?;
            row_end[row] = start + w;
        }
    }
    Ok(())
}

fn hover(plot: &Plot<'_>, area: PlotArea) -> (Vec<HoverSeries>, Vec<HoverPoint>) {
    let width = u32::try_from(area.right - area.left).unwrap_or(1).max(1);
    let columns = (width / HOVER_PX_PER_COLUMN).max(1);
    let mut series = Vec::new();
    let mut points = Vec::new();
    for s in &plot.series {
        let Ok(sid) = u16::try_from(series.len()) else {
            break;
        };
        series.push(HoverSeries {
            label: s.label.clone(),
            metric: s.metric,
            unit: s.metric.unit(),
            color: format!("#{:02X}{:02X}{:02X}", s.color.0, s.color.1, s.color.2),
        });
        for p in m4(&s.points, plot.x.min, plot.x.max, columns) {
            let Some(row) = s.rows.get(p.idx as usize) else {
                continue;
            };
            points.push(HoverPoint {
                x: p.x,
                x_us: match s.x_of {
                    XOf::Ts => p.x,
                    XOf::Other => row.ts_us,
                },
                y: p.y,
                metric: s.metric,
                series: sid,
                tag: row.snapshot.tag.clone(),
                seq: row.seq,
            });
        }
    }
    (series, points)
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn metric_style(m: Metric) -> (RGBColor, u32) {
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

fn clamp_dim(v: u32, (lo, hi): (u32, u32)) -> u32 {
    v.clamp(lo, hi)
}

/// Device-supplied text made safe to hand to the SVG backend (which escapes
/// it): control characters, which XML 1.0 forbids even as references,
/// become spaces; long text is cut with an ellipsis. Not an escaper.
fn clean(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        out.push(if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
            ' '
        } else {
            c
        });
    }
    out
}

/// A generous width estimate for sans-serif text (no font metrics here).
fn estimate_text_px(text: &str, size_px: i32) -> i32 {
    let chars = i32::try_from(text.chars().count()).unwrap_or(i32::MAX / 16);
    chars.saturating_mul(size_px * 6 / 10)
}

fn kb(bytes: i64) -> String {
    if bytes % 1024 == 0 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

fn utc(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}

/// `mm:ss`, or `h:mm:ss` from an hour on.
fn elapsed(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let s = us.unsigned_abs() / 1_000_000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}:{m:02}:{s:02}")
    } else {
        format!("{sign}{m:02}:{s:02}")
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
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::protocol::MemSnapshot;
    use serde_json::json;

    const T0: i64 = 1_700_000_000_000_000;

    fn snap(seq: i64, ts_us: i64, tag: &str, hin: i64) -> SnapshotRow {
        SnapshotRow {
            seq,
            line_no: Some(seq),
            ts_us,
            elapsed_ms: Some((ts_us - T0) / 1000),
            boot: 0,
            snapshot: MemSnapshot {
                tag: tag.to_owned(),
                hf: Some(hin + 40_000),
                hm: Some(hin),
                hl: Some(60_000),
                hi: Some(hin + 30_000),
                hin: Some(hin),
                frag: Some(35),
                pf: Some(4_000_000),
                pm: Some(3_900_000),
                pl: Some(3_800_000),
                extras: Vec::new(),
            },
        }
    }

    /// `n` snapshots one second apart: lifecycle tags every 100th, a dip at
    /// 2/3 of the run.
    fn run(n: i64) -> Vec<SnapshotRow> {
        let tags = ["boot", "wifi up", "img decode start", "img decode end"];
        (0..n)
            .map(|i| {
                let tag = if i % 100 == 0 {
                    tags[(i / 100) as usize % tags.len()]
                } else {
                    "hb"
                };
                let hin = if i == n * 2 / 3 {
                    21_532
                } else {
                    150_000 - i % 7
                };
                snap(i, T0 + i * 1_000_000, tag, hin)
            })
            .collect()
    }

    fn event(seq: i64, ts_us: i64, kind: &str, data: serde_json::Value) -> EventRow {
        EventRow {
            seq,
            line_no: None,
            ts_us,
            boot: 0,
            kind: kind.to_owned(),
            message: String::new(),
            data,
        }
    }

    fn events() -> Vec<EventRow> {
        vec![
            event(
                1,
                T0 + 400_000_000,
                "tripwire",
                json!({"tag": "img decode start", "hin": 21532, "threshold": 30720}),
            ),
            event(2, T0 + 500_000_000, "alloc_failed", json!({"size": 4096})),
            event(
                3,
                T0 + 550_000_000,
                "crash",
                json!({"kind": "LoadProhibited"}),
            ),
            event(4, T0 + 10_000_000, "boot", json!({})),
        ]
    }

    fn req(metrics: &[Metric]) -> ChartRequest {
        ChartRequest {
            metrics: metrics.to_vec(),
            ..ChartRequest::default()
        }
    }

    /// A small well-formedness check: balanced elements under one root,
    /// quoted attributes, no raw `<` in values, every `&` an entity.
    fn well_formed(svg: &str) -> Result<usize, String> {
        fn entities_ok(s: &str) -> bool {
            let mut rest = s;
            while let Some(i) = rest.find('&') {
                let tail = &rest[i + 1..];
                let Some(end) = tail.find(';') else {
                    return false;
                };
                let name = &tail[..end];
                let ok = matches!(name, "lt" | "gt" | "amp" | "quot" | "apos")
                    || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit()));
                if !ok {
                    return false;
                }
                rest = &tail[end + 1..];
            }
            true
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut elements = 0;
        let mut roots = 0;
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            if !entities_ok(text) || text.contains('>') {
                return Err(format!("bad text {text:?}"));
            }
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            let after = &rest[open + 1..];
            // Find the tag's end outside quotes.
            let mut in_quote = false;
            let mut end = None;
            for (i, c) in after.char_indices() {
                match c {
                    '"' => in_quote = !in_quote,
                    '<' if in_quote => return Err("raw < in an attribute".into()),
                    '<' => return Err("raw < in a tag".into()),
                    '>' if !in_quote => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated tag")?;
            let body = &after[..end];
            rest = &after[end + 1..];
            if let Some(name) = body.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => continue,
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            }
            let self_closing = body.ends_with('/');
            let body = body.trim_end_matches('/');
            let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad element name {name:?}"));
            }
            // attr="value" pairs.
            let mut attrs = body[name_end..].trim();
            while !attrs.is_empty() {
                let eq = attrs
                    .find("=\"")
                    .ok_or(format!("bad attribute in {body:?}"))?;
                let key = &attrs[..eq];
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
                {
                    return Err(format!("bad attribute name {key:?}"));
                }
                let value_and_rest = &attrs[eq + 2..];
                let close = value_and_rest.find('"').ok_or("unterminated value")?;
                if !entities_ok(&value_and_rest[..close]) {
                    return Err(format!("bad value {:?}", &value_and_rest[..close]));
                }
                attrs = value_and_rest[close + 1..].trim_start();
            }
            elements += 1;
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        if !rest.trim().is_empty() || !stack.is_empty() || roots != 1 {
            return Err(format!("unbalanced: open {stack:?}, {roots} roots"));
        }
        Ok(elements)
    }

    #[test]
    fn run_chart_shows_legend_tags_thresholds_and_events() {
        let rows = run(600);
        let chart = run_chart(
            &rows,
            &events(),
            &req(&[
                Metric::Hi,
                Metric::Hin,
                Metric::Hl,
                Metric::Pf,
                Metric::Frag,
            ]),
            "dev-1 run 7",
        )
        .unwrap();
        let svg = &chart.svg;
        well_formed(svg).unwrap();
        for text in [
            "dev-1 run 7",
            "internal free (hi) [B]",
            "internal min free (hin) [B]",
            "largest internal block (hl) [B]",
            "PSRAM free (pf) [B]",
            "fragmentation (frag) [%, right axis]",
            "100 KB floor",
            "tripwire threshold 30 KB",
            "tripwire (img decode start)",
            "alloc failed",
            "crash (LoadProhibited)",
            "wifi up",
            "img decode start",
            "boot",
            "<polygon", // the tripwire triangle
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        // Ten minutes of data: labelled mm:ss since start.
        assert_eq!(chart.hover.x_kind, XKind::TimeUs);
        assert!(svg.contains("time since start (mm:ss)"));
        assert!(svg.contains("04:00"));
        // Hover: the dip survives downsampling, the plot area is inside the SVG.
        let dip = chart
            .hover
            .points
            .iter()
            .find(|p| p.metric == Metric::Hin && p.y == 21_532)
            .expect("dip in hover");
        assert_eq!(dip.seq, 400);
        assert_eq!(dip.x_us, T0 + 400_000_000);
        let a = chart.hover.plot;
        assert!(0 < a.left && a.left < a.right && a.right <= 960);
        assert!(0 < a.top && a.top < a.bottom && a.bottom <= 360);
        assert_eq!(chart.hover.series.len(), 5);
        assert!(serde_json::to_string(&chart.hover).is_ok());
    }

    #[test]
    fn hostile_text_is_escaped_exactly_once() {
        let mut rows = run(300);
        rows[100].snapshot.tag = "<script>alert(1)</script>".to_owned();
        let evs = vec![event(
            1,
            T0 + 150_000_000,
            "crash",
            json!({"kind": "</text><script>x</script>&amp;"}),
        )];
        let title = "\"><img src=x onerror=alert(1)>";
        let chart = run_chart(&rows, &evs, &req(&[Metric::Hin]), title).unwrap();
        let svg = &chart.svg;
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<img"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        // Once, not twice.
        assert!(
            svg.contains("&amp;amp;"),
            "the literal &amp; is escaped once"
        );
        assert!(!svg.contains("&amp;lt;"));
        let elements = well_formed(svg).unwrap();
        // The structure is ours: only known element names.
        for name in [
            "svg", "rect", "line", "polyline", "polygon", "circle", "text",
        ] {
            let _ = name;
        }
        assert!(elements > 10);
        let names: std::collections::BTreeSet<&str> = svg
            .split('<')
            .skip(1)
            .map(|s| {
                s.trim_start_matches('/')
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("")
            })
            .collect();
        for n in &names {
            assert!(
                ["svg", "rect", "line", "polyline", "polygon", "circle", "text"].contains(n),
                "unexpected element {n:?}"
            );
        }
        // Control characters never reach the document.
        let mut rows = run(10);
        rows[0].snapshot.tag = "a\u{1}b\u{1b}[31m".to_owned();
        let chart = run_chart(&rows, &[], &req(&[Metric::Hin]), "t\u{0}").unwrap();
        assert!(!chart.svg.chars().any(|c| c.is_control() && c != '\n'));
        well_formed(&chart.svg).unwrap();
    }

    #[test]
    fn empty_run_says_no_snapshots() {
        let chart = run_chart(&[], &[], &ChartRequest::default(), "empty").unwrap();
        assert!(chart.svg.contains("no snapshots"));
        assert!(chart.hover.points.is_empty());
        well_formed(&chart.svg).unwrap();
    }

    #[test]
    fn range_outside_the_data_is_an_empty_chart() {
        let rows = run(100);
        let r = ChartRequest {
            from_us: Some(T0 + 86_400_000_000),
            to_us: Some(T0 + 2 * 86_400_000_000),
            ..ChartRequest::default()
        };
        let chart = run_chart(&rows, &events(), &r, "later").unwrap();
        assert!(chart.svg.contains("no snapshots between"));
        assert!(chart.hover.points.is_empty());
        well_formed(&chart.svg).unwrap();
        // Inverted or one-sided windows behave the same way.
        let r = ChartRequest {
            from_us: Some(T0 + 86_400_000_000),
            ..ChartRequest::default()
        };
        let chart = run_chart(&rows, &[], &r, "later").unwrap();
        assert!(chart.svg.contains("no snapshots between"));
    }

    #[test]
    fn window_selects_and_single_snapshot_renders() {
        let rows = run(1000);
        let r = ChartRequest {
            from_us: Some(T0 + 100_000_000),
            to_us: Some(T0 + 199_000_000),
            ..req(&[Metric::Hin])
        };
        let chart = run_chart(&rows, &[], &r, "w").unwrap();
        assert!(chart
            .hover
            .points
            .iter()
            .all(|p| (100..=199).contains(&p.seq)));
        let one = run_chart(&rows[..1], &[], &req(&[Metric::Hin]), "one").unwrap();
        assert_eq!(one.hover.points.len(), 1);
        assert!(
            one.svg.contains("<circle"),
            "a lone point is drawn as a dot"
        );
    }

    #[test]
    fn long_runs_use_time_of_day_and_thin_tag_labels() {
        // Two days at one snapshot a minute, a lifecycle tag every 10th.
        let tags = ["boot", "wifi up", "mqtt up", "ota check", "img decode"];
        let rows: Vec<SnapshotRow> = (0..2880)
            .map(|i| {
                let tag = if i % 10 == 0 {
                    tags[(i / 10) % 5]
                } else {
                    "hb"
                };
                snap(i as i64, T0 + i as i64 * 60_000_000, tag, 150_000)
            })
            .collect();
        let chart = run_chart(&rows, &[], &req(&[Metric::Hin]), "soak").unwrap();
        assert!(chart.svg.contains("time of day (UTC)"));
        // Rotated text: the y-axis title plus at most one label per tag.
        let rotated = chart.svg.matches("rotate(270").count();
        assert!(rotated <= tags.len() + 1, "{rotated} rotated labels");
        for t in tags {
            assert!(chart.svg.contains(t), "{t}");
        }
        // One marker line per pixel at most.
        assert!(chart.svg.len() < 400_000, "{} bytes", chart.svg.len());
    }

    #[test]
    fn frag_alone_uses_a_percent_axis() {
        let chart = run_chart(&run(50), &[], &req(&[Metric::Frag]), "f").unwrap();
        assert!(chart.svg.contains("fragmentation (%)"));
        assert!(chart.svg.contains("fragmentation (frag) [%]"));
        assert!(!chart.svg.contains("100 KB floor"));
    }

    #[test]
    fn compare_by_tag_order_and_since_boot() {
        let a = run(300);
        let b: Vec<SnapshotRow> = run(250)
            .into_iter()
            .map(|mut s| {
                s.ts_us += 86_400_000_000;
                s
            })
            .collect();
        let chart = compare_chart(
            &a,
            &b,
            Metric::Hin,
            CompareAlign::TagOrder,
            ("v1.2 <old>", "v1.3"),
            800,
            300,
        )
        .unwrap();
        well_formed(&chart.svg).unwrap();
        assert!(chart.svg.contains("v1.2 &lt;old&gt; [B]"));
        assert!(chart.svg.contains("v1.3 [B]"));
        assert!(chart.svg.contains("wifi up"));
        assert!(chart.svg.contains("100 KB floor"));
        assert_eq!(chart.hover.x_kind, XKind::Index);
        assert_eq!((chart.hover.x_min, chart.hover.x_max), (0, 299));

        let chart = compare_chart(
            &a,
            &b,
            Metric::Hl,
            CompareAlign::SinceBoot,
            ("a", "b"),
            800,
            300,
        )
        .unwrap();
        assert_eq!(chart.hover.x_kind, XKind::SinceStartUs);
        assert_eq!(chart.hover.x_max, 299_000_000);
        assert!(chart.svg.contains("time since first snapshot (mm:ss)"));
        assert!(!chart.svg.contains("100 KB floor"));
        // Hover keeps the real host time.
        let p = chart.hover.points.iter().find(|p| p.series == 1).unwrap();
        assert_eq!(p.x_us, p.x + T0 + 86_400_000_000);

        let empty = compare_chart(
            &[],
            &[],
            Metric::Hin,
            CompareAlign::TagOrder,
            ("a", "b"),
            800,
            300,
        )
        .unwrap();
        assert!(empty.svg.contains("no snapshots"));
    }

    #[test]
    fn compare_groups_draws_every_member() {
        let runs: Vec<Vec<SnapshotRow>> = (0..5).map(|k| run(200 + k * 10)).collect();
        let a: Vec<&[SnapshotRow]> = runs[..3].iter().map(Vec::as_slice).collect();
        let b: Vec<&[SnapshotRow]> = runs[3..].iter().map(Vec::as_slice).collect();
        let chart = compare_groups_chart(
            &a,
            &b,
            Metric::Hin,
            CompareAlign::SinceBoot,
            ("before", "after"),
            900,
            320,
        )
        .unwrap();
        well_formed(&chart.svg).unwrap();
        assert_eq!(chart.hover.series.len(), 5);
        assert!(chart.svg.contains("before (3 runs) [B]"));
        assert!(chart.svg.contains("after (2 runs) [B]"));
        // Five data polylines plus the two legend samples.
        assert!(chart.svg.matches("<polyline").count() >= 5);
    }

    #[test]
    fn sparkline_is_a_small_svg() {
        let pts: Vec<(i64, i64)> = (0..10_000).map(|i| (i, 100_000 - (i % 97))).collect();
        let svg = sparkline(&pts, 120, 24);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<polyline") && svg.contains("sparkline-min"));
        assert!(!svg.contains("NaN"));
        assert!(svg.len() < 8_000, "{}", svg.len());
        well_formed(&svg).unwrap();
        let empty = sparkline(&[], 120, 24);
        well_formed(&empty).unwrap();
        let one = sparkline(&[(5, 5)], 120, 24);
        assert!(!one.contains("<polyline") && one.contains("<circle"));
        // Unsorted input is sorted first.
        well_formed(&sparkline(&[(3, 1), (1, 2), (2, 0)], 50, 10)).unwrap();
    }

    #[test]
    fn helpers() {
        assert_eq!(elapsed(65_000_000), "01:05");
        assert_eq!(elapsed(3_725_000_000), "1:02:05");
        assert_eq!(kb(30_720), "30 KB");
        assert_eq!(nice_step(1000, 5), 200);
        assert_eq!(time_step(600_000_000, 8), 120_000_000);
        assert_eq!(clean("abcdef", 3), "abc…");
    }
}
