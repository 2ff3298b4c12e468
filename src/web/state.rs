//! Shared handler state. Handlers take only the parts they use (`FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;

use crate::analysis::AcceptanceCriteria;
use crate::ingest::SourceSupervisor;
use crate::recorder::{AgentIntake, LiveHub, Recorder};
use crate::soak::config::AlertsConfig;
use crate::store::Store;

/// What the web layer needs of the server's configuration, handed down as
/// values by whoever assembles the server (the layers point one way: `web`
/// never reads the config module).
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// A secret from the config or `HEAPLAB_AUTH_TOKEN` that acts as a
    /// `write` token named `config`.
    pub auth_token: Option<String>,
    /// Also require a token for reads (the default; `false` leaves pages
    /// and reads open while writes need a token).
    pub auth_read: bool,
    /// Served beyond loopback without `--insecure-no-auth`: with no token
    /// left (all revoked) every request is refused rather than let in.
    pub require_auth: bool,
    pub body_limit_bytes: usize,
    /// What every verdict, chart floor and group is judged against.
    pub criteria: AcceptanceCriteria,
    /// Shown on the alerts page and in `GET /api/v1/alerts`.
    pub alerts: AlertsConfig,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub recorder: Recorder,
    /// Agents' uploads into the recorder.
    pub agents: AgentIntake,
    /// Device requests carried out by agents.
    pub relay: crate::web::relay::AgentRelay,
    pub hub: LiveHub,
    pub sources: Arc<SourceSupervisor>,
    pub config: Arc<WebConfig>,
    /// For the only outgoing HTTP heaplab makes: to registered devices.
    pub http: reqwest::Client,
    /// The devices being flashed (one flash per device at a time).
    pub flashes: crate::flash::InProgress,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for LiveHub {
    fn from_ref(state: &AppState) -> Self {
        state.hub.clone()
    }
}

impl FromRef<AppState> for Arc<WebConfig> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}
