//! A harness run folder (all seven files, one corrupt JSONL line) imports,
//! exports back to the same rows, and re-imports to the same metrics.

use std::fs;
use std::path::Path;

use heaplab::analysis::AcceptanceCriteria;
use heaplab::harness::per_tag_table;
use heaplab::report;
use heaplab::store::EventKind;
use serde_json::Value;

use crate::helpers::*;

fn jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("read jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn harness_folder_imports_with_its_metadata_and_reports_the_corrupt_line() {
    let (store, _dir) = store().await;
    let outcome = import(&store, &fixture(TUNED_FOLDER)).await;
    assert_eq!(outcome.corrupt.len(), 1);
    assert_eq!(outcome.corrupt[0].0, "mem.jsonl");
    assert_eq!(outcome.corrupt[0].1, 5);
    assert_eq!(outcome.snapshots, 9);
    assert_eq!(
        outcome.health_samples, 1,
        "the skipped health row is not a sample"
    );

    let doc = document(&store, outcome.run_id).await;
    let run = &doc.run;
    assert_eq!(run.scenario.as_deref(), Some("s4"));
    assert_eq!(run.firmware_version.as_deref(), Some("v1.5.1"));
    assert_eq!(run.git_commit.as_deref(), Some("9268821"));
    assert_eq!(run.git_branch.as_deref(), Some("issue-14-mqtt-send-action"));
    assert_eq!(run.git_dirty, Some(true));
    // Times come from the artifacts, not from the clock at import.
    assert_eq!(run.started_us, 1_767_970_998_000_000);
    assert_eq!(run.ended_us, Some(1_767_971_020_000_000));
    // Snapshot times come from mem.jsonl, matched past the corrupt row.
    let ts: Vec<i64> = store
        .snapshots(doc.run.id)
        .await
        .expect("snapshots")
        .iter()
        .map(|s| s.ts_us)
        .collect();
    assert_eq!(ts[0], 1_767_970_998_250_000);
    assert_eq!(ts[8], 1_767_970_998_250_000 + 8 * 1_500_000);

    let d = &doc.report.derived;
    assert_eq!(d.hin_min, Some(178_000));
    assert_eq!(d.hm_min, Some(178_000));
    assert_eq!(d.pf_min, Some(8_060_000));
    assert_eq!(d.pm_min, Some(8_050_000));
    assert_eq!(d.frag_max, Some(26));
    assert_eq!(d.steady_frag_max, Some(18));
    assert!(!d.tripwire.fired);
    assert!(!d.panic.detected);
    assert!(doc.report.verdict.pass);

    // HTTP steps and notes from events.jsonl are kept beside serial events.
    let events = store
        .events(outcome.run_id, &[EventKind::Http, EventKind::Note])
        .await
        .expect("events");
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].message, "POST /api/macros");

    // A wrongly typed health field is None on its own; the rest survive.
    let health = store.health(outcome.run_id).await.expect("health");
    let sample = health[0].sample.as_ref().expect("parsed sample");
    assert_eq!(sample.cpu_usage, None);
    assert_eq!(sample.heap_internal_min, Some(178_000));
    assert_eq!(sample.extras["board_rev"], 3);
}

#[tokio::test]
async fn export_round_trips_rows_derived_block_and_per_tag_table() {
    let (store, dir) = store().await;
    let first = import(&store, &fixture(TUNED_FOLDER)).await;
    let out = dir.path().join("export");
    let criteria = AcceptanceCriteria::default();
    report::export(&store, first.run_id, &out, &criteria)
        .await
        .expect("export");

    for file in [
        "serial.log",
        "mem.jsonl",
        "events.jsonl",
        "tasks.jsonl",
        "health.jsonl",
        "summary.json",
        "summary.md",
    ] {
        assert!(out.join(file).is_file(), "{file} exported");
    }
    // Same mem.jsonl rows as the original minus its corrupt line.
    assert_eq!(
        jsonl(&out.join("mem.jsonl")),
        jsonl(&fixture(TUNED_FOLDER).join("mem.jsonl"))
    );
    assert_eq!(
        fs::read(out.join("serial.log")).expect("serial"),
        fs::read(fixture(TUNED_FOLDER).join("serial.log")).expect("serial")
    );
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("summary json");
    assert_eq!(summary["derived"]["hin_min"], 178_000);
    assert_eq!(summary["scenario_key"], "s4");
    assert_eq!(summary["port"], "/dev/ttyACM0");
    assert_eq!(
        summary["git"]["status_porcelain"],
        " M src/app/display_manager.cpp\n"
    );

    let original = document(&store, first.run_id).await;
    let md = fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains(&per_tag_table(&original.report.per_tag)));

    // Re-importing the export gives identical derived metrics.
    let again = import(&store, &out).await;
    assert!(!again.already_imported, "the export is new content");
    let reimported = document(&store, again.run_id).await;
    assert_eq!(reimported.report.derived, original.report.derived);
    assert_eq!(reimported.report.verdict, original.report.verdict);
    assert_eq!(
        per_tag_table(&reimported.report.per_tag),
        per_tag_table(&original.report.per_tag)
    );
    assert_eq!(reimported.run.started_us, original.run.started_us);
    assert_eq!(reimported.run.git_dirty, Some(true));
}

#[tokio::test]
async fn folder_without_serial_log_falls_back_to_jsonl_files() {
    let (store, dir) = store().await;
    let folder = dir.path().join("20260109_111535_s1");
    fs::create_dir_all(&folder).expect("mkdir");
    let src = fixture(TUNED_FOLDER);
    for f in ["mem.jsonl", "events.jsonl", "tasks.jsonl"] {
        fs::copy(src.join(f), folder.join(f)).expect("copy");
    }
    fs::write(
        folder.join("events.jsonl"),
        fs::read_to_string(src.join("events.jsonl")).expect("events")
            + "{\"ts\": 1767971001.0, \"type\": \"tripwire\", \"tag\": \"http_root\", \"hin\": 21532, \"threshold\": 30720}\n"
            + "{\"ts\": 1767971001.1, \"type\": \"task\", \"name\": \"ipc0\", \"prio\": 24, \"core\": 0, \"stack_rem\": 76}\n",
    )
    .expect("write events");
    let outcome = import(&store, &folder).await;
    let doc = document(&store, outcome.run_id).await;
    assert_eq!(
        doc.run.scenario.as_deref(),
        Some("s1"),
        "scenario from the folder name"
    );
    assert_eq!(doc.report.derived.snapshots, 9);
    let d = &doc.report.derived;
    assert_eq!(d.hin_min, Some(178_000));
    assert!(d.tripwire.fired);
    assert_eq!(d.tripwire.tag.as_deref(), Some("http_root"));
    assert_eq!(d.tripwire.worst_stacks.len(), 1);
    assert_eq!(d.tripwire.worst_stacks[0].stack_rem, Some(76));
}
