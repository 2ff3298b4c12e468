//! The compare page's picker over real HTTP: runs and groups found by
//! text, device, scenario and date, paged by keyset, choices kept across
//! filters, labels or "unlabelled", runs still recording marked, and a
//! link that reproduces the page.

use heaplab::store::{NewRun, RunKind, RunStatus, Store};
use reqwest::StatusCode;

use crate::helpers::*;

/// 2026-01-09 00:00:00 UTC.
const DAY: i64 = 1_767_916_800_000_000;
const HOUR: i64 = 3_600_000_000;

async fn run(store: &Store, label: Option<&str>, scenario: Option<&str>, started_us: i64) -> i64 {
    store
        .create_run(&NewRun {
            kind: Some(RunKind::Scenario),
            scenario: scenario.map(str::to_owned),
            label: label.map(str::to_owned),
            started_us,
            ended_us: Some(started_us + HOUR),
            status: Some(RunStatus::Completed),
            ..Default::default()
        })
        .await
        .expect("create run")
}

async fn page(url: &str) -> (StatusCode, String) {
    let r = reqwest::get(url).await.expect("GET");
    (r.status(), r.text().await.expect("body"))
}

/// The `value`s of the picker's radio buttons named `side`, in page order.
fn choices(html: &str, side: &str) -> Vec<String> {
    let marker = format!("type=\"radio\" name=\"{side}\" value=\"");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
        .collect()
}

fn checked(html: &str, side: &str, value: &str) -> bool {
    html.contains(&format!(
        "type=\"radio\" name=\"{side}\" value=\"{value}\" checked"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picker_finds_pages_and_keeps_choices() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let store = &server.store;
    // 30 runs of S4 on the 9th, one an hour; a labelled S2 pair on the 10th.
    let mut s4 = Vec::new();
    for i in 0..30 {
        s4.push(run(store, None, Some("S4"), DAY + i * HOUR / 2).await);
    }
    let before = run(
        store,
        Some("before: PSRAM docs"),
        Some("S2"),
        DAY + 24 * HOUR,
    )
    .await;
    let after = run(
        store,
        Some("after: PSRAM docs 100%_"),
        Some("S2"),
        DAY + 25 * HOUR,
    )
    .await;
    let group = store
        .create_group(Some("S2"), Some("PSRAM docs"), None, &[before, after])
        .await
        .unwrap();

    // Newest first, 25 to a page, and a button for the next page.
    let (status, html) = page(&format!("{base}/compare")).await;
    assert_eq!(status, StatusCode::OK);
    let first: Vec<String> = choices(&html, "a");
    let runs_first: Vec<&String> = first.iter().filter(|v| !v.starts_with('g')).collect();
    assert_eq!(runs_first.len(), 25);
    assert_eq!(runs_first[0], &after.to_string());
    let last_shown = runs_first[24].clone();
    assert!(html.contains(&format!("name=\"after\" value=\"{last_shown}\"")));
    assert!(
        first.contains(&format!("g{group}")),
        "groups are offered too"
    );
    assert!(html.contains(&format!("href=\"/groups/{group}\"")));
    assert!(html.contains("unlabelled"));

    // The next page goes on where the first stopped, and ends.
    let (_, html) = page(&format!("{base}/compare?after={last_shown}")).await;
    let rest: Vec<String> = choices(&html, "a")
        .into_iter()
        .filter(|v| !v.starts_with('g'))
        .collect();
    assert_eq!(rest.len(), 7, "32 runs: 25 then 7");
    assert_eq!(rest[6], s4[0].to_string());
    assert!(!html.contains("name=\"after\""), "no page after the last");

    // Text finds the label (with `%` and `_` taken literally), scenario and date filter.
    let (_, html) = page(&format!("{base}/compare?q=100%25_")).await;
    assert_eq!(
        choices(&html, "a"),
        [after.to_string()],
        "one run, no group"
    );
    let (_, html) = page(&format!("{base}/compare?q=psram")).await;
    assert_eq!(
        choices(&html, "a"),
        [after.to_string(), before.to_string(), format!("g{group}")]
    );
    let (_, html) = page(&format!(
        "{base}/compare?scenario=S2&since=2026-01-10&until=2026-01-10"
    ))
    .await;
    // The group was made today, not on the 10th: its date is its own.
    assert_eq!(choices(&html, "b"), [after.to_string(), before.to_string()]);
    let (_, html) = page(&format!("{base}/compare?scenario=S4&until=2026-01-09")).await;
    assert!(!choices(&html, "a").contains(&after.to_string()));
    let (status, html) = page(&format!("{base}/compare?since=yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("YYYY-MM-DD"));

    // A chosen run stays listed, and chosen, when the filter would hide it.
    let old = s4[0];
    let (_, html) = page(&format!("{base}/compare?a={old}&q=psram")).await;
    assert_eq!(choices(&html, "a")[0], old.to_string());
    assert!(checked(&html, "a", &old.to_string()));
    assert!(!checked(&html, "b", &old.to_string()));

    // Two runs: labels or "unlabelled", never empty parentheses, and the link.
    let (status, html) = page(&format!("{base}/compare?a={old}&b={after}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("()"), "no empty parentheses");
    assert!(html.contains("unlabelled"), "run A has no label");
    assert!(html.contains("after: PSRAM docs 100%_"));
    let link = format!("/compare?a={old}&#38;b={after}");
    assert!(
        html.contains(&format!("href=\"{link}\" data-permalink")),
        "{html}"
    );
    assert!(html.contains(&format!("data-copy-link=\"{link}\"")));

    // Groups: picked as g<id>, linked to their page.
    let (status, html) = page(&format!("{base}/compare?a={before}&b=g{group}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("href=\"/groups/{group}\"")));
    assert!(checked(&html, "b", &format!("g{group}")));
    assert!(html.contains("within noise") || html.contains("no data"));

    // A run still recording is marked: its per-tag rows keep changing.
    let live = store
        .create_run(&NewRun {
            kind: Some(RunKind::Live),
            label: Some("still going".into()),
            started_us: DAY + 26 * HOUR,
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, html) = page(&format!("{base}/compare?q=going")).await;
    assert_eq!(choices(&html, "a"), [live.to_string()]);
    assert!(html.contains("<tr data-active>"), "{html}");
    assert!(html.contains("recording</span>"));
    let (_, html) = page(&format!("{base}/compare?q=psram")).await;
    assert!(
        !html.contains("data-active"),
        "finished runs are not marked"
    );
}
