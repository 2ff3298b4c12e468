//! The twin's web server: the firmware's portal pages and `/api/*`
//! endpoints (DESIGN.md), each doing its memory work on the device model.
//! Every request is recorded (method, path with query, status, time).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::device::{DeviceFault, GcOutcome};
use super::shared::{HttpFault, RecordedRequest, Shared};

/// What `GET /api/config` shows instead of a stored secret.
pub const SECRET_MASK: &str = "********";
/// How long after answering `POST /api/reboot` the device restarts.
const REBOOT_DELAY: Duration = Duration::from_millis(100);
/// The flaky profile's slow answers.
const SLOW_ANSWER: Duration = Duration::from_secs(2);

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
        .route("/", get(page))
        .route("/network.html", get(page))
        .route("/firmware.html", get(page))
        .route("/portal.css", get(asset))
        .route("/portal.js", get(asset))
        .route("/api/health", get(health))
        .route("/api/info", get(info))
        .route("/api/mode", get(mode))
        .route("/api/config", get(config_get).post(config_post))
        .route("/api/macros", get(macros_get).post(macros_post))
        .route("/api/icons", get(icons_get))
        .route("/api/icons/gc", post(icons_gc))
        .route("/api/display/screen", put(screen_put))
        .route("/api/reboot", post(reboot))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Auth, flaky faults and the request log, around every handler.
async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let response = if !authorized(&shared, &request) {
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

fn out_of_memory() -> Response {
    json_value(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "out of memory"}),
    )
}

// ---- pages ------------------------------------------------------------------

async fn page(State(shared): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    match shared.with_device(|d| d.serve_page(&path)) {
        Ok(()) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page_html(&path),
        )
            .into_response(),
        Err(DeviceFault::OutOfMemory) => out_of_memory(),
    }
}

fn page_html(path: &str) -> String {
    let (title, body) = match path {
        "/network.html" => (
            "Network",
            "<form id=\"net\"><label>SSID <input name=\"wifi_ssid\"></label>\
             <label>Password <input type=\"password\" name=\"wifi_password\"></label>\
             <button>Save</button></form>",
        ),
        "/firmware.html" => (
            "Firmware",
            "<p>Upload a new firmware image.</p><input type=\"file\" id=\"fw\"><button>Flash</button>",
        ),
        _ => (
            "Macropad",
            "<div id=\"macros\"></div><div id=\"health\"></div>\
             <nav><a href=\"/network.html\">Network</a> <a href=\"/firmware.html\">Firmware</a></nav>",
        ),
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/portal.css\"></head><body><h1>{title}</h1>{body}\
         <script src=\"/portal.js\"></script></body></html>"
    )
}

async fn asset(State(shared): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if shared.with_device(|d| d.serve_small(1_024)).is_err() {
        return out_of_memory();
    }
    let (mime, body) = if path.ends_with(".css") {
        (
            "text/css",
            "body{font-family:sans-serif;margin:2em}h1{color:#246}nav a{margin-right:1em}",
        )
    } else {
        (
            "application/javascript",
            "fetch('/api/health').then(r=>r.json()).then(h=>{document.getElementById('health')\
             .textContent='internal free: '+h.heap_internal_free+' B'});",
        )
    };
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}

// ---- system -------------------------------------------------------------------

async fn health(State(shared): State<AppState>) -> Response {
    let body = shared.with_device(|d| d.health_json());
    json_response(StatusCode::OK, body)
}

async fn info(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        json!({
            "firmware": d.profile().firmware_version(),
            "profile": d.profile().name(),
            "board": "esp32-s3-devkitc-1 (virtual)",
            "chip": "ESP32-S3",
            "chip_revision": 0,
            "cores": 2,
            "sdk": "v4.4.7-dirty",
            "flash_size": 16 * 1024 * 1024,
            "psram_size": super::device::PSRAM_HEAP_BYTES,
            "hostname": d.config().hostname,
            "tripwire_internal_min_bytes": super::device::TRIPWIRE_BYTES,
            "alloc_failures": d.alloc_failures(),
            "macros": macro_count(d.macros_json()),
            "boot_count": d.boot_count(),
            "auth": shared.auth_header.is_some(),
        })
    });
    json_value(StatusCode::OK, value)
}

async fn mode() -> Response {
    json_value(StatusCode::OK, json!({"mode": "sta", "connected": true}))
}

async fn reboot(State(shared): State<AppState>) -> Response {
    schedule_reboot(shared);
    json_value(StatusCode::ACCEPTED, json!({"rebooting": true}))
}

/// Answer first, restart shortly after (the firmware's `reboot_schedule`).
pub fn schedule_reboot(shared: AppState) {
    tokio::spawn(async move {
        tokio::time::sleep(REBOOT_DELAY).await;
        shared.with_device(|d| d.restart());
    });
}

// ---- config -------------------------------------------------------------------

fn masked(secret: &str) -> &str {
    if secret.is_empty() {
        ""
    } else {
        SECRET_MASK
    }
}

async fn config_get(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        let _ = d.serve_small(1_536);
        let c = d.config();
        json!({
            "hostname": c.hostname,
            "wifi_ssid": c.wifi_ssid,
            "wifi_password": masked(&c.wifi_password),
            "mqtt_host": c.mqtt_host,
            "mqtt_port": c.mqtt_port,
            "mqtt_user": c.mqtt_user,
            "mqtt_password": masked(&c.mqtt_password),
        })
    });
    json_value(StatusCode::OK, value)
}

