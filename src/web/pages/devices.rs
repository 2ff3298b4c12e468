//! `/` (every device at a glance) and `/devices/{id}` (one device, live).

use askama::Template;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::{render, PageResult};
use crate::recorder::DeviceLive;
use crate::store::{now_us, DeviceRecord, EventKind, RunKind};
use crate::units::{bytes, duration_us, kb, pct, time};
use crate::web::api::agents::AgentView;
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/devices/{id}", get(device))
}

/// One device's tile, all values formatted with units.
pub struct DeviceTile {
    pub id: i64,
    pub name: String,
    pub board: Option<String>,
    pub online: bool,
    pub status_word: &'static str,
    pub firmware: String,
    pub uptime: String,
    pub hi: String,
    pub hin: String,
    pub frag: String,
    pub pf: String,
    pub hin_bytes: i64,
    pub floor_bytes: i64,
    pub hin_ok: bool,
    pub floor_word: String,
    pub reboots_24h: i64,
    pub active_run: Option<i64>,
    pub active_kind: &'static str,
    /// Where the board is plugged in: this server, or an agent's host with
    /// the agent's state (`connected`, `spooling`, `offline`).
    pub plugged_into: String,
    pub agent_state: &'static str,
}

/// "host pi-rack (agent rack): spooling 1,204 events · v0.1.0 · seen 10:02:03".
fn plugged_into(agent: Option<&AgentView>) -> (String, &'static str) {
    let Some(a) = agent else {
        return ("this server".into(), "local");
    };
    let what = match a.state {
        "spooling" => format!("spooling {} events", a.spooled_events),
        other => other.to_owned(),
    };
    (
        format!(
            "host {} (agent {}): {what} · v{} · last seen {}",
            a.host,
            a.name,
            a.version,
            time(a.last_seen_us)
        ),
        a.state,
    )
}

pub fn kind_word(kind: Option<RunKind>) -> &'static str {
    match kind {
        Some(RunKind::Live) => "live",
        Some(RunKind::Soak) => "soak",
        Some(RunKind::Scenario) => "scenario",
        Some(RunKind::Import) => "import",
        None => "–",
    }
}

pub async fn tile(
    state: &AppState,
    device: &DeviceRecord,
    agent: Option<&AgentView>,
) -> DeviceTile {
    let (plugged_into, agent_state) = plugged_into(agent);
    let live = state.hub.device(device.id).unwrap_or(DeviceLive {
        device_id: device.id,
        ..Default::default()
    });
    let snap = live.last_snapshot.as_ref();
    let floor = state.config.criteria.hin_min_bytes;
    let hin = snap.and_then(|s| s.hin);
    let uptime_us = live
        .last_health
        .as_ref()
        .and_then(|h| h.uptime_seconds)
        .map(|s| s * 1_000_000)
        .or_else(|| live.boot_started_us.map(|b| now_us() - b));
    let reboots_24h = state
        .store
        .device_reboots_since(device.id, now_us() - 86_400_000_000)
        .await
        .unwrap_or(0);
    DeviceTile {
        id: device.id,
        name: device.name.clone(),
        board: device.board.clone(),
        online: live.online(),
        status_word: if live.online() {
            "● online"
        } else {
            "○ offline"
        },
        firmware: live.firmware.clone().unwrap_or_else(|| "–".into()),
        uptime: uptime_us.map_or_else(|| "–".into(), duration_us),
        hi: bytes(snap.and_then(|s| s.hi)),
        hin: bytes(hin),
        frag: pct(snap.and_then(|s| s.frag)),
        pf: bytes(snap.and_then(|s| s.pf)),
        hin_bytes: hin.unwrap_or(0),
        floor_bytes: floor,
        hin_ok: hin.is_some_and(|h| h >= floor),
        floor_word: match hin {
            Some(h) if h >= floor => format!("✓ above the {} floor", kb(Some(floor))),
            Some(_) => format!("✗ below the {} floor", kb(Some(floor))),
            None => "no snapshot yet".into(),
        },
        reboots_24h,
        active_run: live.active_run,
        active_kind: kind_word(live.active_kind),
        plugged_into,
        agent_state,
    }
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    tiles: Vec<DeviceTile>,
}

