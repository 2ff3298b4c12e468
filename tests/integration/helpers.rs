use std::path::{Path, PathBuf};

use heaplab::analysis::AcceptanceCriteria;
use heaplab::recorder::{import_path, ImportOptions, ImportOutcome};
use heaplab::report::RunDocument;
use heaplab::store::Store;
use tempfile::TempDir;

/// A fresh database in its own temp dir (kept alive by the returned guard).
pub async fn store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("heaplab.db"))
        .await
        .expect("open store");
    (store, dir)
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub const CRASH_LOG: &str = "serial/desk-s4-crash.log";
pub const TUNED_FOLDER: &str = "harness/20260109_150318_s4";

pub async fn import(store: &Store, path: &Path) -> ImportOutcome {
    import_path(store, path, &ImportOptions::default())
        .await
        .expect("import")
}

pub async fn document(store: &Store, id: i64) -> RunDocument {
    RunDocument::load(store, id, &AcceptanceCriteria::default())
        .await
        .expect("load run")
}
