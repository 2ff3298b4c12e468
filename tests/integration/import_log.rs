//! The hand-written serial log fixture imports to exactly the numbers worked
//! out by hand in the comments below.

use heaplab::protocol::TaskStack;
use heaplab::store::EventKind;

use crate::helpers::*;

#[tokio::test]
async fn serial_log_imports_to_hand_computed_metrics() {
    let (store, _dir) = store().await;
    let outcome = import(&store, &fixture(CRASH_LOG)).await;
    assert!(!outcome.already_imported);
    assert_eq!(outcome.lines, 55, "every line is kept, garbage included");
    assert_eq!(outcome.snapshots, 21);

    let doc = document(&store, outcome.run_id).await;
    let d = &doc.report.derived;
    assert_eq!(d.hin_min, Some(18_000));
    assert_eq!(d.hm_min, Some(18_000));
    assert_eq!(d.pf_min, Some(8_150_000));
    // http_firmware has no pm key: missing, not zero.
    assert_eq!(d.pm_min, Some(8_140_000));
    assert_eq!(d.frag_max, Some(68));
    // hb frags: 38, 41, 38, 33 | 37, 37, 37, 37
    assert_eq!(d.steady_frag_max, Some(41));
    assert_eq!(
        d.tags,
        [
            "boot",
            "setup",
            "hb",
            "http_root",
            "http_network",
            "http_firmware",
            "http_macros_post_parsed",
            "http_macros_post_saved",
            "lvgl_switch_pre_macro1",
            "lvgl_switch_post_macro1",
            "http_icons_gc"
        ]
    );
    assert!(d.tripwire.fired);
    assert_eq!(d.tripwire.tag.as_deref(), Some("http_macros_post_saved"));
    assert_eq!(d.tripwire.hin, Some(21_000));
    assert_eq!(d.tripwire.threshold, Some(30_720));
    let worst: Vec<(&str, i64)> = d
        .tripwire
        .worst_stacks
        .iter()
        .map(|t: &TaskStack| (t.name.as_str(), t.stack_rem.unwrap_or(-1)))
        .collect();
    assert_eq!(
        worst,
        [
            ("ipc0", 76),
            ("ipc1", 84),
            ("async_tcp", 420),
            ("IDLE0", 600),
            ("loopTask", 1200),
            ("wifi", 1500)
        ]
    );
    assert_eq!(d.tripwire.worst_stacks[5].core, Some(2_147_483_647));
    assert_eq!(d.tripwire.worst_stacks[2].core, Some(-1));
    assert!(d.panic.detected);
    assert_eq!(d.panic.kind.as_deref(), Some("guru_meditation"));
    assert_eq!(d.panic.line_no, Some(36));
    assert_eq!(
        d.panic.line.as_deref(),
        Some("Guru Meditation Error: Core  1 panic'ed (Unhandled debug exception).")
    );
    assert_eq!(d.alloc_failures, 1);
    assert_eq!(d.reboots, 1);

    // Every check fails, each with its measured value.
    let v = &doc.report.verdict;
    assert!(!v.pass);
    let checks: Vec<(&str, Option<i64>, bool)> = v
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.measured, c.pass))
        .collect();
    assert_eq!(
        checks,
        [
            ("hin_min", Some(18_000), false),
            ("steady_frag_max", Some(41), false),
            ("tripwire", Some(1), false),
            ("crash", Some(1), false),
            ("alloc_failures", Some(1), false),
        ]
    );

    // hi drops within a boot: hb→parsed 112000, boot→setup 70000 (both
    // boots), hb→http_root 58000 then 49000.
    let hi: Vec<(i64, &str, &str)> = doc
        .report
        .cliffs
        .hi
        .iter()
        .map(|c| (c.drop, c.tag_before.as_str(), c.tag_after.as_str()))
        .collect();
    assert_eq!(
        hi,
        [
            (112_000, "hb", "http_macros_post_parsed"),
            (70_000, "boot", "setup"),
            (70_000, "boot", "setup"),
            (58_000, "hb", "http_root"),
            (49_000, "hb", "http_root"),
        ]
    );
    let hin: Vec<(i64, &str, &str)> = doc
        .report
        .cliffs
        .hin
        .iter()
        .map(|c| (c.drop, c.tag_before.as_str(), c.tag_after.as_str()))
        .collect();
    assert_eq!(
        hin,
        [
            (74_000, "boot", "setup"),
            (74_000, "boot", "setup"),
            (63_000, "hb", "http_macros_post_parsed"),
            (57_000, "hb", "http_root"),
            (51_000, "hb", "http_root"),
        ]
    );
}

