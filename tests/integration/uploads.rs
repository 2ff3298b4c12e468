//! `POST /api/v1/import` at its edges: a harness folder zipped by the test
//! imports to the same run as the folder on disk, and a body over
//! `body_limit_bytes` is refused with 413 before anything is stored.

use std::io::Write;

use serde_json::Value;

use crate::helpers::{
    document, fixture, get_json, import, server_config, start_server, store, TUNED_FOLDER,
};

/// The tuned harness folder as a `.zip`, wrapped in its own folder like an
/// archive made by a file manager.
fn zipped_folder() -> Vec<u8> {
    let folder = fixture(TUNED_FOLDER);
    let top = folder
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory(top.as_str(), options).expect("dir");
    let mut entries: Vec<_> = std::fs::read_dir(&folder)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        zip.start_file(format!("{top}/{name}"), options)
            .expect("start file");
        zip.write_all(&std::fs::read(&path).expect("read"))
            .expect("write");
    }
    zip.finish().expect("finish zip").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zipped_harness_folder_imports_like_the_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), Vec::new())).await;
    let base = server.url();
    let body = zipped_folder();
    assert!(body.starts_with(b"PK\x03\x04"));

    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/import?name=20260109_150318_s4.zip"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let outcome: Value = r.json().await.expect("json");
    assert_eq!(outcome["snapshots"], 9);
    assert_eq!(outcome["corrupt"][0][0], "mem.jsonl", "{outcome}");
    let run = outcome["run_id"].as_i64().expect("run");

    // The same numbers as importing the folder from disk.
    let (local, _local_dir) = store().await;
    let from_disk = import(&local, &fixture(TUNED_FOLDER)).await;
    let want = document(&local, from_disk.run_id).await;
    let got = get_json(&format!("{base}/api/v1/runs/{run}")).await;
    assert_eq!(got["run"]["scenario"], "s4", "the folder name's scenario");
    assert_eq!(got["derived"]["hin_min"], 178_000);
    assert_eq!(
        got["derived"],
        serde_json::to_value(&want.report.derived).expect("derived")
    );
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_body_limit_answers_413_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = server_config(dir.path(), Vec::new());
    config.body_limit_bytes = 64 * 1024;
    let server = start_server(config).await;
    let base = server.url();
    let client = reqwest::Client::new();

    // A serial log just over the limit: refused, whatever its content.
    let line = "[Mem] hb hf=180000 hm=170000 hl=90000 hi=180000 hin=170000 frag=12 (0ms)\n";
    let over: String = line.repeat(64 * 1024 / line.len() + 1);
    assert!(over.len() > 64 * 1024);
    let r = client
        .post(format!("{base}/api/v1/import?name=big.log"))
        .body(over)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 413);
    let runs = get_json(&format!("{base}/api/v1/runs")).await;
    let none = runs["runs"].as_array().or(runs.as_array()).map(Vec::len);
    assert_eq!(none, Some(0), "{runs}");

    // The same lines under the limit import: the limit, not the content.
    let under: String = line.repeat(100);
    let r = client
        .post(format!("{base}/api/v1/import?name=small.log"))
        .body(under)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    server.stop().await.expect("stop");
}
