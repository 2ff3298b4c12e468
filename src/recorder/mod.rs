//! The recorder: the one place that turns parsed device output into stored
//! rows. [`RunTracker`] is its pure half (numbering, boot segments, task
//! dumps); the live [`Recorder`] task and the importer both feed it and hand
//! its batches to [`crate::store::Store::write_batches`].

pub mod fanout;
mod hub;
mod import;
mod intake;
mod live;
mod tracker;

pub use hub::{DeviceLive, IngestCounters, LiveEvent, LiveHub};
pub use import::{import_path, ImportError, ImportOptions, ImportOutcome};
pub use intake::{AgentIntake, IntakeError};
pub use live::{Forwarded, Recorder, RecorderCommand};
pub use tracker::RunTracker;
