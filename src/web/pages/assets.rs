//! CSS and JS, compiled into the binary so a single file (or container)
//! is the whole product.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::web::state::AppState;

const APP_CSS: &str = include_str!("../../../static/app.css");
const APP_JS: &str = include_str!("../../../static/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/favicon.ico", get(favicon))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        APP_CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        APP_JS,
    )
}

/// A small heap-bar icon, so browsers stop asking for a missing favicon.
async fn favicon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=86400")],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#16202b\"/><rect x=\"3\" y=\"8\" width=\"2\" height=\"5\" fill=\"#7fd4a0\"/><rect x=\"7\" y=\"5\" width=\"2\" height=\"8\" fill=\"#7fd4a0\"/><rect x=\"11\" y=\"10\" width=\"2\" height=\"3\" fill=\"#f08070\"/></svg>",
    )
}
