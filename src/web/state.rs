//! Shared handler state. Handlers take only the parts they use (`FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::ServerConfig;
use crate::recorder::{LiveHub, Recorder};
use crate::server::SourceSupervisor;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub recorder: Recorder,
    pub hub: LiveHub,
    pub sources: Arc<SourceSupervisor>,
    pub config: Arc<ServerConfig>,
    /// For the only outgoing HTTP heaplab makes: to registered devices.
    pub http: reqwest::Client,
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

impl FromRef<AppState> for Arc<ServerConfig> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}
