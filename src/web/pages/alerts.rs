//! `/alerts` (rules, webhooks and history) and `/firmware` (uploaded ELFs
//! and an upload form).

use askama::Template;
use axum::extract::State;
use axum::routing::get;
use axum::Router;

use super::{render, PageResult};
use crate::soak::alerts::AlertsDocument;
use crate::store::AlertDelivery;
use crate::units::{bytes, time};
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts))
        .route("/firmware", get(firmware))
}

pub struct RuleRow {
    pub name: String,
    pub kind: String,
    pub condition: String,
    pub devices: String,
    pub webhooks: String,
}

pub struct AlertRow {
    pub time: String,
    pub rule: String,
    pub device: String,
    pub device_id: Option<i64>,
    pub run_id: Option<i64>,
    pub text: String,
    pub delivery: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "soak/alerts.html")]
struct AlertsPage {
    rules: Vec<RuleRow>,
    webhooks: Vec<(String, String)>,
    alerts: Vec<AlertRow>,
}

async fn alerts(State(state): State<AppState>) -> PageResult {
    let config = &state.config.alerts;
    let doc = AlertsDocument::load(&state.store, config, 500).await?;
    let rules = config
        .rules
        .iter()
        .map(|r| RuleRow {
            name: r.name().to_owned(),
            kind: r.kind.as_str().to_owned(),
            condition: match (r.bytes, r.bytes_per_hour, r.seconds) {
                (Some(b), _, _) => format!("hin < {}", bytes(Some(b))),
                (_, Some(b), _) => {
                    format!("falling faster than {}", crate::soak::views::rate(Some(b)))
                }
                (_, _, Some(s)) => format!("silent for more than {s} s"),
                _ => "every occurrence".into(),
            },
            devices: r
                .devices
                .as_ref()
                .map_or_else(|| "all".into(), |d| d.join(", ")),
            webhooks: r
                .webhooks
                .as_ref()
                .map_or_else(|| "all".into(), |d| d.join(", ")),
        })
        .collect();
    let webhooks = config
        .webhooks
        .iter()
        .map(|w| (w.name.clone(), w.public_target()))
        .collect();
    let alerts = doc
        .alerts
        .into_iter()
        .map(|a| AlertRow {
            time: time(a.ts_us),
            rule: a.rule,
            device: a.device_name.unwrap_or_else(|| "–".into()),
            device_id: a.device_id,
            run_id: a.run_id,
            text: a.text,
            ok: matches!(a.delivery, AlertDelivery::Delivered | AlertDelivery::None),
            delivery: a.delivery.as_str(),
            detail: a.detail.unwrap_or_default(),
        })
        .collect();
    render(&AlertsPage {
        rules,
        webhooks,
        alerts,
    })
}

pub struct ElfRow {
    pub version: String,
    pub size: String,
    pub sha256: String,
    pub uploaded: String,
}

#[derive(Template)]
#[template(path = "soak/firmware.html")]
struct FirmwarePage {
    elves: Vec<ElfRow>,
    limit_mb: usize,
}

async fn firmware(State(state): State<AppState>) -> PageResult {
    let elves = state
        .store
        .firmware_elves()
        .await?
        .into_iter()
        .map(|e| ElfRow {
            version: e.version,
            size: bytes(Some(e.size)),
            sha256: e.sha256,
            uploaded: time(e.uploaded_us),
        })
        .collect();
    render(&FirmwarePage {
        elves,
        limit_mb: crate::soak::symbolize::ELF_LIMIT_BYTES / (1024 * 1024),
    })
}
