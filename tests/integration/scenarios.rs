//! The scenario runner against device twins: each built-in makes exactly
//! the requests it should, s6 catches the crash, repeat groups compute the
//! statistics, the CI gate, and errors in scenario files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use heaplab::analysis::AcceptanceCriteria;
use heaplab::cli::scenario::{execute, DeviceTarget, RunArgs, RunSummary};
use heaplab::report::RunDocument;
use heaplab::scenario::groups;
use heaplab::sim::{Profile, Twin, TwinConfig};
use heaplab::store::{DeviceSpec, EventKind, Store};

use crate::helpers::{eventually, get_json, server_config, start_server};

/// A twin with a 50 ms heartbeat, registered in `db` with health polling off
/// (so every request the twin sees is the scenario's own).
async fn setup(dir: &Path, name: &str, profile: Profile) -> (Twin, PathBuf) {
    let mut config = TwinConfig::new(name, profile);
    config.hb_interval = Duration::from_millis(50);
    config.link = Some(dir.join(name));
    let twin = Twin::spawn(config).await.expect("spawn twin");
    let db = crate::helpers::test_db(dir, "scenarios.db");
    let store = Store::open(&db).await.expect("open store");
    store
        .upsert_device(&DeviceSpec {
            name: name.to_owned(),
            serial: Some(twin.serial_path().display().to_string()),
            baud: 115_200,
            url: Some(twin.base_url()),
            health_interval_s: 0,
            auth: None,
            board: Some("virtual".into()),
        })
        .await
        .expect("register twin");
    (twin, db)
}

fn args(scenario: &str, device: &str) -> RunArgs {
    RunArgs {
        scenario: scenario.to_owned(),
        target: DeviceTarget {
            device: Some(device.to_owned()),
            ..Default::default()
        },
        repeat: 1,
        max_regression: 2048,
        non_interactive: true,
        timeout: Some(10.0),
        ..Default::default()
    }
}

async fn run(args: &RunArgs, db: &Path) -> RunSummary {
    execute(args, db, &AcceptanceCriteria::default(), false)
        .await
        .expect("scenario runs")
}

