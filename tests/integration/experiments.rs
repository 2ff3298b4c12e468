//! The experiments log: Markdown round trip on the plan's own tables, and
//! metric cells computed from real twin runs in the plan's notation.

use std::process::Command;
use std::time::Duration;

use heaplab::experiments::markdown::{parse_tables, Section};
use heaplab::sim::Profile;
use serde_json::{json, Value};

use crate::helpers::*;

fn heaplab(db: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    cmd.arg("--db").arg(db).env_remove("HEAPLAB_DB");
    cmd
}

#[test]
fn plan_tables_round_trip_through_import_and_export() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_db(dir.path(), "exp.db");
    let plan = fixture("experiments/plan-tables.md");
    let original = parse_tables(&std::fs::read_to_string(&plan).expect("fixture")).expect("tables");
    assert_eq!(
        original
            .iter()
            .filter(|r| r.section == Section::Log)
            .count(),
        11
    );
    assert_eq!(
        original
            .iter()
            .filter(|r| r.section == Section::History)
            .count(),
        1
    );

    let out = heaplab(&db)
        .args(["experiments", "import"])
        .arg(&plan)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("12 experiment row(s) imported"));

    let export = heaplab(&db)
        .args(["experiments", "export", "--format", "markdown"])
        .output()
        .expect("export");
    assert!(export.status.success());
    let text = String::from_utf8(export.stdout).expect("utf-8");
    let round = parse_tables(&text).expect("exported tables parse");
    assert_eq!(round, original, "same rows and cells after import → export");

    // The awkward cells survive byte for byte.
    let odd = round
        .iter()
        .find(|r| r.cells[1].starts_with("feature/ünïcode"))
        .expect("edge row");
    assert_eq!(odd.cells[3], "Pipe in a cell: `a | b` and a|b; émoji 🚀");
    assert_eq!(odd.cells[4], "");
    assert_eq!(odd.cells[5], "`20260110_090000_s2`");
    assert_eq!(odd.cells[10], "Empty cells above; “quotes” and — dashes");
    assert!(
        text.contains("`a \\| b`"),
        "pipes are escaped again on export"
    );
    let s2 = round
        .iter()
        .find(|r| r.cells[4] == "S2 (portal load) ×5")
        .expect("S2 row");
    assert_eq!(s2.cells[6], "20772–20912 (avg 20884)");

    // Importing again adds nothing; the exported file imports into a fresh
    // database to the same rows.
    let again = heaplab(&db)
        .args(["experiments", "import"])
        .arg(&plan)
        .output()
        .expect("again");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 experiment row(s) imported, 12 already")
    );
    let exported = dir.path().join("log.md");
    std::fs::write(&exported, &text).expect("write");
    let db2 = test_db(dir.path(), "exp2.db");
    assert!(heaplab(&db2)
        .args(["experiments", "import"])
        .arg(&exported)
        .status()
        .expect("import")
        .success());
    let second = heaplab(&db2)
        .args(["experiments", "export"])
        .output()
        .expect("export");
    assert_eq!(
        parse_tables(&String::from_utf8_lossy(&second.stdout)).expect("parse"),
        original
    );

    for format in ["csv", "json"] {
        let out = heaplab(&db)
            .args(["experiments", "export", "--format", format])
            .output()
            .expect("export");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("ünïcode"));
    }
    let bad = dir.path().join("bad.md");
    std::fs::write(&bad, "| Date | Branch/Commit | Board | Change | Scenario(s) | Notes |\n|---|---|---|---|---|---|\n| a | b |\n").expect("write");
    let out = heaplab(&db)
        .args(["experiments", "import"])
        .arg(&bad)
        .output()
        .expect("bad");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
}

const WAIT: Duration = Duration::from_secs(60);

