//! Lists page by key: following `Link: rel="next"` visits every row exactly
//! once whatever the page size, `limit` is honoured, and whole-run exports
//! stream every row.

use serde_json::Value;

use crate::helpers::*;

/// The URL a response's `Link: <…>; rel="next"` header names, if any.
fn next_link(r: &reqwest::Response, base: &str) -> Option<String> {
    let l = r.headers().get("link")?.to_str().ok()?;
    let start = l.find('<').expect("<") + 1;
    let end = l.find('>').expect(">");
    assert!(l.ends_with("rel=\"next\""), "{l}");
    Some(format!("{base}{}", &l[start..end]))
}

/// Follows `rel="next"` links from `first`, returning every row seen and
/// the number of pages.
async fn follow(base: &str, first: &str) -> (Vec<Value>, usize) {
    let mut url = format!("{base}{first}");
    let mut rows = Vec::new();
    let mut pages = 0;
    loop {
        let r = reqwest::get(&url).await.expect("get");
        assert_eq!(r.status(), 200, "{url}");
        let next = next_link(&r, base);
        let page: Vec<Value> = r.json().await.expect("json");
        pages += 1;
        rows.extend(page);
        match next {
            Some(n) => url = n,
            None => break,
        }
        assert!(pages < 10_000, "paging does not end");
    }
    (rows, pages)
}

fn seqs(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|r| r["seq"].as_i64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn every_row_once_limit_honoured_and_exports_stream() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let run = import(&server.store, &fixture(CRASH_LOG)).await.run_id;
    let all = server.store.snapshots(run).await.expect("snapshots");
    let events = server.store.events(run, &[]).await.expect("events");
    assert!(
        all.len() > 7 && events.len() > 7,
        "fixture big enough to page"
    );

    for limit in [1, 3, 7, 1000] {
        let (rows, pages) = follow(
            &base,
            &format!("/api/v1/runs/{run}/snapshots?limit={limit}"),
        )
        .await;
        let want: Vec<i64> = all.iter().map(|s| s.seq).collect();
        assert_eq!(
            seqs(&rows),
            want,
            "limit {limit}: every snapshot once, in order"
        );
        assert_eq!(pages, all.len() / limit + 1, "limit {limit}");
    }
    let (rows, _) = follow(&base, &format!("/api/v1/runs/{run}/events?limit=2")).await;
    assert_eq!(
        seqs(&rows),
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    // A kind filter is kept on the next links.
    let (rows, _) = follow(
        &base,
        &format!("/api/v1/runs/{run}/events?kind=boot&limit=1"),
    )
    .await;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|e| e["kind"] == "boot"), "{rows:?}");

    // limit is honoured, and refused outside 1..=10000.
    let page: Vec<Value> = reqwest::get(format!("{base}/api/v1/runs/{run}/snapshots?limit=2"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(page.len(), 2);
    for bad in ["0", "10001", "-5"] {
        let r = reqwest::get(format!("{base}/api/v1/runs/{run}/snapshots?limit={bad}"))
            .await
            .expect("get");
        assert_eq!(r.status(), 400, "limit={bad}");
    }

    // An unknown event kind is a clear 400 naming the known ones.
    let r = reqwest::get(format!(
        "{base}/api/v1/runs/{run}/events?kind=tripwire,<b>x</b>"
    ))
    .await
    .expect("get");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("tripwire, task_dump"), "{detail}");

    // Exports stream every row.
    let ndjson = reqwest::get(format!("{base}/api/v1/runs/{run}/export/snapshots.ndjson"))
        .await
        .expect("get");
    assert_eq!(ndjson.status(), 200);
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.expect("text");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(seqs(&lines), all.iter().map(|s| s.seq).collect::<Vec<_>>());
    let csv = reqwest::get(format!("{base}/api/v1/runs/{run}/export/events.csv"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("seq,ts_us,boot,line_no,kind,message"));
    assert_eq!(rows.count(), events.len());
    let missing = reqwest::get(format!("{base}/api/v1/runs/{run}/export/secrets.csv"))
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    server.stop().await.expect("stop");
}

/// Serial lines page by line number too (`after`), over packed blocks and
/// raw lines alike: every line once, in order, whatever the page size.
#[tokio::test]
async fn serial_lines_page_by_key_through_every_line_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    // An import is stored packed; a long log spans several blocks.
    let log = dir.path().join("long.log");
    let text: String = (1..=4_321).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, text).expect("log");
    let run = import(&server.store, &log).await.run_id;
    for limit in [1_000, 2_000, 4_999] {
        let mut url = format!("{base}/api/v1/runs/{run}/serial?after=0&limit={limit}");
        let mut seen = Vec::new();
        loop {
            let r = reqwest::get(&url).await.expect("get");
            assert_eq!(r.status(), 200, "{url}");
            let next = next_link(&r, &base);
            let page: Value = r.json().await.expect("json");
            let lines = page["lines"].as_array().expect("lines");
            assert!(lines.len() <= limit, "limit honoured");
            seen.extend(
                lines
                    .iter()
                    .map(|l| l["text"].as_str().expect("text").to_owned()),
            );
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        let want: Vec<String> = (1..=4_321).map(|i| format!("line {i}")).collect();
        assert_eq!(seen.len(), want.len(), "limit {limit}");
        assert!(seen == want, "every line once, in order (limit {limit})");
    }
    let bad = reqwest::get(format!("{base}/api/v1/runs/{run}/serial?after=5&q=line"))
        .await
        .expect("get");
    assert_eq!(bad.status(), 400);
}

