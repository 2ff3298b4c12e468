//! `POST /api/display/image_url` on the twin: the device's checks and
//! messages, then a real download from an HTTP server on loopback, the
//! decode and the `urlimg` tags on the pty.

use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use heaplab::sim::{Profile, Twin, TwinConfig};
use serde_json::{json, Value};

use crate::serial_lines::{open, Lines};

fn jpeg() -> Vec<u8> {
    let pixels = vec![128u8; 360 * 360 * 3];
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 70)
        .encode(&pixels, 360, 360, jpeg_encoder::ColorType::Rgb)
        .expect("encode JPEG");
    out
}

/// Serves `/ok.jpg`, `/slow.jpg` (1 s late), `/chunked.jpg` (no
/// Content-Length), `/text` and 404 for the rest.
async fn image_server() -> String {
    let image = jpeg();
    let (a, b, c) = (image.clone(), image.clone(), image);
    let app = Router::new()
        .route(
            "/ok.jpg",
            get(move || async move { ([(header::CONTENT_TYPE, "image/jpeg")], a) }),
        )
        .route(
            "/slow.jpg",
            get(move || async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                b
            }),
        )
        .route(
            "/chunked.jpg",
            get(move || async move {
                let chunks = c
                    .chunks(4096)
                    .map(|p| Ok::<_, std::io::Error>(p.to_vec()))
                    .collect::<Vec<_>>();
                Body::from_stream(futures_util::stream::iter(chunks)).into_response()
            }),
        )
        .route("/text", get(|| async { "not a picture" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn post(twin: &Twin, query: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/display/image_url{query}", twin.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST image_url");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON reply"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_url_downloads_decodes_and_tags_like_the_device() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = image_server().await;
    let mut config = TwinConfig::new("url-twin", Profile::Tuned);
    config.link = Some(dir.path().join("url-twin"));
    let twin = Twin::spawn(config).await.expect("twin");
    let mut serial = Lines::new(open(&twin.serial_path()));

    // The checks, with the device's statuses and messages.
    let big = format!(
        "{{\"url\":\"{server}/ok.jpg\",\"pad\":\"{}\"}}",
        "x".repeat(1100)
    );
    assert_eq!(
        post(&twin, "", big).await,
        (413, json!({"success": false, "message": "Body too large"}))
    );
    assert_eq!(post(&twin, "", "{nope").await.1["message"], "Invalid JSON");
    assert_eq!(post(&twin, "", "{}").await.1["message"], "Missing url");
    let long = json!({"url": format!("{server}/{}", "a".repeat(256))}).to_string();
    assert_eq!(
        post(&twin, "", long).await,
        (400, json!({"success": false, "message": "URL too long"}))
    );

    // A good download: queued, downloaded, decoded, shown.
    let ok = json!({"url": format!("{server}/ok.jpg")}).to_string();
    assert_eq!(
        post(&twin, "?timeout=0", ok).await,
        (200, json!({"success": true, "message": "Image URL queued"}))
    );
    let lines = serial
        .until("img post-decode", |_, t| {
            t.starts_with("[Mem] img post-decode ")
        })
        .await;
    let order: Vec<&str> = lines
        .iter()
        .filter_map(|l| {
            [
                "[Portal] Downloading image URL (",
                "[Mem] urlimg pre-download ",
                "[Mem] urlimg post-download ",
                "[Portal] Processing pending image (",
            ]
            .into_iter()
            .find(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(order.len(), 4, "{lines:#?}");
    assert!(
        order[0].starts_with("[Portal] Downloading") && order[3].starts_with("[Portal] Processing")
    );
    let info: Value = reqwest::get(format!("{}/api/info", twin.base_url()))
        .await
        .expect("info")
        .json()
        .await
        .expect("JSON");
    assert!(
        info["current_screen"].is_null(),
        "the direct image is up: {info}"
    );

    // One job at a time.
    let slow = json!({"url": format!("{server}/slow.jpg")}).to_string();
    assert_eq!(post(&twin, "", slow.clone()).await.0, 200);
    assert_eq!(
        post(&twin, "", slow).await,
        (409, json!({"success": false, "message": "Busy"}))
    );
    serial
        .until_within("the slow one", Duration::from_secs(10), |_, t| {
            t.starts_with("[Mem] img post-decode ")
        })
        .await;

    // Downloads the device refuses: a 404, chunked, not a JPEG.
    for (path, reason) in [
        ("/missing.jpg", "HTTP 404"),
        ("/chunked.jpg", "no Content-Length"),
        ("/text", "not a JPEG"),
    ] {
        let body = json!({"url": format!("{server}{path}")}).to_string();
        assert_eq!(post(&twin, "", body).await.0, 200, "{path}");
        let failed = serial
            .until_within(path, Duration::from_secs(10), |_, t| {
                t.starts_with("[Mem] urlimg download-fail ")
            })
            .await;
        let message = format!("[Portal] Image URL download failed: {reason}");
        assert!(
            failed.iter().any(|l| l.starts_with(&message)),
            "{path}: {failed:#?}"
        );
    }
    twin.shutdown().await;
}
