//! The scenario runner's error type, and how the web layer shows it.

use crate::report::ReportError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A scenario file that does not parse: names the line and the step.
    #[error("{source_name}{}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default(), step.as_ref().map(|s| format!(", {s}")).unwrap_or_default())]
    Parse {
        source_name: String,
        line: Option<usize>,
        step: Option<String>,
        message: String,
    },
    #[error("no built-in scenario or readable file {spec:?} ({detail}); built-ins: s1, s2, s3, s4, s5, s6, prompt")]
    Unknown { spec: String, detail: String },
    #[error("{0}")]
    Options(String),
    #[error("device: {0}")]
    Device(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}
