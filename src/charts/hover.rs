//! The hover table sent next to a chart, so the browser can name the point
//! under the mouse without a charting library: the plot rectangle, the x
//! range, and a second, coarser M4 pass over every series (so column minima
//! still survive).

use serde::Serialize;

use super::downsample::m4;
use super::plot::{Plot, XOf};
use super::scale::XKind;
use super::spec::Metric;

/// Hover keeps one M4 column per this many pixels: ≤ ~1 point per pixel.
const HOVER_PX_PER_COLUMN: u32 = 4;

/// The plot rectangle in SVG pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlotArea {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
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

/// The series and their downsampled points, in the order they are drawn.
pub(super) fn hover(plot: &Plot<'_>, area: PlotArea) -> (Vec<HoverSeries>, Vec<HoverPoint>) {
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
