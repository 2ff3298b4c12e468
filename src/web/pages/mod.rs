//! Server-rendered dashboard pages (askama templates in `templates/`).
//! Every page has a stable URL that can be pasted into a pull request.

mod alerts;
mod assets;
mod compare;
mod compare_picker;
mod devices;
mod experiments;
mod groups;
mod login;
mod run_page;
mod runs;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;

use super::error::WebError;
use super::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(devices::router())
        .merge(runs::router())
        .merge(compare::router())
        .merge(experiments::router())
        .merge(groups::router())
        .merge(assets::router())
        .merge(alerts::router())
        .merge(login::router())
}

/// A [`WebError`] shown to a browser as a page rather than JSON.
pub struct PageError(pub WebError);

impl<E: Into<WebError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: String,
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        self.0.log_if_internal();
        let page = ErrorPage {
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            detail: self.0.detail(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.0.detail()).into_response(),
        }
    }
}

pub type PageResult = Result<Response, PageError>;

/// Renders a template, or a 500 page if rendering fails.
pub fn render(page: &impl Template) -> PageResult {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError(WebError::internal(e)))
}

pub fn not_found() -> PageError {
    PageError(WebError::NotFound("page".into()))
}
