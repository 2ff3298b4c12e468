//! The web layer: the JSON API (`api/`), the dashboard pages (`pages/`) and
//! operations endpoints (`ops`). Handlers only read; anything that changes
//! recording goes through the recorder.

pub mod api;
pub mod auth;
pub mod charts;
pub mod error;
pub mod ops;
pub mod pages;
pub mod state;

use axum::middleware;
use axum::Router;
use tower_http::trace::TraceLayer;

pub use state::{AppState, WebConfig};

/// The whole application's routes; shared by the binary and the tests.
pub fn build_router(state: AppState) -> Router {
    let api = api::router(state.config.body_limit_bytes).route_layer(
        middleware::from_fn_with_state(state.clone(), auth::require_token),
    );
    Router::new()
        .merge(api)
        .merge(ops::router())
        .merge(pages::router())
        .merge(charts::router())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