/// Drives one boot of a twin through the portal's first page load and
/// returns the id of the live run that recorded it.
async fn one_portal_boot(base: &str, device: i64, twin: &heaplab::sim::Twin) -> i64 {
    let run = eventually("an active run", WAIT, || {
        let url = format!("{base}/api/v1/devices/{device}/status");
        async move { get_json(&url).await["live"]["active_run"].as_i64() }
    })
    .await;
    eventually("setup complete", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/events?kind=ready");
        async move { (!get_json(&url).await.as_array()?.is_empty()).then_some(()) }
    })
    .await;
    reqwest::get(format!("{}/", twin.base_url()))
        .await
        .expect("GET /");
    eventually("a heartbeat after the page load", WAIT, || {
        let url = format!("{base}/api/v1/runs/{run}/snapshots");
        async move {
            let rows = get_json(&url).await;
            let rows = rows.as_array()?;
            let root = rows.iter().position(|s| s["tag"] == "http_root")?;
            rows[root..].iter().any(|s| s["tag"] == "hb").then_some(())
        }
    })
    .await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computed_cells_match_hand_computed_values_for_twin_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let base_twin = twin(dir.path(), "exp-baseline", Profile::Baseline).await;
    let tuned_twin = twin(dir.path(), "exp-tuned", Profile::Tuned).await;
    let mut devices = vec![
        twin_device("exp-baseline", &base_twin),
        twin_device("exp-tuned", &tuned_twin),
    ];
    for d in &mut devices {
        d.health_interval_s = 0;
    }
    let server = start_server(server_config(dir.path(), devices)).await;
    let base = server.url();
    let list = get_json(&format!("{base}/api/v1/devices")).await;
    let id_of = |name: &str| {
        list.as_array()
            .and_then(|a| a.iter().find(|d| d["name"] == name))
            .and_then(|d| d["id"].as_i64())
            .expect("device")
    };
    let (b_dev, t_dev) = (id_of("exp-baseline"), id_of("exp-tuned"));

    // Three boots of the baseline twin, each loading the portal once.
    let mut base_runs = Vec::new();
    for i in 0..3 {
        let run = one_portal_boot(&base, b_dev, &base_twin).await;
        base_runs.push(run);
        if i < 2 {
            base_twin.reboot().await;
            eventually("the next live run", WAIT, || {
                let url = format!("{base}/api/v1/devices/{b_dev}/status");
                async move {
                    get_json(&url).await["live"]["active_run"]
                        .as_i64()
                        .filter(|r| *r != run)
                }
            })
            .await;
        }
    }
    let tuned_run = one_portal_boot(&base, t_dev, &tuned_twin).await;
    server.recorder.flush().await;

    // Hand computation from each run's own derived block.
    let mut hins = Vec::new();
    let mut frags = Vec::new();
    let mut pfs = Vec::new();
    let mut trip_hins = Vec::new();
    for run in &base_runs {
        let d = get_json(&format!("{base}/api/v1/runs/{run}")).await["derived"].clone();
        hins.push(d["hin_min"].as_i64().expect("hin_min"));
        frags.push(d["frag_max"].as_i64().expect("frag_max"));
        pfs.push(d["pf_min"].as_i64().expect("pf_min"));
        assert_eq!(
            d["tripwire"]["fired"], true,
            "baseline fires the tripwire on the first page load"
        );
        assert_eq!(d["tripwire"]["tag"], "http_root");
        trip_hins.push(d["tripwire"]["hin"].as_i64().expect("tripwire hin"));
    }
    let range = |v: &[i64]| {
        let (min, max) = (*v.iter().min().expect("min"), *v.iter().max().expect("max"));
        let avg = (v.iter().sum::<i64>() as f64 / v.len() as f64).round() as i64;
        if min == max {
            format!("{min} (avg {avg})")
        } else {
            format!("{min}–{max} (avg {avg})")
        }
    };
    let (tmin, tmax) = (
        trip_hins.iter().min().expect("min"),
        trip_hins.iter().max().expect("max"),
    );
    let trip_hin = if tmin == tmax {
        format!("{tmin}B")
    } else {
        format!("{tmin}–{tmax}B")
    };

    let client = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let client = client.clone();
        async move {
            let r = client.post(url).json(&body).send().await.expect("post");
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.expect("json")
        }
    };
    let before = post(format!("{base}/api/v1/experiments"), json!({"date": "2026-11-25", "branch_commit": "main@aaaa111", "board": "twin", "change": "Baseline", "scenarios": "S2 ×3", "status": "baseline"})).await;
    let b_id = before["id"].as_i64().expect("id");
    for run in &base_runs {
        post(
            format!("{base}/api/v1/experiments/{b_id}/runs"),
            json!({"run_id": run}),
        )
        .await;
    }
    let view = get_json(&format!("{base}/api/v1/experiments/{b_id}")).await;
    assert_eq!(view["cells"][6], range(&hins));
    assert_eq!(view["cells"][7], range(&frags));
    assert_eq!(view["cells"][8], pfs.iter().min().expect("pf").to_string());
    assert_eq!(
        view["cells"][9],
        format!("fired 3/3 @ `http_root` (threshold 30720B, `hin` {trip_hin})")
    );

    let after = post(format!("{base}/api/v1/experiments"), json!({"date": "2026-11-25", "branch_commit": "main@bbbb222 (dirty)", "board": "twin", "change": "Buffers to PSRAM", "scenarios": "S2", "baseline_id": b_id})).await;
    let a_id = after["id"].as_i64().expect("id");
    let view = post(
        format!("{base}/api/v1/experiments/{a_id}/runs"),
        json!({"run_id": tuned_run}),
    )
    .await;
    let tuned_hin = get_json(&format!("{base}/api/v1/runs/{tuned_run}")).await["derived"]
        ["hin_min"]
        .as_i64()
        .expect("hin");
    assert_eq!(view["cells"][6], tuned_hin.to_string());
    assert_eq!(view["cells"][9], "not fired");
    let base_avg = (hins.iter().sum::<i64>() as f64 / hins.len() as f64).round() as i64;
    assert_eq!(view["deltas"]["hin_min"], tuned_hin - base_avg);
    assert!(
        view["deltas"]["hin_min"].as_i64().expect("delta") > 0,
        "tuned is better"
    );

    // The page shows the computed cells with the delta in words.
    let html = reqwest::get(format!("{base}/experiments"))
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&range(&hins)));
    assert!(html.contains("▲ better"));
    let want = format!(
        "/compare?a={}&#38;b={tuned_run}",
        base_runs
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(
        html.contains(&want),
        "{want} in {}",
        &html[html
            .find("compare with")
            .map_or(0, |i| i.saturating_sub(80))..][..100]
    );

    // Bad input is a clear 400, not a 500.
    let r = client
        .put(format!("{base}/api/v1/experiments/{a_id}"))
        .json(&json!({"status": "maybe"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    let r = client
        .put(format!("{base}/api/v1/experiments/{a_id}"))
        .json(&json!({"baseline_id": a_id}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 409);
    server.stop().await.expect("stop");
}

/// A row linked to runs shows computed cells, yet importing the same file
/// again (the demo does at every start) must not add it a second time.
#[tokio::test]
async fn a_linked_row_is_not_imported_twice() {
    let (store, _db) = store().await;
    let criteria = heaplab::analysis::AcceptanceCriteria::default();
    let text = heaplab::demo::example_log::EXAMPLE;
    let first = heaplab::experiments::import_markdown(&store, text, &criteria)
        .await
        .expect("import");
    assert_eq!(first.created.len(), 8);
    let run = import(&store, &fixture(TUNED_FOLDER)).await.run_id;
    store
        .link_experiment_run(first.created[0], run)
        .await
        .expect("link");
    let views = heaplab::experiments::list(&store, &Default::default(), &criteria)
        .await
        .expect("list");
    assert!(views.iter().any(|v| v.computed.is_some()), "a computed row");
    let again = heaplab::experiments::import_markdown(&store, text, &criteria)
        .await
        .expect("import again");
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, 8);
    assert_eq!(store.experiments().await.expect("rows").len(), 8);
}
