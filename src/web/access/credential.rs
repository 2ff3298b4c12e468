//! Who a request is: a bearer token (scripts, agents, Prometheus) or the
//! sign-in cookie (browsers), checked against the named tokens and the
//! configured server token.

use axum::http::{header, HeaderMap};

use super::super::state::AppState;
use crate::store::{StoreError, TokenScope};

/// The browser's sign-in cookie; it holds the token's secret, so revoking
/// the token signs the browser out too.
pub const COOKIE: &str = "heaplab_token";

/// A recognised credential.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The token's name (`config` for the server's configured token).
    pub name: String,
    pub scope: TokenScope,
    /// Came as a cookie: a browser sends it on its own, so writes made
    /// with it must also prove they come from our pages.
    pub via_cookie: bool,
}

/// The request's credential, if it carries a valid one. A bearer header
/// wins over the cookie.
pub async fn of_request(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Credential>, StoreError> {
    let (secret, via_cookie) = match (bearer(headers), cookie(headers)) {
        (Some(secret), _) => (secret, false),
        (None, Some(secret)) => (secret, true),
        (None, None) => return Ok(None),
    };
    of_secret(state, secret, via_cookie).await
}

/// The credential a secret stands for.
pub async fn of_secret(
    state: &AppState,
    secret: &str,
    via_cookie: bool,
) -> Result<Option<Credential>, StoreError> {
    if let Some(configured) = state.config.auth_token.as_deref() {
        if constant_time_eq(secret.as_bytes(), configured.as_bytes()) {
            return Ok(Some(Credential {
                name: "config".into(),
                scope: TokenScope::Write,
                via_cookie,
            }));
        }
    }
    Ok(state
        .store
        .token_for_secret(secret)
        .await?
        .map(|t| Credential {
            name: t.name,
            scope: t.scope,
            via_cookie,
        }))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

/// Compares without an early exit, so response time says nothing about
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True when a cookie-carried write comes from our own pages: its
/// `Origin` (or, lacking one, `Referer`) names the host it was sent to.
/// Browsers set `Origin` on every cross-site write, so a form on another
/// site cannot ride the cookie.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""));
    authority == Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[(header::COOKIE, "a=1; heaplab_token=hl_x; b=2")]);
        assert_eq!(cookie(&h), Some("hl_x"));
        assert_eq!(
            cookie(&headers(&[(header::COOKIE, "heaplab_token=")])),
            None
        );
        assert_eq!(
            cookie(&headers(&[(header::COOKIE, "xheaplab_token=1")])),
            None
        );
    }

    #[test]
    fn origin_must_name_the_host() {
        let ok = headers(&[
            (header::HOST, "lab:8080"),
            (header::ORIGIN, "http://lab:8080"),
        ]);
        assert!(same_origin(&ok));
        let referer = headers(&[
            (header::HOST, "lab:8080"),
            (header::REFERER, "http://lab:8080/runs/1"),
        ]);
        assert!(same_origin(&referer));
        for bad in [
            "http://evil.example",
            "http://lab:8080.evil.example",
            "null",
        ] {
            let h = headers(&[(header::HOST, "lab:8080"), (header::ORIGIN, bad)]);
            assert!(!same_origin(&h), "{bad}");
        }
        assert!(!same_origin(&headers(&[(header::HOST, "lab:8080")])));
    }
}
