//! The access policy, in one place: which credential each route needs
//! ([`policy`]), who a request is ([`credential`]), and the middleware over
//! every route that enforces both. Access is on once any named token or a
//! configured server token exists; without one the server is open, which
//! `serve` allows only on loopback unless told `--insecure-no-auth`.

pub mod credential;
pub mod policy;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::WebError;
use super::state::AppState;
pub use credential::COOKIE;
pub use policy::{Access, ROUTES};

/// The middleware over every route.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // No matched route: the fallback answers 404, nothing to protect.
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    let asked = Asked {
        method: request.method().clone(),
        headers: request.headers(),
        route: &route,
        wants_page: wants_page(&request),
    };
    let refusal = match check(&state, &asked).await {
        Ok(()) => return next.run(request).await,
        Err(refusal) => refusal,
    };
    let response = match refusal {
        Refusal::SignIn => {
            let next_url = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencode(next_url))).into_response()
        }
        Refusal::Error(e) => e.into_response(),
    };
    // The upload a refused client may still be sending is read to its end
    // by `unread_body`, outside this middleware.
    response
}

enum Refusal {
    /// A browser without a credential: send it to sign in.
    SignIn,
    Error(WebError),
}

impl From<WebError> for Refusal {
    fn from(e: WebError) -> Self {
        Refusal::Error(e)
    }
}

/// What the policy looks at in a request (the request itself holds a body
/// that cannot be shared across an await).
struct Asked<'a> {
    method: Method,
    headers: &'a axum::http::HeaderMap,
    route: &'a str,
    wants_page: bool,
}

async fn check(state: &AppState, asked: &Asked<'_>) -> Result<(), Refusal> {
    let (method, route) = (&asked.method, asked.route);
    let Some(access) = policy::required(method, route) else {
        tracing::error!(%method, route, "route has no access policy; refused");
        return Err(WebError::Forbidden(format!("{method} {route} has no access policy")).into());
    };
    if access == Access::Public || !enabled(state).await? {
        return Ok(());
    }
    if access == Access::Read && !state.config.auth_read {
        return Ok(());
    }
    let headers = asked.headers;
    let credential = credential::of_request(state, headers)
        .await
        .map_err(WebError::from)?;
    let Some(credential) = credential else {
        return Err(if asked.wants_page {
            Refusal::SignIn
        } else {
            WebError::Unauthorized.into()
        });
    };
    if !access.allows(credential.scope) {
        return Err(WebError::Forbidden(format!(
            "token {:?} has scope {}; {method} {route} needs {}",
            credential.name,
            credential.scope.as_str(),
            access.as_str()
        ))
        .into());
    }
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if credential.via_cookie && unsafe_method && !credential::same_origin(headers) {
        return Err(WebError::Forbidden(
            "cross-site request refused: a signed-in browser's writes must come from this dashboard"
                .into(),
        )
        .into());
    }
    Ok(())
}

/// Access control is on once a credential exists to check against.
async fn enabled(state: &AppState) -> Result<bool, WebError> {
    Ok(state.config.require_auth
        || state.config.auth_token.is_some()
        || state.store.has_live_tokens().await?)
}

/// A browser navigating to a page (not a script or `fetch`).
fn wants_page(request: &Request) -> bool {
    request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
