//! Drawing: turns a plot (the model in `plot.rs`) into an SVG chart plus
//! the small hover table the browser needs to name the point under the
//! mouse.
//!
//! The pipeline is always the same: pick the x window, M4-downsample every
//! series to the plot's pixel width (done by the run and comparison charts
//! while they fill in the plot), then hand at most ~4 points per pixel per
//! series to plotters' SVG backend. Annotations (tag markers, threshold
//! lines, event markers; `marks.rs`) are drawn in pixel space on top. How
//! text is made safe for the SVG is in `text.rs`.

use plotters::chart::DualCoordChartContext;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::hover::{hover, HoverData, PlotArea};
use super::marks::{draw_events, draw_tags, draw_thresholds};
use super::plot::{Plot, BOTTOM_AREA, FONT, LEFT_AREA, MARGIN};
use super::scale::YUnit;
use super::ChartError;

/// An SVG document and what the browser needs for hover.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedChart {
    pub svg: String,
    pub hover: HoverData,
}

pub(super) type Root<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;
type Primary = Cartesian2d<WithKeyPoints<RangedCoordi64>, RangedCoordf64>;
pub(super) type Chart<'c, 'b> = ChartContext<'c, SVGBackend<'b>, Primary>;
/// The chart with the right-hand percent axis (always set up; only drawn
/// when a percent series shares the chart with byte series).
type DualChart<'c, 'b> =
    DualCoordChartContext<'c, SVGBackend<'b>, Primary, Cartesian2d<RangedCoordi64, RangedCoordf64>>;

pub(super) fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

pub(super) fn draw(plot: &Plot<'_>) -> Result<RenderedChart, ChartError> {
    let mut svg = String::with_capacity(64 * 1024);
    let area = {
        let root = SVGBackend::with_string(&mut svg, (plot.width, plot.height)).into_drawing_area();
        draw_on(&root, plot)?
    };
    let (series, points) = hover(plot, area);
    Ok(RenderedChart {
        svg,
        hover: HoverData {
            plot: area,
            x_min: plot.x.min,
            x_max: plot.x.max,
            x_kind: plot.x.kind,
            series,
            points,
        },
    })
}

/// Everything in drawing order (later layers on top); returns the plot
/// rectangle the hover table is relative to.
fn draw_on(root: &Root<'_>, plot: &Plot<'_>) -> Result<PlotArea, ChartError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = draw_axes(root, plot)?;
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
    draw_thresholds(root, &chart, plot, area)?;
    draw_tags(root, &chart, plot, area)?;
    draw_lines(&mut chart, plot)?;
    draw_events(root, &chart, plot, area)?;
    draw_legend(&mut chart, plot)?;
    root.present().map_err(draw_err)?;
    Ok(area)
}

/// The primary y range from what is drawn on it, including threshold lines,
/// with headroom above the highest line for the tag labels.
fn y_range(plot: &Plot<'_>) -> (f64, f64) {
    let y_unit = plot.y_unit;
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
    if lo > hi {
        return (0.0, if y_unit == YUnit::Kb { 1.0 } else { 100.0 });
    }
    let lo = y_unit.axis(lo.min(0));
    let hi = y_unit.axis(hi);
    let top = if hi > lo {
        hi + (hi - lo) * 0.12
    } else {
        lo + 1.0
    };
    (lo, top)
}

/// The caption, both axes with their ticks and titles, and the grid.
fn draw_axes<'c, 'b>(root: &'c Root<'b>, plot: &Plot<'_>) -> Result<DualChart<'c, 'b>, ChartError> {
    let (x, y_unit) = (plot.x, plot.y_unit);
    let (y_lo, y_hi) = y_range(plot);
    let frag_hi = plot
        .series
        .iter()
        .filter(|s| s.secondary)
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .max()
        .map_or(100.0, |m| (m as f64).max(100.0));
    let ticks = x.ticks(plot.columns());
    let mut chart = ChartBuilder::on(root)
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
    Ok(chart)
}

/// The data lines, each registered for the legend; a sparse series also
/// gets a dot per point so a lone snapshot is visible.
fn draw_lines(chart: &mut DualChart<'_, '_>, plot: &Plot<'_>) -> Result<(), ChartError> {
    let y_unit = plot.y_unit;
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
    Ok(())
}

/// The legend box, when any drawn line has a legend entry.
fn draw_legend<'c, 'b: 'c>(
    chart: &mut DualChart<'c, 'b>,
    plot: &Plot<'_>,
) -> Result<(), ChartError> {
    if !plot
        .series
        .iter()
        .any(|s| s.legend.is_some() && !s.points.is_empty())
    {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 11))
        .draw()
        .map_err(draw_err)
}
