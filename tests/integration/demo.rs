//! `heaplab demo` as a new user starts it (the binary, a fresh database, a
//! quick schedule), checked over real HTTP: every part of the story the
//! README promises is there after the first round.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::*;

/// Round 1 with `--repeat 2 --settle 500ms --hb-interval 300` takes well
/// under this on a loaded two-core machine.
const ROUND_TIMEOUT: Duration = Duration::from_secs(50);

/// The demo's stdout, collected as it is printed.
type Lines = Arc<Mutex<Vec<String>>>;

async fn json(url: &str) -> Value {
    get_json(url).await
}

/// The runs of one scenario on one device, oldest first.
async fn scenario_runs(base: &str, device: i64, scenario: &str) -> Vec<Value> {
    let mut runs: Vec<Value> = json(&format!(
        "{base}/api/v1/runs?device={device}&scenario={scenario}&limit=100"
    ))
    .await
    .as_array()
    .expect("runs")
    .clone();
    runs.retain(|r| r["kind"] == "scenario");
    runs.reverse();
    runs
}

fn source_line(file: &str, line: u64) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("firmware source");
    text.lines()
        .nth(line as usize - 1)
        .unwrap_or_else(|| panic!("{} has no line {line}", path.display()))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_the_whole_story_over_http() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_heaplab"));
    command
        .arg("--db")
        .arg(dir.path().join("demo.db"))
        .args(["demo", "--bind", "127.0.0.1:0", "--hb-interval", "300"])
        .args(["--repeat", "2", "--settle", "500ms", "--every", "1h"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HEAPLAB_")) {
        command.env_remove(key);
    }
    let mut child = command.spawn().expect("start heaplab demo");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Lines = Arc::default();
    let collected = lines.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            collected.lock().expect("lines").push(line);
        }
    });
    let printed = |needle: &'static str| {
        let lines = lines.clone();
        move || {
            let lines = lines.clone();
            async move {
                let lines = lines.lock().expect("lines");
                lines.iter().find(|l| l.contains(needle)).cloned()
            }
        }
    };

    // The banner: the URL, what to look at, how to stop.
    let first = eventually(
        "the banner",
        Duration::from_secs(60),
        printed("heaplab demo: open"),
    )
    .await;
    let base = first
        .trim()
        .strip_prefix("heaplab demo: open ")
        .expect("url")
        .to_owned();
    eventually("how to stop", Duration::from_secs(5), printed("Ctrl-C")).await;
    {
        let banner = lines.lock().expect("lines").join("\n");
        for board in [
            "demo-baseline",
            "demo-tuned",
            "demo-leak",
            "demo-crash",
            "demo-flaky",
        ] {
            assert!(banner.contains(board), "{banner}");
        }
        for page in ["/runs", "/compare", "/experiments", "/alerts"] {
            assert!(banner.contains(&format!("{base}{page}")), "{banner}");
        }
    }

    // Round 1 announces each comparison and the crash when it is ready.
    eventually(
        "round 1's S6 comparison",
        ROUND_TIMEOUT,
        printed("round 1, S6:"),
    )
    .await;
    eventually(
        "the crash run",
        ROUND_TIMEOUT,
        printed("demo-crash crashed"),
    )
    .await;

    let devices = json(&format!("{base}/api/v1/devices")).await;
    let devices = devices.as_array().expect("devices");
    assert_eq!(devices.len(), 5);
    let id = |name: &str| {
        devices
            .iter()
            .find(|d| d["name"] == name)
            .and_then(|d| d["id"].as_i64())
            .unwrap_or_else(|| panic!("device {name}"))
    };
    let (baseline, tuned, crash) = (id("demo-baseline"), id("demo-tuned"), id("demo-crash"));

    // Scenario runs of S2, S4 and S6 on both boards, stored as groups.
    let groups = json(&format!("{base}/api/v1/groups")).await;
    let groups = groups.as_array().expect("groups");
    let group = |device: i64, scenario: &str| {
        groups
            .iter()
            .find(|g| g["device_id"] == device && g["scenario"] == scenario)
            .unwrap_or_else(|| panic!("a {scenario} group on device {device}: {groups:?}"))
            .clone()
    };
    for scenario in ["s2", "s4", "s6"] {
        for device in [baseline, tuned] {
            let runs = scenario_runs(&base, device, scenario).await;
            assert!(runs.len() >= 2, "{scenario} on {device}: {runs:?}");
            let g = group(device, scenario);
            assert_eq!(g["runs"].as_array().expect("members").len(), 2, "{g}");
            for member in g["runs"].as_array().expect("members") {
                assert!(runs.iter().any(|r| r["id"] == *member), "{g}");
            }
        }
    }

    // The S2 groups: FAIL → PASS, and a real change, better.
    let (a, b) = (group(baseline, "s2"), group(tuned, "s2"));
    let c = json(&format!(
        "{base}/api/v1/compare?a=g{}&b=g{}",
        a["id"], b["id"]
    ))
    .await;
    assert_eq!(c["pass_a"], 0, "{c}");
    assert_eq!(c["pass_b"], 2, "{c}");
    let hin = c["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["metric"] == "hin_min")
        .expect("hin_min");
    assert_eq!(hin["judgement"], "real change", "{hin}");
    assert_eq!(hin["direction"], "better", "{hin}");

    // A FAIL with a tripwire and its task dump, a PASS without one.
    let failed = json(&format!("{base}/api/v1/runs/{}", a["runs"][0])).await;
    assert_eq!(failed["verdict"]["pass"], false, "{}", failed["verdict"]);
    let tripwire = &failed["derived"]["tripwire"];
    assert_eq!(tripwire["fired"], true, "{tripwire}");
    assert_eq!(tripwire["tag"], "http_root", "{tripwire}");
    assert!(
        !tripwire["worst_stacks"]
            .as_array()
            .expect("task dump")
            .is_empty(),
        "{tripwire}"
    );
    let passed = json(&format!("{base}/api/v1/runs/{}", b["runs"][0])).await;
    assert_eq!(passed["verdict"]["pass"], true, "{}", passed["verdict"]);
    assert_eq!(passed["derived"]["tripwire"]["fired"], false);

    // The crash board's S6: its backtrace decoded through the demo's ELF to
    // functions, files and lines of firmware/src.
    let crash_runs = scenario_runs(&base, crash, "s6").await;
    let crash_run = crash_runs.first().expect("a crash S6 run")["id"].clone();
    let decoded = eventually("decoded frames", Duration::from_secs(60), || {
        let url = format!("{base}/api/v1/runs/{crash_run}/crashes");
        async move {
            let c = json(&url).await;
            let has = c["crashes"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|x| !x["frames"].as_array().is_some_and(Vec::is_empty))
            });
            has.then_some(c)
        }
    })
    .await;
    assert_eq!(decoded["elf"], true, "{decoded}");
    let version = decoded["firmware_version"].as_str().expect("version");
    assert_eq!(heaplab::store::normalize_version(version), "1.5.0-crash");
    let frames: Vec<&Value> = decoded["crashes"]
        .as_array()
        .expect("crashes")
        .iter()
        .flat_map(|c| c["frames"].as_array().expect("frames"))
        .collect();
    assert_eq!(frames.len(), 3, "{decoded}");
    for (i, f) in frames.iter().enumerate() {
        let function = f["function"].as_str().expect("function");
        let file = f["file"].as_str().expect("file");
        let line = f["line"].as_u64().expect("line");
        assert!(file.starts_with("firmware/src/"), "{f}");
        let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .expect("the frame's file exists");
        assert!(
            source.contains(&format!("{function}(")),
            "{file} defines {function}"
        );
        if i > 0 {
            let inner = frames[i - 1]["function"].as_str().expect("inner");
            let at = source_line(file, line);
            assert!(
                at.contains(&format!("{inner}(")),
                "{file}:{line} calls {inner}: {at:?}"
            );
        }
    }
    assert_eq!(frames[1]["function"], "icon_store_gc");
    assert_eq!(frames[1]["file"], "firmware/src/icon_store.cpp");
    assert_eq!(frames[1]["line"], 110);
    let page = reqwest::get(format!("{base}/runs/{crash_run}"))
        .await
        .expect("run page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("icon_store_gc"),
        "the run page shows the frames"
    );
    assert!(page.contains("firmware/src/icon_store.cpp:110"));

    // The experiments log: the bundled example, its rows linked to the
    // demo's groups, the tuned rows measured against the baseline rows.
    let log = json(&format!("{base}/api/v1/experiments")).await;
    let log = log.as_array().expect("experiments");
    let row = |board: &str, scenario: &str| {
        log.iter()
            .find(|e| {
                e["board"] == board
                    && e["scenarios"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(scenario))
            })
            .unwrap_or_else(|| panic!("{board} {scenario} row"))
    };
    let base_row = row("demo-baseline", "S2");
    assert!(
        base_row["group_ids"]
            .as_array()
            .expect("groups")
            .contains(&a["id"]),
        "{base_row}"
    );
    assert!(
        base_row["computed"].is_object(),
        "cells computed from the group"
    );
    let tuned_row = row("demo-tuned", "S2");
    assert!(tuned_row["group_ids"]
        .as_array()
        .expect("groups")
        .contains(&b["id"]));
    assert_eq!(tuned_row["baseline_id"], base_row["id"]);
    assert!(tuned_row["deltas"]["hin_min"].as_i64().expect("Δ hin_min") > 0);
    assert!(!row("demo-crash", "S6")["run_ids"]
        .as_array()
        .expect("runs")
        .is_empty());

    // The leak rule fired into the alert history.
    eventually("the leak alert", Duration::from_secs(30), || {
        let url = format!("{base}/api/v1/alerts");
        async move {
            let a = json(&url).await;
            a["alerts"]
                .as_array()
                .is_some_and(|list| {
                    list.iter()
                        .any(|x| x["kind"] == "leak_above" && x["device_name"] == "demo-leak")
                })
                .then_some(())
        }
    })
    .await;

    // Ctrl-C (SIGTERM): an orderly stop, exit 0.
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the demo stops")
        .expect("wait");
    assert!(status.success(), "{status}");
}