/// The twin's requests as sorted `METHOD path` strings (bursts run in
/// parallel, so order within them is not fixed).
fn requests(twin: &Twin) -> Vec<String> {
    let mut r: Vec<String> = twin
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    r.sort();
    r
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

fn expected(scenario: &str) -> Vec<String> {
    let list: &[&str] = match scenario {
        "s1" => &["POST /api/reboot"],
        "s2" => &[
            "POST /api/reboot",
            "GET /api/health",
            "GET /api/health",
            "GET /",
            "GET /network.html",
            "GET /firmware.html",
        ],
        "s3" => &[
            "POST /api/reboot",
            "GET /api/health",
            "GET /api/health",
            "POST /api/display/image",
            "DELETE /api/display/image",
        ],
        // device-api.md §11, with each stable-health step's two samples.
        "s4" => &[
            "POST /api/reboot",
            "GET /api/health",
            "GET /api/health",
            "GET /api/macros",
            "POST /api/macros",
            "PUT /api/display/screen",
            "PUT /api/display/screen",
            "GET /api/health",
            "GET /api/health",
        ],
        "s5" => &["POST /api/reboot", "GET /api/health"],
        "s6" => &[
            "POST /api/reboot",
            "GET /api/health",
            "GET /api/health",
            "GET /",
            "GET /portal.css",
            "GET /portal.js",
            "GET /api/mode",
            "GET /api/config",
            "GET /api/info",
            "GET /api/macros",
            "GET /api/icons",
            "GET /api/health",
            "GET /api/health",
            "GET /api/macros",
            "POST /api/macros",
            "POST /api/icons/gc",
            "GET /api/config",
            "POST /api/config?no_reboot=1",
            "GET /network.html",
            "GET /portal.css",
            "GET /portal.js",
            "GET /api/mode",
            "GET /api/config",
            "GET /api/info",
            "GET /api/health",
            "GET /api/health",
            "GET /api/health",
            "GET /api/health",
        ],
        other => panic!("no expectation for {other}"),
    };
    sorted(list)
}

async fn builtin_exact_requests(scenario: &str, profile: Profile) {
    let dir = tempfile::tempdir().expect("tmp");
    let name = format!("{scenario}-{}", profile.name());
    let (twin, db) = setup(dir.path(), &name, profile).await;
    let mut a = args(scenario, &name);
    if matches!(scenario, "s3" | "s4" | "s6") {
        // Shorter settles; every request and its expected status as built in.
        a.params = vec![("settle_s".into(), "0.3".into())];
    }
    let summary = run(&a, &db).await;
    let r = &summary.runs[0];
    assert!(
        !r.step_failed,
        "{scenario} on {name}: {:#?}",
        r.steps
            .iter()
            .filter(|s| s.status != heaplab::scenario::StepStatus::Passed)
            .collect::<Vec<_>>()
    );
    assert_eq!(requests(&twin), expected(scenario), "{scenario} on {name}");
    assert_eq!(r.document.run.scenario.as_deref(), Some(scenario));
    assert_eq!(r.document.run.kind, heaplab::store::RunKind::Scenario);
    // Tuned passes the acceptance criteria; baseline does not.
    assert_eq!(
        r.document.report.verdict.pass,
        profile == Profile::Tuned,
        "{scenario} on {name}: {:?}",
        r.document.report.verdict
    );
    let store = Store::open(&db).await.expect("store");
    let steps = store
        .events(r.run_id, &[EventKind::Step])
        .await
        .expect("events");
    assert!(steps
        .iter()
        .any(|e| e.data["status"] == "passed" && e.data["ms"].is_u64()));
    let http = store
        .events(r.run_id, &[EventKind::Http])
        .await
        .expect("events");
    assert_eq!(
        http.len(),
        expected(scenario).len(),
        "{scenario}: http events"
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s1_baseline_and_tuned() {
    builtin_exact_requests("s1", Profile::Baseline).await;
    builtin_exact_requests("s1", Profile::Tuned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s2_baseline_and_tuned() {
    builtin_exact_requests("s2", Profile::Baseline).await;
    builtin_exact_requests("s2", Profile::Tuned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s3_uploads_a_real_jpeg_and_expects_2xx() {
    builtin_exact_requests("s3", Profile::Baseline).await;
    builtin_exact_requests("s3", Profile::Tuned).await;
}

/// The biggest drop of the internal low-water mark into an `img` tag.
async fn s3_image_cliff(profile: Profile) -> i64 {
    let dir = tempfile::tempdir().expect("tmp");
    let name = format!("s3cliff-{}", profile.name());
    let (twin, db) = setup(dir.path(), &name, profile).await;
    let mut a = args("s3", &name);
    a.params = vec![("settle_s".into(), "0.3".into())];
    let summary = run(&a, &db).await;
    let r = &summary.runs[0];
    assert!(!r.step_failed, "{:#?}", r.steps);
    let cliffs = &r.document.report.cliffs;
    twin.shutdown().await;
    cliffs
        .hin
        .iter()
        .filter(|c| c.tag_after.starts_with("img "))
        .map(|c| c.drop)
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s3_shows_an_image_cliff_on_baseline_and_none_on_tuned() {
    let baseline = s3_image_cliff(Profile::Baseline).await;
    assert!(baseline >= 10_000, "baseline img cliff {baseline} B");
    let tuned = s3_image_cliff(Profile::Tuned).await;
    assert!(tuned < 1_024, "tuned img cliff {tuned} B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s4_baseline_and_tuned() {
    builtin_exact_requests("s4", Profile::Baseline).await;
    builtin_exact_requests("s4", Profile::Tuned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s5_notes_missing_mqtt() {
    builtin_exact_requests("s5", Profile::Baseline).await;
    builtin_exact_requests("s5", Profile::Tuned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s5_waits_for_mqtt_tags() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = crate::mosquitto::Broker::start();
    let mut config = TwinConfig::new("mqtt", Profile::Tuned);
    config.hb_interval = Duration::from_millis(50);
    config.link = Some(dir.path().join("mqtt"));
    config.mqtt = Some(broker.addr().parse().expect("broker"));
    let twin = Twin::spawn(config).await.expect("twin");
    let db = crate::helpers::test_db(dir.path(), "s.db");
    let store = Store::open(&db).await.expect("store");
    store
        .create_device(&DeviceSpec {
            name: "mqtt".into(),
            serial: Some(twin.serial_path().display().to_string()),
            url: Some(twin.base_url()),
            health_interval_s: 0,
            baud: 115_200,
            ..Default::default()
        })
        .await
        .expect("device");
    let summary = run(&args("s5", "mqtt"), &db).await;
    let r = &summary.runs[0];
    assert!(!r.step_failed, "{:#?}", r.steps);
    assert!(r
        .steps
        .iter()
        .filter(|s| s.step_type == "wait_for")
        .all(|s| s.status == heaplab::scenario::StepStatus::Passed));
    assert!(r
        .document
        .report
        .derived
        .tags
        .iter()
        .any(|t| t == "mqtt_first_publish"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s6_baseline_and_tuned() {
    builtin_exact_requests("s6", Profile::Baseline).await;
    builtin_exact_requests("s6", Profile::Tuned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s6_on_crash_twin_records_panic_reboot_and_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let (twin, db) = setup(dir.path(), "crashy", Profile::Crash).await;
    let summary = run(&args("s6", "crashy"), &db).await;
    assert!(!summary.pass);
    let r = &summary.runs[0];
    assert!(r.step_failed, "the icons gc step fails with a 500");
    let failed: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.status == heaplab::scenario::StepStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "post_/api/icons/gc");
    assert!(failed[0].detail.contains("500"), "{}", failed[0].detail);
    let d = &r.document.report.derived;
    assert!(d.panic.detected, "{d:?}");
    assert!(d
        .panic
        .line
        .as_deref()
        .is_some_and(|l| l.contains("Guru Meditation") || l.contains("canary")));
    // The scenario's own reboot, then the crash's.
    assert!(d.reboots >= 2, "reboots {}", d.reboots);
    assert!(!r.document.report.verdict.pass);
    assert_eq!(r.document.run.status, heaplab::store::RunStatus::Failed);
    // Nothing after the failed step was requested.
    let reqs = requests(&twin);
    assert!(!reqs.iter().any(|r| r.contains("/api/config?no_reboot=1")));
    assert!(reqs.iter().any(|r| r == "POST /api/icons/gc"));
}

const QUICK: &str = r#"
name = "quick"
title = "reboot + ready + one heartbeat"

[[step]]
type = "reboot"

[[step]]
type = "wait_ready"

[[step]]
type = "wait_heartbeat"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_repeat_group_statistics() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_twin, db) = setup(dir.path(), "rep", Profile::Baseline).await;
    let file = dir.path().join("quick.toml");
    std::fs::write(&file, QUICK).expect("write");
    let mut a = args(file.to_str().expect("utf8"), "rep");
    a.repeat = 5;
    let summary = run(&a, &db).await;
    assert_eq!(summary.runs.len(), 5);
    let group_id = summary.group_id.expect("a group");

    // By hand, from the stored runs.
    let store = Store::open(&db).await.expect("store");
    let doc = groups::group_document(&store, group_id, &AcceptanceCriteria::default())
        .await
        .expect("group");
    assert_eq!(
        doc.group.runs,
        summary.runs.iter().map(|r| r.run_id).collect::<Vec<_>>()
    );
    let mut derived = Vec::new();
    for id in &doc.group.runs {
        derived.push(
            RunDocument::load(&store, *id, &AcceptanceCriteria::default())
                .await
                .expect("run")
                .report
                .derived,
        );
    }
    type Getter = fn(&heaplab::analysis::Derived) -> Option<i64>;
    let metrics: [(&str, Getter); 8] = [
        ("hin_min", |d| d.hin_min),
        ("hm_min", |d| d.hm_min),
        ("pf_min", |d| d.pf_min),
        ("pm_min", |d| d.pm_min),
        ("frag_max", |d| d.frag_max),
        ("steady_frag_max", |d| d.steady_frag_max),
        ("alloc_failures", |d| Some(d.alloc_failures)),
        ("reboots", |d| Some(d.reboots)),
    ];
    for (name, get) in metrics {
        let mut v: Vec<i64> = derived.iter().filter_map(get).collect();
        v.sort();
        assert_eq!(v.len(), 5, "{name}");
        let s = doc.stats.iter().find(|s| s.metric == name).expect("metric");
        assert_eq!(s.n, 5);
        assert_eq!(s.min, Some(v[0]), "{name} min");
        assert_eq!(s.max, Some(v[4]), "{name} max");
        assert_eq!(s.median, Some(v[2] as f64), "{name} median");
        let mean = v.iter().sum::<i64>() as f64 / 5.0;
        assert!((s.mean.expect("mean") - mean).abs() < 1e-9, "{name} mean");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_gate_passes_tuned_against_baseline_and_fails_reverse() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_base, db) = setup(dir.path(), "gate-base", Profile::Baseline).await;
    let (_tuned, _) = setup(dir.path(), "gate-tuned", Profile::Tuned).await;
    let file = dir.path().join("quick.toml");
    std::fs::write(&file, QUICK).expect("write");
    let scenario = file.to_str().expect("utf8");

    let mut a = args(scenario, "gate-base");
    a.repeat = 2;
    let base_group = run(&a, &db).await.group_id.expect("group");
    let mut a = args(scenario, "gate-tuned");
    a.repeat = 2;
    let tuned_group = run(&a, &db).await.group_id.expect("group");

    let mut a = args(scenario, "gate-tuned");
    a.baseline = Some(format!("g{base_group}"));
    let s = run(&a, &db).await;
    let gate = s.gate.expect("gate");
    assert!(gate.pass, "{}", gate.markdown());
    assert!(s.pass);
    assert!(gate.markdown().contains("| `setup` |"));

    let mut a = args(scenario, "gate-base");
    a.baseline = Some(format!("g{tuned_group}"));
    let s = run(&a, &db).await;
    let gate = s.gate.expect("gate");
    assert!(!gate.pass, "{}", gate.markdown());
    assert!(!s.pass);
    assert!(gate.markdown().contains("**regressed**"));

    // The same two groups compared: a real change in hin_min.
    let store = Store::open(&db).await.expect("store");
    let c = groups::compare_specs(
        &store,
        &format!("g{base_group}"),
        &format!("g{tuned_group}"),
        &AcceptanceCriteria::default(),
    )
    .await
    .expect("compare");
    let hin = c
        .metrics
        .iter()
        .find(|m| m.metric == "hin_min")
        .expect("hin");
    assert_eq!(hin.judgement, "real change");
    assert_eq!(hin.direction, "better");
}

#[tokio::test]
async fn scenario_malformed_file_names_line_and_step() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n\n[[step]]\ntype = \"reboot\"\n\n[[step]]\ntype = \"http\"\nmethod = \"GET\"\npth = \"/\"\n",
    )
    .expect("write");
    let a = args(file.to_str().expect("utf8"), "nobody");
    let e = execute(
        &a,
        &crate::helpers::test_db(dir.path(), "x.db"),
        &AcceptanceCriteria::default(),
        false,
    )
    .await
    .expect_err("bad file");
    let msg = e.to_string();
    assert!(msg.contains("line 6"), "{msg}");
    assert!(msg.contains("step 2 (http)"), "{msg}");
    assert!(msg.contains("pth"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_api_lists_builtins_and_runs_on_a_device() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = TwinConfig::new("api-twin", Profile::Tuned);
    config.hb_interval = Duration::from_millis(50);
    config.link = Some(dir.path().join("api-twin"));
    let twin = Twin::spawn(config).await.expect("twin");
    let spec = DeviceSpec {
        name: "api-twin".into(),
        serial: Some(twin.serial_path().display().to_string()),
        url: Some(twin.base_url()),
        health_interval_s: 0,
        baud: 115_200,
        ..Default::default()
    };
    let server = start_server(server_config(dir.path(), vec![spec])).await;
    let base = server.url();
    let list = get_json(&format!("{base}/api/v1/scenarios")).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["s1", "s2", "s3", "s4", "s5", "s6", "prompt"]);
    assert!(list[0]["file"]
        .as_str()
        .is_some_and(|f| f.contains("[[step]]")));

    let device = server
        .store
        .device_by_name("api-twin")
        .await
        .expect("db")
        .expect("device");
    // Let the serial source read the power-on boot log first.
    eventually("serial online", Duration::from_secs(60), || async {
        server
            .recorder
            .hub()
            .device(device.id)
            .filter(|d| d.serial_online)
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/devices/{}/scenario", device.id))
        .json(&serde_json::json!({"scenario": "s1", "options": {"timeout_s": 10}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    let run_id = body["run_id"].as_i64().expect("run id");
    let run = eventually("scenario run ends", Duration::from_secs(60), || {
        let url = format!("{base}/api/v1/runs/{run_id}");
        async move {
            let run = get_json(&url).await;
            (run["run"]["status"] != "active").then_some(run)
        }
    })
    .await;
    assert_eq!(run["run"]["status"], "completed", "{run}");
    assert_eq!(run["run"]["kind"], "scenario");
    let steps = get_json(&format!("{base}/api/v1/runs/{run_id}/events?kind=step")).await;
    assert!(steps
        .as_array()
        .expect("array")
        .iter()
        .any(|e| e["data"]["name"] == "wait_heartbeat" && e["data"]["status"] == "passed"));
    let bad = reqwest::Client::new()
        .post(format!("{base}/api/v1/devices/{}/scenario", device.id))
        .json(&serde_json::json!({"scenario": "s9"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(bad.status(), 400);
    server.stop().await.expect("stop");
}
