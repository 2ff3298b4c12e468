//! Comparison charts: two runs, or two groups of runs, on one metric, lined
//! up by tag order or by time since boot, so a firmware change's effect on
//! the low-water mark can be seen side by side.

use plotters::style::RGBColor;
use serde::Serialize;

use super::downsample::{Point, M4};
use super::plot::{clamp_dim, Mark, Plot, Series, Threshold, XOf, GROUP_A, GROUP_B};
use super::render::{draw, RenderedChart};
use super::scale::{XKind, XScale, YUnit};
use super::spec::{ChartRequest, Metric};
use super::text::{clean, MAX_LABEL_CHARS, MAX_TITLE_CHARS};
use super::ChartError;
use crate::analysis::HEARTBEAT_TAG;

use crate::store::SnapshotRow;

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

/// What a comparison chart shows and how: the metric, the alignment, the
/// size, and the acceptance floor it draws (the configured `hin_min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareLayout {
    pub metric: Metric,
    pub align: CompareAlign,
    pub width: u32,
    pub height: u32,
    pub floor_bytes: i64,
}

/// Two runs, one metric, lined up by tag order or by time since boot.
pub fn compare_chart(
    a: &[SnapshotRow],
    b: &[SnapshotRow],
    layout: &CompareLayout,
    labels: (&str, &str),
) -> Result<RenderedChart, ChartError> {
    compare_impl(&[a], &[b], layout, labels)
}

/// Two groups of runs, one metric: every member drawn as a thin line, group
/// A in one hue and group B in another, so the spread is visible and not
/// only a mean.
pub fn compare_groups_chart(
    a_runs: &[&[SnapshotRow]],
    b_runs: &[&[SnapshotRow]],
    layout: &CompareLayout,
    labels: (&str, &str),
) -> Result<RenderedChart, ChartError> {
    compare_impl(a_runs, b_runs, layout, labels)
}

/// One group's members on one metric, each its own thin line in one hue:
/// the spread a group's noise call is made from, seen at once.
pub fn group_chart(
    runs: &[&[SnapshotRow]],
    layout: &CompareLayout,
    label: &str,
) -> Result<RenderedChart, ChartError> {
    compare_impl(runs, &[], layout, (label, ""))
}

/// Every entry point: one run per side is just a group of one, and one
/// group alone is a comparison with nothing on the other side.
fn compare_impl(
    a_runs: &[&[SnapshotRow]],
    b_runs: &[&[SnapshotRow]],
    layout: &CompareLayout,
    labels: (&str, &str),
) -> Result<RenderedChart, ChartError> {
    let CompareLayout {
        metric,
        align,
        width,
        height,
        floor_bytes,
    } = *layout;
    let (label_a, label_b) = (
        clean(labels.0, MAX_LABEL_CHARS),
        clean(labels.1, MAX_LABEL_CHARS),
    );
    let title = if b_runs.is_empty() {
        format!("{}: {}", metric.label(), label_a)
    } else {
        format!("{}: {} vs {}", metric.label(), label_a, label_b)
    };
    let mut plot = Plot::new(
        clean(&title, MAX_TITLE_CHARS),
        clamp_dim(width, ChartRequest::WIDTH_RANGE),
        clamp_dim(height, ChartRequest::HEIGHT_RANGE),
    );
    plot.y_unit = if metric.is_percent() {
        YUnit::Percent
    } else {
        YUnit::Kb
    };
    let Some(x) = x_scale(a_runs, b_runs, align) else {
        plot.message = Some("no snapshots".to_owned());
        return draw(&plot);
    };
    plot.x = x;
    let group_a = Group {
        runs: a_runs,
        color: GROUP_A,
        label: &label_a,
    };
    let group_b = Group {
        runs: b_runs,
        color: GROUP_B,
        label: &label_b,
    };
    for group in [group_a, group_b] {
        push_group(&mut plot, &group, metric, align);
    }

    if matches!(metric, Metric::Hin | Metric::Hi) {
        plot.thresholds.push(Threshold::floor(floor_bytes));
    }
    if align == CompareAlign::TagOrder {
        if let Some(run) = a_runs.iter().find(|r| !r.is_empty()) {
            plot.tags = tag_marks(run);
            plot.tags_at_bottom = true;
        }
    }
    draw(&plot)
}

/// One side of the comparison.
struct Group<'g, 'a> {
    runs: &'g [&'a [SnapshotRow]],
    color: RGBColor,
    label: &'g str,
}

/// Where snapshot `i` of `run` sits on the shared x axis.
fn x_at(align: CompareAlign, run: &[SnapshotRow], i: usize) -> i64 {
    match align {
        CompareAlign::TagOrder => i as i64,
        CompareAlign::SinceBoot => run[i].ts_us - run[0].ts_us,
    }
}