/// `export.zip` of a run longer than an export page: streamed with its
/// length, and its `serial.log` and `mem.jsonl` hold every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_zip_pages_through_every_row() {
    use std::io::Read;

    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), vec![])).await;
    let log = dir.path().join("long.log");
    let n = 25_001;
    let text: String = (1..=n)
        .map(|i| {
            format!("[Mem] hb hf={i} hm=1 hl=1 hi={i} hin=100 frag=1 pf=1 pm=1 pl=1 ({i}ms)\n")
        })
        .collect();
    std::fs::write(&log, text).expect("log");
    let run = import(&server.store, &log).await.run_id;
    let r = reqwest::get(format!("{}/runs/{run}/export.zip", server.url()))
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let len: usize = r.headers()["content-length"]
        .to_str()
        .expect("len")
        .parse()
        .expect("number");
    let bytes = r.bytes().await.expect("body");
    assert_eq!(bytes.len(), len);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut read = |name: &str| {
        let mut s = String::new();
        zip.by_name(&format!("run-{run}/{name}"))
            .expect(name)
            .read_to_string(&mut s)
            .expect("utf-8");
        s
    };
    let serial = read("serial.log");
    assert_eq!(serial.lines().count(), n);
    assert!(serial
        .lines()
        .enumerate()
        .all(|(i, l)| l.contains(&format!(" hf={} ", i + 1))));
    assert_eq!(read("mem.jsonl").lines().count(), n);
}

#[tokio::test]
async fn run_page_lists_the_first_markers_and_links_every_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), vec![])).await;
    let base = server.url();
    let log = dir.path().join("tripwires.log");
    let lines: String = (0..45)
        .map(|i| {
            format!(
                "[Mem] hb hf=120000 hm=20000 hl=60000 hi=120000 hin=20000 frag=40 pf=8100000 pm=8000000 pl=8000000 ({i}000ms)\n\
                 [Mem] TRIPWIRE fired tag=http_root hin={}B < 30720B (hf=121811B hl=76652B frag=37% pf=8141024B pl=8021024B)\n",
                20_000 + i
            )
        })
        .collect();
    std::fs::write(&log, lines).expect("log");
    let run = import(&server.store, &log).await.run_id;

    let page = reqwest::get(format!("{base}/runs/{run}"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert_eq!(
        page.matches("class=\"ev-tripwire\"").count(),
        30,
        "first 30 listed"
    );
    let link = format!("/api/v1/runs/{run}/events?kind=tripwire,crash,alloc_failed");
    assert!(
        page.contains(&format!("href=\"{link}\"")),
        "link to the rest"
    );
    let (rows, _) = follow(&base, &link).await;
    assert_eq!(rows.len(), 45, "the link reaches every tripwire");
}
