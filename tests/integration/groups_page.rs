//! The group page over real HTTP: members, statistics, the noise call
//! against the previous group of the scenario (or a named one), the
//! members overlaid in one chart, and "add to experiment" as a plain form.

use heaplab::store::Store;
use heaplab::web::access::urlencode;
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::helpers::*;

/// A serial log of one boot whose internal minimum bottoms out at `hin`.
fn log_with_low_water(hin: i64) -> String {
    let lines = [
        "ESP-ROM:esp32s3-20210327".to_owned(),
        "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)".to_owned(),
        "[System Boot] Starting...".to_owned(),
        "[Mem] boot hf=250000 hm=249000 hl=200000 hi=250000 hin=249000 frag=20 pf=8300000 pm=8300000 pl=8200000".to_owned(),
        format!("[Mem] http_root hf={hin} hm={hin} hl=60000 hi={hin} hin={hin} frag=30 pf=8270000 pm=8268000 pl=8180000"),
        format!("[Mem] hb hf=170000 hm={hin} hl=100000 hi=170000 hin={hin} frag=20 pf=8275000 pm=8268000 pl=8185000"),
    ];
    lines.join("\r\n") + "\r\n"
}

/// Imports one log per low-water mark and groups the runs as one repeat.
async fn group_of(
    store: &Store,
    dir: &std::path::Path,
    label: &str,
    marks: &[i64],
) -> (i64, Vec<i64>) {
    let mut runs = Vec::new();
    for (i, hin) in marks.iter().enumerate() {
        let path = dir.join(format!("{label}-{i}.log").replace(['<', '>', '/'], "_"));
        std::fs::write(&path, log_with_low_water(*hin)).expect("write log");
        runs.push(import(store, &path).await.run_id);
    }
    let id = store
        .create_group(Some("S4"), Some(label), None, &runs)
        .await
        .expect("create group");
    (id, runs)
}

/// An HTML form's body, as a browser sends it.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `raw` appears in `html` as text: escaped the way askama escapes
/// (`&#60;`, `&#62;`, `&#34;`, `&#39;`, `&#38;`), never as markup.
fn shows_as_text(html: &str, raw: &str) -> bool {
    let escaped = raw
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    html.contains(&escaped) && !html.contains(raw)
}

