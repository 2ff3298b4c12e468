//! The run chart: one run's metrics over host time, with the lifecycle tags,
//! the floor and tripwire lines and the event markers that explain a dip.
//! This is where a week of rows meets the pixel budget, so rows are read at
//! most twice and never copied.

use super::downsample::{Point, M4};
use super::plot::{clamp_dim, metric_style, EventMark, Mark, MarkerKind, Plot, Series, Threshold};
use super::plot::{XOf, TRIP_LINE_COLOR};
use super::render::{draw, RenderedChart};
use super::scale::{XScale, YUnit};
use super::spec::{ChartRequest, Metric};
use super::text::{clean, kb, utc, MAX_LABEL_CHARS, MAX_TITLE_CHARS};
use super::ChartError;
use crate::analysis::HEARTBEAT_TAG;
use crate::store::{EventKind, EventRow, SnapshotRow};

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
    let mut plot = Plot::new(clean(title, MAX_TITLE_CHARS), width, height);
    plot.y_unit = if has_bytes { YUnit::Kb } else { YUnit::Percent };
    plot.secondary = has_bytes && metrics.iter().any(|m| m.is_percent());

    // Rows are ~250 bytes each, so a week of them is memory-bound: at most
    // two passes, one for the extent (skipped when both bounds are given)
    // and one that feeds every metric's M4 and collects the tags.
    let Some((lo, hi)) = window(snapshots, req) else {
        plot.message = Some("no snapshots".to_owned());
        return draw(&plot);
    };
    if lo > hi {
        say_none_between(&mut plot, snapshots, lo, hi);
        return draw(&plot);
    }
    plot.x = XScale::time_window(lo, hi);
    let Some(accs) = scan_window(&mut plot, snapshots, &metrics) else {
        plot.tags.clear();
        say_none_between(&mut plot, snapshots, lo, hi);
        return draw(&plot);
    };
    push_series(&mut plot, accs, snapshots);
    push_thresholds(&mut plot, &metrics, events, req.floor_bytes);
    plot.events = event_marks(events, plot.x);
    draw(&plot)
}

/// The requested x window, each missing bound taken from the data's
/// extent; `None` when a bound is missing and there are no snapshots.
fn window(snapshots: &[SnapshotRow], req: &ChartRequest) -> Option<(i64, i64)> {
    match (req.from_us, req.to_us) {
        (Some(from), Some(to)) => Some((from, to)),
        (from, to) => {
            let (first, last) = snapshots.iter().fold(None, |acc, s| match acc {
                None => Some((s.ts_us, s.ts_us)),
                Some((a, b)) => Some((s.ts_us.min(a), s.ts_us.max(b))),
            })?;
            Some((from.unwrap_or(first), to.unwrap_or(last)))
        }
    }
}

/// An empty chart over the requested window that says why it is empty.
fn say_none_between(plot: &mut Plot<'_>, snapshots: &[SnapshotRow], lo: i64, hi: i64) {
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
}

/// The one pass over the rows: feeds every metric's M4 and collects the
/// lifecycle tags inside the window. `None` when no row is inside it.
fn scan_window(
    plot: &mut Plot<'_>,
    snapshots: &[SnapshotRow],
    metrics: &[Metric],
) -> Option<Vec<(Metric, M4)>> {
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
    (in_window > 0).then_some(accs)
}

/// One line per metric; percentages go on the right axis when bytes share
/// the chart.
fn push_series<'a>(plot: &mut Plot<'a>, accs: Vec<(Metric, M4)>, snapshots: &'a [SnapshotRow]) {
    for (metric, acc) in accs {
        let (color, stroke) = metric_style(metric);
        let secondary_axis = plot.secondary && metric.is_percent();
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
}

/// The floor under the low-water metrics, and the tripwire's threshold
/// under any internal-RAM metric.
fn push_thresholds(plot: &mut Plot<'_>, metrics: &[Metric], events: &[EventRow], floor_bytes: i64) {
    let has_bytes = metrics.iter().any(|m| !m.is_percent());
    if has_bytes
        && metrics
            .iter()
            .any(|m| matches!(m, Metric::Hin | Metric::Hi))
    {
        plot.thresholds.push(Threshold::floor(floor_bytes));
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
            .find(|e| e.kind == EventKind::Tripwire)
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
}

/// Tripwire, crash and alloc-failure events inside the window, labelled
/// with the tag or crash kind they carry.
fn event_marks(events: &[EventRow], x: XScale) -> Vec<EventMark> {
    events
        .iter()
        .filter(|e| e.ts_us >= x.min && e.ts_us <= x.max)
        .filter_map(|e| {
            let kind = MarkerKind::of(e.kind)?;
            let detail = match kind {
                MarkerKind::Crash => e.data.get("kind").and_then(|k| k.as_str()),
                MarkerKind::Tripwire => e.data.get("tag").and_then(|k| k.as_str()),
                MarkerKind::AllocFailed => None,
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
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;
    use crate::charts::fixtures::{event, events, req, run, snap, T0};
    use crate::charts::scale::XKind;
    use crate::charts::svg_check::well_formed;

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
}
