//! The server observing itself: `/healthz` and Prometheus `/metrics`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::error::WebResult;
use super::state::AppState;
use crate::store::DeviceRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(state): State<AppState>) -> WebResult<impl IntoResponse> {
    state
        .store
        .ping()
        .await
        .map_err(|e| super::error::WebError::Unavailable(format!("database: {e}")))?;
    // Reads still work on a full database, but nothing new is recorded:
    // an orchestrator's health check should see that.
    if state.hub.counters.storage_full.load(Ordering::Relaxed) {
        return Err(super::error::WebError::Unavailable(
            "database full: recording is paused until space is freed".into(),
        ));
    }
    Ok(Json(json!({"status": "ok"})))
}

/// Escapes a label value per the Prometheus text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(state): State<AppState>) -> WebResult<impl IntoResponse> {
    let devices = state.store.devices().await?;
    let mut out = String::new();
    device_metrics(&mut out, &state, &devices);
    recorder_metrics(&mut out, &state);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

/// Per-device gauges from the live hub (and the reboot counter), one
/// sample per device that has a value.
fn device_metrics(out: &mut String, state: &AppState, devices: &[DeviceRecord]) {
    let gauges: [(&str, &str); 6] = [
        (
            "heaplab_device_internal_free_bytes",
            "Last internal free (hi) per device.",
        ),
        (
            "heaplab_device_internal_min_free_bytes",
            "Last internal minimum free since boot (hin).",
        ),
        (
            "heaplab_device_fragmentation_percent",
            "Last internal fragmentation (frag).",
        ),
        ("heaplab_device_psram_free_bytes", "Last PSRAM free (pf)."),
        ("heaplab_device_online", "1 when serial or health answers."),
        (
            "heaplab_device_reboots_total",
            "Reboots seen since the server started.",
        ),
    ];
    for (i, (name, help)) in gauges.iter().enumerate() {
        let kind = if i == 5 { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for d in devices {
            let live = state.hub.device(d.id).unwrap_or_default();
            let snap = live.last_snapshot.as_ref();
            let value = match i {
                0 => snap.and_then(|s| s.hi),
                1 => snap.and_then(|s| s.hin),
                2 => snap.and_then(|s| s.frag),
                3 => snap.and_then(|s| s.pf),
                4 => Some(i64::from(live.online())),
                _ => Some(live.reboots as i64),
            };
            if let Some(v) = value {
                let _ = writeln!(out, "{name}{{device=\"{}\"}} {v}", label(&d.name));
            }
        }
    }
}

/// The recorder's counters and queue depth.
fn recorder_metrics(out: &mut String, state: &AppState) {
    let c = &state.hub.counters;
    for (name, help, kind, value) in [
        (
            "heaplab_events_ingested_total",
            "Device events received by the recorder.",
            "counter",
            c.events_ingested.load(Ordering::Relaxed),
        ),
        (
            "heaplab_serial_lines_total",
            "Serial lines received.",
            "counter",
            c.lines_ingested.load(Ordering::Relaxed),
        ),
        (
            "heaplab_write_batches_total",
            "Batched database transactions committed.",
            "counter",
            c.write_batches.load(Ordering::Relaxed),
        ),
        (
            "heaplab_write_errors_total",
            "Batched writes that failed (rows kept for retry).",
            "counter",
            c.write_errors.load(Ordering::Relaxed),
        ),
        (
            "heaplab_storage_full",
            "1 while the database refuses writes for want of space (recording paused).",
            "gauge",
            u64::from(c.storage_full.load(Ordering::Relaxed)),
        ),
        (
            "heaplab_leader",
            "1 while this server runs retention and alert delivery (the one leader of a shared database).",
            "gauge",
            u64::from(c.leader.load(Ordering::Relaxed)),
        ),
        (
            "heaplab_recorder_queue_depth",
            "Events waiting for the recorder.",
            "gauge",
            state.recorder.queue_depth() as u64,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}
