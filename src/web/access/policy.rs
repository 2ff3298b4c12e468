//! Which credential every route needs: one table, read by the one
//! middleware that enforces it. A route missing here is refused (fail
//! closed), and a test walks every route the source declares against it.

use axum::http::Method;

use crate::store::TokenScope;

/// What a request to a route must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: sign-in, liveness, the stylesheet and script.
    Public,
    /// A `read` or `write` token: pages, charts, exports, reads of the API.
    Read,
    /// A `write` token: anything that changes what is stored or recorded.
    Write,
    /// An `ingest` token: agents feeding the server, and nothing else.
    Ingest,
}

impl Access {
    /// Whether a token of `scope` may make this request.
    pub fn allows(self, scope: TokenScope) -> bool {
        match self {
            Access::Public => true,
            Access::Read => matches!(scope, TokenScope::Read | TokenScope::Write),
            Access::Write => scope == TokenScope::Write,
            Access::Ingest => scope == TokenScope::Ingest,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Read => "read",
            Access::Write => "write",
            Access::Ingest => "ingest",
        }
    }
}

use Access::{Ingest, Public, Read, Write};

/// Every route, method by method (`HEAD` follows `GET`).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("POST", "/logout", Public),
    ("GET", "/static/app.css", Public),
    ("GET", "/static/app.js", Public),
    ("GET", "/favicon.ico", Public),
    ("GET", "/metrics", Read),
    // Pages.
    ("GET", "/", Read),
    ("GET", "/devices/{id}", Read),
    ("GET", "/runs", Read),
    ("GET", "/runs/{id}", Read),
    ("GET", "/runs/{id}/summary.md", Read),
    ("GET", "/runs/{id}/export.zip", Read),
    ("GET", "/compare", Read),
    ("GET", "/alerts", Read),
    ("GET", "/firmware", Read),
    ("GET", "/experiments", Read),
    ("GET", "/groups/{id}", Read),
    ("POST", "/groups/{id}/experiments", Write),
    // Charts.
    ("GET", "/charts/runs/{file}", Read),
    ("GET", "/charts/compare.svg", Read),
    ("GET", "/charts/compare.json", Read),
    ("GET", "/charts/groups/{file}", Read),
    ("GET", "/charts/devices/{id}/spark.svg", Read),
    // API: runs.
    ("GET", "/api/v1/runs", Read),
    ("GET", "/api/v1/runs/{id}", Read),
    ("DELETE", "/api/v1/runs/{id}", Write),
    ("GET", "/api/v1/runs/{id}/snapshots", Read),
    ("GET", "/api/v1/runs/{id}/health", Read),
    ("GET", "/api/v1/runs/{id}/events", Read),
    ("GET", "/api/v1/runs/{id}/serial", Read),
    ("GET", "/api/v1/runs/{id}/timeline", Read),
    ("GET", "/api/v1/runs/{id}/crashes", Read),
    ("GET", "/api/v1/runs/{id}/export/{file}", Read),
    ("GET", "/api/v1/compare", Read),
    ("POST", "/api/v1/import", Write),
    // API: devices.
    ("GET", "/api/v1/devices", Read),
    ("POST", "/api/v1/devices", Write),
    ("GET", "/api/v1/devices/{id}", Read),
    ("PUT", "/api/v1/devices/{id}", Write),
    ("DELETE", "/api/v1/devices/{id}", Write),
    ("GET", "/api/v1/devices/{id}/status", Read),
    ("GET", "/api/v1/devices/{id}/live", Read),
    ("GET", "/api/v1/devices/{id}/timeline", Read),
    ("POST", "/api/v1/devices/{id}/soak", Write),
    ("DELETE", "/api/v1/devices/{id}/soak", Write),
    ("POST", "/api/v1/devices/{id}/reboot", Write),
    ("POST", "/api/v1/devices/{id}/scenario", Write),
    ("POST", "/api/v1/devices/{id}/flash", Write),
    ("GET", "/api/v1/scenarios", Read),
    // API: agents.
    ("GET", "/api/v1/agents", Read),
    ("POST", "/api/v1/agents/{name}/batches", Ingest),
    ("GET", "/api/v1/agents/{name}/commands", Ingest),
    ("POST", "/api/v1/agents/{name}/commands/{id}", Ingest),
    // API: soak, firmware, alerts, groups.
    ("GET", "/api/v1/firmware", Read),
    ("PUT", "/api/v1/firmware/{version}/elf", Write),
    ("DELETE", "/api/v1/firmware/{version}/elf", Write),
    ("GET", "/api/v1/alerts", Read),
    ("GET", "/api/v1/groups", Read),
    ("POST", "/api/v1/groups", Write),
    ("GET", "/api/v1/groups/{id}", Read),
    // API: experiments.
    ("GET", "/api/v1/experiments", Read),
    ("POST", "/api/v1/experiments", Write),
    ("GET", "/api/v1/experiments/export", Read),
    ("POST", "/api/v1/experiments/import", Write),
    ("GET", "/api/v1/experiments/{id}", Read),
    ("PUT", "/api/v1/experiments/{id}", Write),
    ("DELETE", "/api/v1/experiments/{id}", Write),
    ("POST", "/api/v1/experiments/{id}/runs", Write),
    ("DELETE", "/api/v1/experiments/{id}/runs/{run}", Write),
    ("POST", "/api/v1/experiments/{id}/groups", Write),
];

/// The access a request needs, by its matched route; `None` for a route
/// the table does not list.
pub fn required(method: &Method, route: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, access)| *access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_as_documented() {
        use TokenScope::{Ingest, Read as R, Write as W};
        assert!(Access::Read.allows(R) && Access::Read.allows(W) && !Access::Read.allows(Ingest));
        assert!(
            Access::Write.allows(W) && !Access::Write.allows(R) && !Access::Write.allows(Ingest)
        );
        assert!(Access::Ingest.allows(Ingest) && !Access::Ingest.allows(W));
    }

    #[test]
    fn head_follows_get_and_unknown_routes_have_no_policy() {
        assert_eq!(required(&Method::HEAD, "/runs"), Some(Access::Read));
        assert_eq!(required(&Method::POST, "/runs"), None);
        assert_eq!(required(&Method::GET, "/nowhere"), None);
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, r, _) in ROUTES {
            assert!(seen.insert((m, r)), "{m} {r} listed twice");
        }
    }
}
