//! The twin's web server: the routes and JSON shapes of the team's device
//! (device-api.md), each handler doing its memory work on the device model.
//! Every request is recorded (method, path with query, status, time). The
//! handlers live in one file per area under `http/`.

mod config;
mod display;
mod icons;
mod image;
mod macros;
mod pages;
mod system;
mod update;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::shared::{HttpFault, RecordedRequest, Shared};

pub use system::schedule_reboot;

/// The flaky profile's slow answers.
const SLOW_ANSWER: Duration = Duration::from_secs(2);
/// Largest body the twin reads (the image API's limit is checked by its
/// handler; this only keeps a runaway client from filling memory).
const BODY_LIMIT: usize = 1024 * 1024;

type AppState = Arc<Shared>;

/// Binds and serves until the returned task is aborted.
pub fn serve(shared: AppState, listener: TcpListener) -> JoinHandle<()> {
    let app = router(shared);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("twin HTTP server stopped: {e}");
        }
    })
}

fn router(shared: AppState) -> Router {
    Router::new()
        .route("/", get(pages::page))
        .route("/network.html", get(pages::page))
        .route("/firmware.html", get(pages::page))
        .route("/portal.css", get(pages::asset))
        .route("/portal.js", get(pages::asset))
        .route("/api/health", get(system::health))
        .route("/api/info", get(system::info))
        .route("/api/mode", get(system::mode))
        .route("/api/reboot", post(system::reboot))
        .route(
            "/api/config",
            get(config::get).post(config::post).delete(config::reset),
        )
        .route("/api/macros", get(macros::get).post(macros::post))
        .route("/api/icons", get(icons::list))
        .route("/api/icons/installed", get(icons::installed))
        .route("/api/icons/install", post(icons::install))
        .route("/api/icons/gc", post(icons::gc))
        .route("/api/display/screen", put(display::screen))
        .route("/api/display/brightness", put(display::brightness))
        .route(
            "/api/display/sleep",
            get(display::sleep_status).post(display::sleep),
        )
        .route("/api/display/wake", post(display::wake))
        .route("/api/display/activity", post(display::activity))
        .route(
            "/api/display/image",
            post(image::upload).delete(image::dismiss),
        )
        .route("/api/display/image/strips", post(image::strip))
        .route("/api/display/image_url", post(image::image_url))
        .route(
            "/api/update",
            // The handler reads the body itself, after the size check.
            post(update::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Unknown route or method in STA mode: `404 text/plain "Not found"`.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "Not found",
    )
        .into_response()
}

/// Auth, flaky faults and the request log, around every handler.
async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let response = if !shared.with_device(|d| d.app_running()) {
        // In download mode (or with no bootable app) nothing runs Wi-Fi or
        // the web server; the twin keeps its port and says why.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "503 the app is not running (ROM download mode or no bootable app)",
        )
            .into_response()
    } else if !authorized(&shared, &request) {
        let mut r = (StatusCode::UNAUTHORIZED, "401 Unauthorized").into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"heaplab twin\""),
        );
        r
    } else {
        match shared.http_fault() {
            Some(HttpFault::Unavailable) => {
                (StatusCode::SERVICE_UNAVAILABLE, "503 busy").into_response()
            }
            Some(HttpFault::Slow) => {
                tokio::time::sleep(SLOW_ANSWER).await;
                next.run(request).await
            }
            None => next.run(request).await,
        }
    };
    shared.record(RecordedRequest {
        method,
        path,
        status: response.status().as_u16(),
        at: SystemTime::now(),
    });
    response
}

fn authorized(shared: &Shared, request: &Request) -> bool {
    match &shared.auth_header {
        None => true,
        Some(expected) => request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes()),
    }
}

/// `Basic <base64(user:pass)>`.
pub fn basic_auth_header(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

/// Standard base64 with padding (the only encoder the twin needs).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn json_value(status: StatusCode, value: Value) -> Response {
    json_response(status, value.to_string())
}

/// 200 with a JSON body.
fn ok(value: Value) -> Response {
    json_value(StatusCode::OK, value)
}

/// `{"success":true,"message":…}`.
fn success(message: &str) -> Response {
    ok(json!({"success": true, "message": message}))
}

/// The device's error envelope: `{"success":false,"message":…}`.
fn fail(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_value(
        status,
        json!({"success": false, "message": message.to_string()}),
    )
}

/// What the device answers when a handler's document cannot be allocated.
fn out_of_memory() -> Response {
    fail(StatusCode::SERVICE_UNAVAILABLE, "Out of memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(basic_auth_header("admin", "pw"), "Basic YWRtaW46cHc=");
    }
}
