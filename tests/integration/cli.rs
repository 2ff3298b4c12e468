//! The `heaplab` binary as a user runs it: exit codes and output.

use std::process::Command;

use crate::helpers::*;

fn heaplab(db: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    cmd.arg("--db").arg(db).env_remove("HEAPLAB_DB");
    cmd
}

#[test]
fn import_show_compare_and_export_through_the_binary() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_db(dir.path(), "cli.db");

    let out = heaplab(&db)
        .args(["import", "--json"])
        .arg(fixture(CRASH_LOG))
        .arg(fixture(TUNED_FOLDER))
        .output()
        .expect("run import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcomes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(outcomes[0]["run_id"], 1);
    assert_eq!(outcomes[1]["run_id"], 2);

    let again = heaplab(&db)
        .arg("import")
        .arg(fixture(CRASH_LOG))
        .output()
        .expect("run");
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already imported as run 1"));

    let show = heaplab(&db)
        .args(["runs", "show", "1"])
        .output()
        .expect("show");
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("verdict: FAIL"), "{text}");
    assert!(text.contains("hin_min              18000 B"), "{text}");
    assert!(text.contains("hb → http_macros_post_parsed"), "{text}");

    let cmp = heaplab(&db)
        .args(["compare", "1", "2"])
        .output()
        .expect("compare");
    let text = String::from_utf8_lossy(&cmp.stdout);
    assert!(cmp.status.success());
    assert!(text.contains("(only in B)"), "{text}");
    assert!(text.contains("+160000"), "{text}");

    let list = heaplab(&db).args(["runs", "list"]).output().expect("list");
    assert!(String::from_utf8_lossy(&list.stdout).contains("desk-s4-crash.log"));

    let export_dir = dir.path().join("exported");
    let export = heaplab(&db)
        .args(["runs", "export", "2", "--out"])
        .arg(&export_dir)
        .output()
        .expect("export");
    assert!(export.status.success());
    assert!(export_dir.join("summary.md").is_file());
}

#[test]
fn errors_are_one_line_and_exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_db(dir.path(), "cli.db");

    let missing = heaplab(&db)
        .args(["runs", "show", "42"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.trim(), "error: run 42 not found");

    let bad = heaplab(&db)
        .arg("import")
        .arg(dir.path().join("nope"))
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read"));

    let usage = heaplab(&db)
        .args(["runs", "show", "not-a-number"])
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(2));
}