/// An x axis covering every run of both sides; `None` when all are empty.
fn x_scale(
    a_runs: &[&[SnapshotRow]],
    b_runs: &[&[SnapshotRow]],
    align: CompareAlign,
) -> Option<XScale> {
    let all = a_runs.iter().chain(b_runs).filter(|r| !r.is_empty());
    let mut x_min = 0;
    let mut x_max = i64::MIN;
    for run in all {
        for i in 0..run.len() {
            let x = x_at(align, run, i);
            x_min = x_min.min(x);
            x_max = x_max.max(x);
        }
    }
    if x_max == i64::MIN {
        return None;
    }
    let (kind, pad) = match align {
        CompareAlign::TagOrder => (XKind::Index, 1),
        CompareAlign::SinceBoot => (XKind::SinceStartUs, 1_000_000),
    };
    Some(XScale {
        min: x_min,
        max: if x_max > x_min { x_max } else { x_min + pad },
        kind,
        origin: (align == CompareAlign::SinceBoot).then_some(0),
        bare: false,
    })
}

/// Every member of a group as its own line in the group's hue; a lone run
/// is drawn bold, members of a larger group thin and translucent so the
/// spread shows. Only the group's first drawn line gets a legend entry.
fn push_group<'a>(plot: &mut Plot<'a>, group: &Group<'_, 'a>, metric: Metric, align: CompareAlign) {
    let x = plot.x;
    let columns = plot.columns();
    let label = group.label;
    let members = group.runs.iter().filter(|r| !r.is_empty()).count();
    let single = group.runs.len() == 1;
    let mut first_legend = true;
    for (k, run) in group.runs.iter().enumerate() {
        let mut acc = M4::new(x.min, x.max, columns);
        for (i, row) in run.iter().enumerate() {
            let Ok(idx) = u32::try_from(i) else { break };
            if let Some(y) = metric.value(&row.snapshot) {
                acc.push(Point {
                    x: x_at(align, run, i),
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
                label.to_owned()
            } else {
                format!("{label} #{}", k + 1)
            },
            legend,
            metric,
            color: group.color,
            stroke: if single { 2 } else { 1 },
            opacity: if single { 1.0 } else { 0.55 },
            secondary: false,
            points: acc.finish(),
            rows: run,
            x_of: XOf::Other,
        });
    }
}

/// Run A's lifecycle tags at their snapshot index.
fn tag_marks(run: &[SnapshotRow]) -> Vec<Mark> {
    run.iter()
        .enumerate()
        .filter(|(_, s)| s.snapshot.tag != HEARTBEAT_TAG)
        .map(|(i, s)| Mark {
            x: i as i64,
            label: clean(&s.snapshot.tag, MAX_LABEL_CHARS),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::charts::fixtures::{run, T0};
    use crate::charts::scale::XKind;
    use crate::charts::svg_check::well_formed;

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
            &CompareLayout {
                metric: Metric::Hin,
                align: CompareAlign::TagOrder,
                width: 800,
                height: 300,
                floor_bytes: 102_400,
            },
            ("v1.2 <old>", "v1.3"),
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
            &CompareLayout {
                metric: Metric::Hl,
                align: CompareAlign::SinceBoot,
                width: 800,
                height: 300,
                floor_bytes: 102_400,
            },
            ("a", "b"),
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
            &CompareLayout {
                metric: Metric::Hin,
                align: CompareAlign::TagOrder,
                width: 800,
                height: 300,
                floor_bytes: 102_400,
            },
            ("a", "b"),
        )
        .unwrap();
        assert!(empty.svg.contains("no snapshots"));
    }

    #[test]
    fn one_group_alone_draws_its_members_and_no_other_side() {
        let runs: Vec<Vec<SnapshotRow>> = (0..3).map(|k| run(200 + k * 10)).collect();
        let members: Vec<&[SnapshotRow]> = runs.iter().map(Vec::as_slice).collect();
        let chart = group_chart(
            &members,
            &CompareLayout {
                metric: Metric::Hin,
                align: CompareAlign::TagOrder,
                width: 900,
                height: 320,
                floor_bytes: 102_400,
            },
            "group g7 <S4>",
        )
        .unwrap();
        well_formed(&chart.svg).unwrap();
        assert_eq!(chart.hover.series.len(), 3);
        assert!(chart.svg.contains("group g7 &lt;S4&gt; (3 runs) [B]"));
        assert!(!chart.svg.contains(" vs "), "no second side in the title");
    }

    #[test]
    fn compare_groups_draws_every_member() {
        let runs: Vec<Vec<SnapshotRow>> = (0..5).map(|k| run(200 + k * 10)).collect();
        let a: Vec<&[SnapshotRow]> = runs[..3].iter().map(Vec::as_slice).collect();
        let b: Vec<&[SnapshotRow]> = runs[3..].iter().map(Vec::as_slice).collect();
        let chart = compare_groups_chart(
            &a,
            &b,
            &CompareLayout {
                metric: Metric::Hin,
                align: CompareAlign::SinceBoot,
                width: 900,
                height: 320,
                floor_bytes: 51_200,
            },
            ("before", "after"),
        )
        .unwrap();
        well_formed(&chart.svg).unwrap();
        assert_eq!(chart.hover.series.len(), 5);
        assert!(chart.svg.contains("before (3 runs) [B]"));
        assert!(chart.svg.contains("after (2 runs) [B]"));
        // The floor is the configured one, not a constant.
        assert!(chart.svg.contains("50 KB floor"), "configured floor drawn");
        assert!(!chart.svg.contains("100 KB floor"));
        // Five data polylines plus the two legend samples.
        assert!(chart.svg.matches("<polyline").count() >= 5);
    }
}
