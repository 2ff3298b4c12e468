//! The Python harness's artifact format (`<YYYYmmdd_HHMMSS>_<scenario>/` with
//! `serial.log`, `mem.jsonl`, `events.jsonl`, `tasks.jsonl`, `health.jsonl`,
//! `summary.json`, `summary.md`). heaplab reads it so teams keep their
//! history, and writes it so their old scripts keep working.

mod archive;
mod folder;
mod jsonl;
mod summary_md;
mod time;
mod write;

pub use archive::{
    unpack_upload, UnpackError, UnpackLimits, MAX_ENTRIES, MAX_EXPANDED_BYTES, MAX_RATIO,
    RATIO_GRACE_BYTES,
};
pub use folder::{ArtifactError, ArtifactFolder, HealthLine, RunSummary, SerialLogFile};
pub use jsonl::{JsonlFile, JsonlRow, JsonlRows, JsonlSource};
pub use summary_md::{per_tag_table, summary_markdown};
pub use time::{format_ts, parse_ts, ts_from_folder_name};
pub use write::FolderWriter;
