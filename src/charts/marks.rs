//! Annotations drawn in pixel space on top of the plotted data: threshold
//! lines, lifecycle tag markers and event markers. They are placed by hand
//! rather than by plotters because their labels must never overlap, however
//! many thousand tags or events a soak run has.

use plotters::element::{DashedPathElement, PathElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::hover::PlotArea;
use super::plot::{MarkerKind, Plot, Threshold, FONT, TAG_COLOR};
use super::render::{draw_err, Chart, Root};
use super::scale::YUnit;
use super::text::estimate_text_px;
use super::ChartError;

/// Past this many lifecycle markers only the first of each distinct tag is
/// labelled.
const MAX_LABELLED_TAGS: usize = 40;
/// Minimum horizontal distance between two labelled tag markers.
const TAG_LABEL_GAP_PX: i32 = 13;
/// Rows of event labels, and the room kept between two labels in a row.
const EVENT_LABEL_ROWS: usize = 3;
const EVENT_LABEL_PAD_PX: i32 = 6;

/// Thresholds under the data lines, labelled at the right end; a label too
/// close to the previous one goes below its line instead.
pub(super) fn draw_thresholds(
    root: &Root<'_>,
    chart: &Chart<'_, '_>,
    plot: &Plot<'_>,
    area: PlotArea,
) -> Result<(), ChartError> {
    let (x, y_unit) = (plot.x, plot.y_unit);
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
    Ok(())
}

/// Vertical lines at lifecycle snapshots, one per pixel, with labels thinned
/// so they never overlap: past [`MAX_LABELLED_TAGS`] markers only the first
/// of each distinct tag is a candidate, and a label needs
/// [`TAG_LABEL_GAP_PX`] of room from the previous one.
pub(super) fn draw_tags(
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
pub(super) fn draw_events(
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
            if e.kind != MarkerKind::AllocFailed {
                // A faint solid line: plotters writes a dashed one as one
                // SVG element per dash, and a week's 150 tripwires made
                // 6,000 of them (half a megabyte of chart).
                root.draw(&PathElement::new(
                    vec![(px, area.top), (px, area.bottom)],
                    color.mix(0.3).stroke_width(1),
                ))
                .map_err(draw_err)?;
            }
            match e.kind {
                MarkerKind::Tripwire => {
                    root.draw(&TriangleMarker::new((px, base), 6, color.filled()))
                }
                MarkerKind::Crash => root.draw(&Cross::new((px, base), 5, color.stroke_width(2))),
                MarkerKind::AllocFailed => root.draw(&Rectangle::new(
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
