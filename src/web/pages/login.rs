//! `/login` and `/logout`: a browser trades a token for an HttpOnly,
//! SameSite=Strict cookie holding it, so the dashboard's own pages,
//! charts, SSE and polling need nothing else.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{render, PageResult};
use crate::web::access::credential;
use crate::web::access::COOKIE;
use crate::web::state::AppState;

/// How long a browser stays signed in.
const COOKIE_MAX_AGE_S: u64 = 30 * 86_400;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(page).post(sign_in))
        .route("/logout", post(sign_out))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    enabled: bool,
    message: Option<String>,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> PageResult {
    let enabled = state.config.auth_token.is_some() || state.store.has_live_tokens().await?;
    render(&LoginPage {
        enabled,
        message: None,
        next: safe_next(q.next.as_deref()).to_owned(),
    })
}

#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, super::PageError> {
    let next = safe_next(form.next.as_deref()).to_owned();
    let secret = form.token.trim();
    if credential::of_secret(&state, secret, true).await?.is_none() {
        let mut response = render(&LoginPage {
            enabled: true,
            message: Some("That token is not recognised, or it was revoked.".into()),
            next,
        })?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    }
    let secure = if forwarded_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_S}{secure}"
    );
    Ok(with_cookie(Redirect::to(&next), &cookie))
}

async fn sign_out() -> Response {
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    with_cookie(Redirect::to("/login"), &cookie)
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Where to go after signing in: a path on this server only, so a link
/// cannot bounce a fresh sign-in to another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

/// Behind a TLS-terminating proxy the cookie is marked Secure.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/runs/3?x=1")), "/runs/3?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "runs",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