#[derive(serde::Deserialize)]
struct ConfigQuery {
    no_reboot: Option<String>,
}

async fn config_post(
    State(shared): State<AppState>,
    Query(query): Query<ConfigQuery>,
    body: String,
) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&body) else {
        return json_value(
            StatusCode::BAD_REQUEST,
            json!({"error": "expected a JSON object"}),
        );
    };
    // A scenario that sends back what GET showed would store the mask as a
    // password on firmware that does not special-case it: refuse loudly.
    if fields.values().any(|v| v.as_str() == Some(SECRET_MASK)) {
        return json_value(
            StatusCode::BAD_REQUEST,
            json!({"error": "masked secret sent back: omit secrets you do not change"}),
        );
    }
    shared.with_device(|d| {
        let _ = d.serve_small(2_048);
        let c = d.config_mut();
        let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(v) = text("hostname") {
            c.hostname = v;
        }
        if let Some(v) = text("wifi_ssid") {
            c.wifi_ssid = v;
        }
        if let Some(v) = text("wifi_password") {
            c.wifi_password = v;
        }
        if let Some(v) = text("mqtt_host") {
            c.mqtt_host = v;
        }
        if let Some(v) = text("mqtt_user") {
            c.mqtt_user = v;
        }
        if let Some(v) = text("mqtt_password") {
            c.mqtt_password = v;
        }
        if let Some(port) = fields
            .get("mqtt_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            c.mqtt_port = port;
        }
    });
    if query.no_reboot.as_deref() == Some("1") {
        json_value(StatusCode::OK, json!({"saved": true, "rebooting": false}))
    } else {
        schedule_reboot(shared);
        json_value(
            StatusCode::ACCEPTED,
            json!({"saved": true, "rebooting": true}),
        )
    }
}

// ---- macros and icons -------------------------------------------------------

fn macro_count(json: &str) -> usize {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get("macros").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0)
}

/// The icon ids the macros refer to.
fn macro_icons(macros: &Value) -> Vec<String> {
    macros
        .get("macros")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| m.get("icon").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn macros_get(State(shared): State<AppState>) -> Response {
    let body = shared.with_device(|d| d.macros_json().to_owned());
    json_response(StatusCode::OK, body)
}

async fn macros_post(State(shared): State<AppState>, body: String) -> Response {
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let Some(macros) = parsed.filter(|v| v.get("macros").is_some_and(Value::is_array)) else {
        return json_value(
            StatusCode::BAD_REQUEST,
            json!({"error": "expected {\"macros\":[...]}"}),
        );
    };
    let count = macro_count(&body);
    let icons = macro_icons(&macros);
    match shared.with_device(|d| d.save_macros(&body, count, &icons)) {
        Ok(n) => json_value(StatusCode::OK, json!({"saved": true, "macros": n})),
        Err(DeviceFault::OutOfMemory) => json_value(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "macros too large or NVS write failed"}),
        ),
    }
}

async fn icons_get(State(shared): State<AppState>) -> Response {
    let icons: Vec<Value> = shared.with_device(|d| {
        let _ = d.serve_small(2_048);
        d.icons()
            .iter()
            .map(|(id, bytes)| json!({"id": id, "bytes": bytes}))
            .collect()
    });
    let count = icons.len();
    json_value(StatusCode::OK, json!({"icons": icons, "count": count}))
}

async fn icons_gc(State(shared): State<AppState>) -> Response {
    let outcome = shared.with_device(|d| {
        let used = serde_json::from_str::<Value>(d.macros_json())
            .map(|v| macro_icons(&v))
            .unwrap_or_default();
        d.icons_gc(&used)
    });
    match outcome {
        GcOutcome::Collected { removed, kept } => {
            json_value(StatusCode::OK, json!({"removed": removed, "kept": kept}))
        }
        // The real device resets mid-request; the closest an HTTP server
        // can get is an error with no body.
        GcOutcome::Crashed => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header(header::CONNECTION, "close")
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

// ---- display ------------------------------------------------------------------

/// `[A-Za-z0-9_-]`, 1..=23 characters (`SCREEN_ID_LEN` − 1).
fn valid_screen_id(id: &str) -> bool {
    (1..=23).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn screen_put(State(shared): State<AppState>, body: String) -> Response {
    let id = match serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("screen").cloned())
    {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) if n.is_i64() => n.to_string(),
        _ => String::new(),
    };
    if !valid_screen_id(&id) {
        return json_value(
            StatusCode::BAD_REQUEST,
            json!({"error": "expected {\"screen\": id} ([A-Za-z0-9_-], max 23)"}),
        );
    }
    shared.with_device(|d| d.switch_screen(&id));
    json_value(StatusCode::ACCEPTED, json!({"screen": id, "queued": true}))
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

    #[test]
    fn screen_ids() {
        assert!(valid_screen_id("macro1"));
        assert!(valid_screen_id("a-b_C"));
        assert!(!valid_screen_id(""));
        assert!(!valid_screen_id("has space"));
        assert!(!valid_screen_id(&"x".repeat(24)));
    }
}