async fn page(url: &str) -> (StatusCode, String) {
    let r = reqwest::get(url).await.expect("GET");
    (r.status(), r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_page_shows_members_stats_the_noise_call_and_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let store = &server.store;
    let (before, _) = group_of(store, dir.path(), "before", &[120_000, 121_000, 119_000]).await;
    let hostile = "<b>tuned</b>";
    let (after, after_runs) =
        group_of(store, dir.path(), hostile, &[150_000, 152_000, 151_000]).await;

    // The newer group is judged against the older one of its scenario.
    let (status, html) = page(&format!("{base}/groups/{after}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("Group g{after}")));
    assert!(shows_as_text(&html, hostile), "the label is text");
    for run in &after_runs {
        assert!(
            html.contains(&format!("href=\"/runs/{run}\"")),
            "member {run} linked"
        );
    }
    assert!(
        html.contains(&format!("href=\"/groups/{before}\"")),
        "the baseline is linked"
    );
    assert!(
        html.contains("real change"),
        "ranges 119–121 KB and 150–152 KB do not overlap"
    );
    assert!(html.contains("hin_min better"));
    // hin_min over the group: min 150,000 B, median 151,000 B, max 152,000 B.
    assert!(html.contains("150,000 B") && html.contains("151,000 B") && html.contains("152,000 B"));
    assert!(html.contains(&format!("/charts/groups/{after}.svg?metric=hin")));
    assert!(html.contains(&format!("/compare?a=g{before}&#38;b=g{after}")));

    // The first group has nothing older: the page says so and offers a pick.
    let (_, html) = page(&format!("{base}/groups/{before}")).await;
    assert!(html.contains("No older group ran this scenario"));
    // Named explicitly, the other way round, it is a real change for the worse.
    let (_, html) = page(&format!("{base}/groups/{before}?vs=g{after}")).await;
    assert!(html.contains("hin_min worse"), "judged against g{after}");
    // Against itself, nothing changed.
    let (_, html) = page(&format!("{base}/groups/{after}?vs=g{after}")).await;
    assert!(html.contains("within noise"));
    assert!(!html.contains("hin_min better"));
    // A baseline that is not one is a clear 400, not a 500.
    let (status, html) = page(&format!("{base}/groups/{after}?vs=nonsense")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not a run id"), "{html}");
    let (status, _) = page(&format!("{base}/groups/9999")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One chart, one line per member; the hostile label is escaped in it.
    let (status, svg) = page(&format!(
        "{base}/charts/groups/{after}.svg?metric=hin&align=tag"
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("(3 runs) [B]"), "{svg}");
    assert!(svg.contains("&lt;b&gt;tuned"));
    assert!(!svg.contains("<b>"));
    let hover = get_json(&format!("{base}/charts/groups/{after}.json?metric=hin")).await;
    assert_eq!(hover["series"].as_array().unwrap().len(), 3);
    let (status, _) = page(&format!("{base}/charts/groups/{after}.svg?a=1&b=2")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a and b belong to the comparison chart"
    );

    // Run pages link the groups their run belongs to.
    let (_, html) = page(&format!("{base}/runs/{}", after_runs[0])).await;
    assert!(html.contains(&format!("href=\"/groups/{after}\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_to_experiment_is_a_form_that_links_a_new_or_existing_row() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let store = &server.store;
    let (group, runs) = group_of(store, dir.path(), "tuned", &[150_000, 152_000]).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let post = |fields: &[(&str, &str)]| {
        client
            .post(format!("{base}/groups/{group}/experiments"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
    };

    // A new row needs its change; nothing is created without one.
    let r = post(&[("experiment", "new"), ("change", "  ")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("needs its change"));
    assert!(store.experiments().await.unwrap().is_empty());

    let r = post(&[
        ("experiment", "new"),
        ("change", "JSON docs to PSRAM <fast>"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/experiments#exp-")
        .unwrap()
        .parse()
        .unwrap();
    let view = get_json(&format!("{base}/api/v1/experiments/{id}")).await;
    assert_eq!(view["group_ids"], serde_json::json!([group]));
    assert_eq!(view["run_ids"], serde_json::json!(runs));
    assert_eq!(view["scenarios"], "S4 ×2");
    assert_eq!(view["change"], "JSON docs to PSRAM <fast>");

    // Linking again to the same row is harmless; an unknown row is a 404.
    let again = post(&[("experiment", &id.to_string())]).await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(store.experiments().await.unwrap().len(), 1);
    let r = post(&[("experiment", "4242")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post(&[("experiment", "seven")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Both pages link each other.
    let (_, html) = page(&format!("{base}/experiments")).await;
    assert!(html.contains(&format!("href=\"/groups/{group}\"")));
    assert!(shows_as_text(&html, "JSON docs to PSRAM <fast>"));
    let (_, html) = page(&format!("{base}/groups/{group}")).await;
    assert!(html.contains(&format!("href=\"/experiments#exp-{id}\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_recorded_apart_become_a_group_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let (_, runs) = group_of(&server.store, dir.path(), "by-hand", &[130_000, 131_000]).await;
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        client
            .post(format!("{base}/api/v1/groups"))
            .json(&body)
            .send()
    };
    let r = post(serde_json::json!({"runs": runs, "scenario": "S4", "label": "picked <by> hand"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["runs"], serde_json::json!(runs));
    assert_eq!(doc["label"], "picked <by> hand");
    assert_eq!(doc["stats"][0]["metric"], "hin_min");
    assert_eq!(doc["stats"][0]["min"], 130_000);
    // The group made by group_of is the same scenario and older: the call.
    assert_eq!(
        doc["noise_call"]["comparison"]["metrics"][0]["judgement"],
        "within noise"
    );

    for (body, want) in [
        (serde_json::json!({"runs": []}), StatusCode::BAD_REQUEST),
        (
            serde_json::json!({"runs": [runs[0], runs[0]]}),
            StatusCode::BAD_REQUEST,
        ),
        (serde_json::json!({"runs": [4242]}), StatusCode::NOT_FOUND),
        (
            serde_json::json!({"runs": [runs[0]], "device_id": 77}),
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"runs": [runs[0]], "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), want, "{body}");
    }
    let listed = get_json(&format!("{base}/api/v1/groups")).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "only the good request made a group"
    );
}
