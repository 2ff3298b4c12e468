//! `/api/health`, `/api/info`, `/api/mode` and `/api/reboot`
//! (device-api.md §3).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, ok, success, AppState};
use crate::sim::device::{Device, OTA_SLOT_BYTES, PROJECT_DISPLAY_NAME, PSRAM_HEAP_BYTES, SCREENS};

/// How long after answering `POST /api/reboot` the device restarts.
const REBOOT_DELAY: Duration = Duration::from_millis(100);
/// `flash_chip_size` of the board (what the ROM loader's RDID reports).
const FLASH_BYTES: u32 = crate::sim::rom_loader::FLASH_BYTES;
/// The app image's size (`sketch_size`).
const SKETCH_BYTES: u32 = 1_312_768;

pub(super) async fn health(State(shared): State<AppState>) -> Response {
    let body = shared.with_device(|d| d.health_json());
    json_response(StatusCode::OK, body)
}

pub(super) async fn info(State(shared): State<AppState>) -> Response {
    let value = shared.with_device(|d| {
        let _ = d.serve_small(2_048);
        info_json(d)
    });
    ok(value)
}

/// Every key of the device's `/api/info`, with this twin's values.
fn info_json(d: &Device) -> Value {
    let screens: Vec<Value> = SCREENS
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let hostname = d.config().device_name_sanitized();
    let snapshot = d.snapshot();
    json!({
        "version": d.firmware_version(),
        "build_date": "Jan  9 2026",
        "build_time": "12:00:00",
        "chip_model": "ESP32-S3",
        "chip_revision": 0,
        "chip_cores": 2,
        "cpu_freq": 240,
        "flash_chip_size": FLASH_BYTES,
        "psram_size": PSRAM_HEAP_BYTES,
        "free_heap": snapshot.hf,
        "sketch_size": SKETCH_BYTES,
        "free_sketch_space": OTA_SLOT_BYTES,
        "mac_address": "24:0A:C4:12:34:56",
        "wifi_hostname": hostname,
        "hostname": hostname,
        "mdns_name": format!("{hostname}.local"),
        "project_name": "jc3636w518-macropad",
        "project_display_name": PROJECT_DISPLAY_NAME,
        "health_poll_interval_ms": 5000,
        "health_history_seconds": 300,
        "board_name": "jc3636w518",
        "github_updates_enabled": false,
        "has_mqtt": true,
        "has_backlight": true,
        "has_display": true,
        "display_coord_width": 360,
        "display_coord_height": 360,
        "available_screens": screens,
        "current_screen": d.current_screen(),
    })
}

/// The twin is always a station on the lab Wi-Fi, never the setup AP.
pub(super) async fn mode() -> Response {
    ok(json!({"mode": "full", "ap_active": false}))
}

pub(super) async fn reboot(State(shared): State<AppState>) -> Response {
    shared.with_device(|d| {
        d.api_log("API", "POST /api/reboot");
        d.api_log("Portal", "Rebooting");
    });
    schedule_reboot(shared);
    success("Rebooting device...")
}

/// Answer first, restart shortly after (the firmware restarts from inside
/// the handler ~100 ms after queueing the reply).
pub fn schedule_reboot(shared: AppState) {
    tokio::spawn(async move {
        tokio::time::sleep(REBOOT_DELAY).await;
        shared.with_device(|d| d.restart());
    });
}
