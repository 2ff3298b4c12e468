//! The recorder: the one place that turns parsed device output into stored
//! rows. [`RunTracker`] is its pure half (numbering, boot segments, task
//! dumps); the live writer task and the importer both feed it and hand its
//! batches to [`crate::store::Store::write_batches`].

mod tracker;

pub use tracker::RunTracker;

mod import;

pub use import::{import_path, ImportError, ImportOptions, ImportOutcome};
