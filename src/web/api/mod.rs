//! The JSON API under `/api/v1` (documented in `docs/api.md`).

pub mod agents;
mod devices;
mod experiments;
mod exports;
mod flash;
mod import;
mod live;
mod runs;
mod scenarios;
mod soak;

use axum::Router;

use super::state::AppState;

pub fn router(body_limit: usize) -> Router<AppState> {
    Router::new()
        .merge(agents::router())
        .merge(devices::router())
        .merge(runs::router())
        .merge(experiments::router())
        .merge(exports::router())
        .merge(flash::router())
        .merge(live::router())
        .merge(import::router(body_limit))
        .merge(scenarios::router())
        .merge(soak::router())
}