#[tracing::instrument(skip_all)]
async fn overview(State(state): State<AppState>) -> PageResult {
    let mut tiles = Vec::new();
    let agents = AgentView::by_device(&state).await?;
    for device in state.store.devices().await? {
        tiles.push(tile(&state, &device, agents.get(&device.id)).await);
    }
    render(&DevicesPage { tiles })
}

pub struct EventView {
    pub kind: &'static str,
    pub time: String,
    pub run_id: i64,
    pub line_no: i64,
    pub message: String,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    tile: DeviceTile,
    serial: String,
    url: String,
    ip: String,
    soak_active: bool,
    polls_health: bool,
    health: Vec<(String, String)>,
    events: Vec<EventView>,
    leak: crate::soak::views::LeakView,
    soak: crate::soak::views::DeviceSoakView,
}

/// A health field with its unit.
fn health_value(key: &str, v: &Value) -> String {
    let n = v.as_i64();
    match (key, v) {
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        (_, Value::String(s)) => s.clone(),
        ("uptime_seconds", _) => n.map_or_else(|| v.to_string(), |s| duration_us(s * 1_000_000)),
        ("cpu_usage", _) => format!("{v} %"),
        ("cpu_freq", _) => format!("{v} MHz"),
        ("cpu_temperature", _) => format!("{v} °C"),
        ("wifi_rssi", _) => format!("{v} dBm"),
        ("display_fps", _) => format!("{v} fps"),
        (k, _) if k.contains("fragmentation") => pct(n),
        (k, _) if k.ends_with("_ms") => format!("{v} ms"),
        (k, _) if k.ends_with("_us") => format!("{v} µs"),
        (k, _)
            if k.starts_with("heap")
                || k.starts_with("psram")
                || k.starts_with("flash")
                || k.ends_with("_bytes") =>
        {
            bytes(n)
        }
        _ => v.to_string(),
    }
}

#[tracing::instrument(skip(state))]
async fn device(State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let device = state.store.device(id).await?;
    let live = state.hub.device(id).unwrap_or_default();
    let health = live
        .last_health
        .as_ref()
        .and_then(|h| serde_json::to_value(h).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .map(|m| {
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let shown = health_value(&k, &v);
                    (k, shown)
                })
                .collect()
        })
        .unwrap_or_default();
    let events = state
        .store
        .device_events(
            id,
            &[
                EventKind::Tripwire,
                EventKind::Crash,
                EventKind::Boot,
                EventKind::Ip,
                EventKind::AllocFailed,
                EventKind::Status,
            ],
            25,
        )
        .await?
        .into_iter()
        .filter(|(_, e)| e.kind != EventKind::Boot || e.data["marker"] == "reset")
        .map(|(run_id, e)| EventView {
            kind: if e.kind == EventKind::Boot {
                "reboot"
            } else {
                e.kind.as_str()
            },
            time: time(e.ts_us),
            run_id,
            line_no: e.line_no.unwrap_or(1),
            message: e.message,
        })
        .collect();
    let soak = crate::soak::views::DeviceSoakView::load(&state.store, id, live.active_run).await?;
    let page = DevicePage {
        tile: tile(
            &state,
            &device,
            AgentView::by_device(&state).await?.get(&id),
        )
        .await,
        serial: device.serial_path.clone().unwrap_or_else(|| "–".into()),
        url: device.url.clone().unwrap_or_else(|| "–".into()),
        ip: live.ip.clone().unwrap_or_else(|| "–".into()),
        soak_active: live.active_kind == Some(RunKind::Soak),
        polls_health: device.health_interval_s > 0,
        health,
        events,
        leak: crate::soak::views::LeakView::of(&soak.leak),
        soak,
    };
    render(&page)
}