#[tokio::test]
async fn serial_log_keeps_unknown_keys_events_and_firmware() {
    let (store, _dir) = store().await;
    let outcome = import(&store, &fixture(CRASH_LOG)).await;
    let doc = document(&store, outcome.run_id).await;
    assert_eq!(doc.run.firmware_version.as_deref(), Some("v1.5.0"));
    let snapshots = store.snapshots(doc.run.id).await.expect("snapshots");
    let network = snapshots
        .iter()
        .find(|s| s.snapshot.tag == "http_network")
        .expect("http_network snapshot");
    assert_eq!(
        network.snapshot.extras,
        [("newkey".to_owned(), "7".to_owned())]
    );
    assert_eq!(network.elapsed_ms, Some(2));
    let firmware = snapshots
        .iter()
        .find(|s| s.snapshot.tag == "http_firmware")
        .expect("http_firmware");
    assert_eq!(firmware.snapshot.pm, None);
    assert_eq!(firmware.snapshot.hin, Some(115_000));

    let events = store.events(outcome.run_id, &[]).await.expect("events");
    let kinds = |k: &str| events.iter().filter(|e| e.kind.as_str() == k).count();
    assert_eq!(
        kinds("boot"),
        6,
        "ROM banner, rst: and [System Boot], twice"
    );
    assert_eq!(kinds("task"), 8);
    assert_eq!(kinds("ip"), 2);
    assert_eq!(kinds("ready"), 2);
    assert_eq!(kinds("stack_watermark"), 1);
    // guru, stack canary, backtrace
    assert_eq!(kinds("crash"), 3);
    let canary = events
        .iter()
        .find(|e| e.data["kind"] == "stack_canary")
        .expect("stack canary event");
    assert_eq!(canary.data["task"], "async_tcp");
    let backtrace = events
        .iter()
        .find(|e| e.data["kind"] == "backtrace")
        .expect("backtrace event");
    assert_eq!(backtrace.data["backtrace"][0][0], 0x4037_a1b2_u32);
    assert_eq!(
        backtrace.data["backtrace"].as_array().map(Vec::len),
        Some(3)
    );
    // The second boot's events belong to boot segment 1.
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Ip)
            .map(|e| e.boot)
            .collect::<Vec<_>>(),
        [0, 1]
    );

    // The garbage line is stored (lossy), not dropped.
    let page = store
        .serial_lines(outcome.run_id, 0, 100, Some("garbage"))
        .await
        .expect("serial search");
    assert_eq!(page.total, 1);
    assert!(page.lines[0].text.contains('\u{FFFD}'));
}

#[tokio::test]
async fn importing_the_same_log_twice_names_the_existing_run() {
    let (store, _dir) = store().await;
    let first = import(&store, &fixture(CRASH_LOG)).await;
    let second = import(&store, &fixture(CRASH_LOG)).await;
    assert!(second.already_imported);
    assert_eq!(second.run_id, first.run_id);
    let runs = store.runs(&Default::default()).await.expect("runs");
    assert_eq!(runs.len(), 1);
}

/// An import stores its lines packed in blocks of 2,000; every page of
/// the serial log, and a search, still shows each line once, in order,
/// byte for byte (quotes, backslashes, non-ASCII and a lossy byte too).
#[tokio::test]
async fn imported_lines_are_packed_and_read_back_exactly() {
    let (store, dir) = store().await;
    let total = 2 * heaplab::store::BLOCK_LINES as usize + 537;
    let expected: Vec<String> = (0..total)
        .map(|i| match i % 5 {
            0 => format!("[Mem] hb hf=100 hm=90 hl=80 hi={i} hin=500 frag=3"),
            1 => format!("I (123) wifi: \"quoted\" \\ back {i}"),
            2 => format!("lossy \u{FFFD} line {i}"),
            3 => format!("héllo 🙂 {i}"),
            _ => format!("plain {i}"),
        })
        .collect();
    let mut bytes = Vec::new();
    for (i, line) in expected.iter().enumerate() {
        if i % 5 == 2 {
            // The source has a raw invalid byte where the store keeps U+FFFD.
            bytes.extend_from_slice(b"lossy \xFF");
            bytes.extend_from_slice(format!(" line {i}").as_bytes());
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
        bytes.push(b'\n');
    }
    let path = dir.path().join("long.log");
    std::fs::write(&path, &bytes).expect("write log");

    let outcome = import(&store, &path).await;
    assert_eq!(outcome.lines, total as i64);
    assert!(store
        .has_serial_blocks(outcome.run_id)
        .await
        .expect("blocks"));

    let mut seen = Vec::new();
    for offset in (0..total as i64).step_by(777) {
        let page = store
            .serial_lines(outcome.run_id, offset, 777, None)
            .await
            .expect("page");
        assert_eq!(page.total, total as i64);
        seen.extend(page.lines.into_iter().map(|l| l.text));
    }
    assert_eq!(seen.len(), expected.len());
    let first_difference = seen.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "line differs from the source");

    let hits = store
        .serial_lines(outcome.run_id, 0, 10_000, Some("HÉLLO"))
        .await
        .expect("search");
    assert_eq!(
        hits.total, 0,
        "like SQLite's LIKE, case folding is ASCII only"
    );
    let hits = store
        .serial_lines(outcome.run_id, 0, 10_000, Some("QUOTED\" \\ BACK 4001"))
        .await
        .expect("search");
    assert_eq!(hits.lines.len(), 1);
    assert_eq!(hits.lines[0].text, expected[4001]);
}
