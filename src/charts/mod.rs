//! Server-side SVG charts of a run's heap telemetry.
//!
//! Charts are drawn on the server so the pages need no charting library and
//! so a week of 1 Hz data never travels to the browser: every series is
//! M4-downsampled to the plot's pixel width first ([`downsample`]), which
//! keeps every column's minimum, so no low-water dip is ever hidden. The
//! request model ([`spec`]) is separate from drawing ([`render`]) so the web
//! layer can reject a bad query before it spends a blocking thread.
//!
//! Everything here is synchronous and CPU-bound: call it from
//! `spawn_blocking`. See `docs/charts.md`.

mod compare;
pub mod downsample;
#[cfg(test)]
mod fixtures;
mod hover;
mod marks;
mod plot;
pub mod render;
mod run;
mod scale;
mod sparkline;
pub mod spec;
#[cfg(test)]
mod svg_check;
mod text;

pub use compare::{compare_chart, compare_groups_chart, group_chart, CompareAlign, CompareLayout};
pub use downsample::{m4, Point, M4};
pub use hover::{HoverData, HoverPoint, HoverSeries, PlotArea};
pub use render::RenderedChart;
pub use run::run_chart;
pub use scale::XKind;
pub use sparkline::sparkline;
pub use spec::{ChartRequest, Metric, XAxis};

/// Why a chart could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A request parameter has a value that cannot be used. `name` is the
    /// query parameter, so the API can answer 400 saying which one.
    #[error("bad `{name}` parameter {value:?}: {reason}")]
    BadParameter {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The drawing backend failed (only a bug or an out-of-memory gets here).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

impl ChartError {
    /// A `BadParameter` keeping at most 64 characters of the offending value.
    pub(crate) fn bad(name: &'static str, value: &str, reason: &'static str) -> ChartError {
        ChartError::BadParameter {
            name,
            value: value.chars().take(64).collect(),
            reason,
        }
    }
}
