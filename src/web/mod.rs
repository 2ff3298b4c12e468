//! The web layer: the JSON API (`api/`), the dashboard pages (`pages/`) and
//! operations endpoints (`ops`). Handlers only read; anything that changes
//! recording goes through the recorder.

pub mod access;
pub mod api;
pub mod charts;
pub mod error;
pub mod ops;
pub mod pages;
pub mod relay;
pub mod state;
pub mod unread_body;

use axum::middleware;
use axum::Router;
use tower_http::trace::TraceLayer;

pub use state::{AppState, WebConfig};

/// The whole application's routes; shared by the binary and the tests.
pub fn build_router(state: AppState) -> Router {
    // `layer` on the whole router runs after routing, so the policy sees
    // each request's matched route; every route passes through it.
    Router::new()
        .merge(api::router(state.config.body_limit_bytes))
        .merge(ops::router())
        .merge(pages::router())
        .merge(charts::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::enforce,
        ))
        // Outside the policy, so its refusals get the same treatment.
        .layer(middleware::from_fn(unread_body::read_to_end))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
