//! The access policy over real HTTP: every route the source declares is in
//! the policy table and answers by it for no token and each scope; a
//! browser signs in, its cookie works for pages and same-origin writes only;
//! a server reachable from the network will not start open.

use std::collections::BTreeSet;
use std::path::Path;

use heaplab::store::TokenScope;
use heaplab::web::access::{Access, ROUTES};
use reqwest::redirect::Policy;
use reqwest::{Client, Method, StatusCode};

use crate::helpers::*;

/// `(METHOD, path)` of every `.route(…)` in `src/web`, read from the
/// source so a route added anywhere is seen.
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("src/web")
                    .map(|e| e.expect("entry").path()),
            );
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source file");
        for call in source.split(".route(").skip(1) {
            let Some(rest) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let (route, after) = rest.split_once('"').expect("a closing quote");
            // The method routers chained in this call: up to its closing
            // parenthesis.
            let mut depth = 1;
            let end = after
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(after.len(), |(i, _)| i);
            let handlers = &after[..end];
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = handlers.contains(&format!(" {method}("))
                    || handlers.contains(&format!("({method}("))
                    || handlers.contains(&format!(".{method}("));
                if called {
                    found.insert((method.to_uppercase(), route.to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn every_declared_route_has_a_policy_and_every_policy_a_route() {
    let declared = declared_routes();
    assert!(declared.len() > 50, "found only {declared:?}");
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, r, _)| (m.to_string(), r.to_string()))
        .collect();
    let missing: Vec<_> = declared.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes with no access policy: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "policies for routes that do not exist: {stale:?}"
    );
}

const FORM: &str = "application/x-www-form-urlencoded";

fn concrete(route: &str) -> String {
    route
        .replace("{file}", "1.svg")
        .replace("{version}", "1.0.0")
        .replace("{id}", "1")
        .replace("{run}", "1")
}

fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

async fn status(method: &str, url: &str, bearer: Option<&str>) -> StatusCode {
    let mut request = client().request(Method::from_bytes(method.as_bytes()).expect("method"), url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_by_its_policy_for_each_scope() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let store = &server.store;
    let (_, read) = store.create_token("r", TokenScope::Read).await.unwrap();
    let (_, write) = store.create_token("w", TokenScope::Write).await.unwrap();
    let (_, ingest) = store.create_token("i", TokenScope::Ingest).await.unwrap();
    let base = server.url();
    let denied = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
    for (method, route, access) in ROUTES {
        let url = format!("{base}{}", concrete(route));
        let none = status(method, &url, None).await;
        let as_read = status(method, &url, Some(&read)).await;
        let as_write = status(method, &url, Some(&write)).await;
        let as_ingest = status(method, &url, Some(&ingest)).await;
        let got = [none, as_read, as_write, as_ingest];
        let want_denied = match access {
            Access::Public => [false, false, false, false],
            Access::Read => [true, false, false, true],
            Access::Write => [true, true, false, true],
            Access::Ingest => [true, true, true, false],
        };
        for (i, (status, deny)) in got.iter().zip(want_denied).enumerate() {
            let who = ["no token", "read", "write", "ingest"][i];
            assert_eq!(
                denied.contains(status),
                deny,
                "{method} {route} ({access:?}) as {who}: {status}"
            );
        }
        if *access != Access::Public {
            assert_eq!(none, StatusCode::UNAUTHORIZED, "{method} {route}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_and_its_cookie_writes_only_from_this_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(server_config(dir.path(), vec![])).await;
    let (_, secret) = server
        .store
        .create_token("desk", TokenScope::Write)
        .await
        .unwrap();
    let base = server.url();
    let http = client();

    // A page without a cookie sends the browser to sign in, and back.
    let r = http
        .get(format!("{base}/runs?status=active"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/login?next=/runs%3Fstatus%3Dactive"
    );
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let wrong = http
        .post(format!("{base}/login"))
        .header("content-type", FORM)
        .body("token=hl_wrong&next=%2Fruns")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    let r = http
        .post(format!("{base}/login"))
        .header("content-type", FORM)
        .body(format!("token={secret}&next=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/", "no redirect off this server");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let device = serde_json::json!({"name": "bench", "url": "http://127.0.0.1:9"});
    let host = base.trim_start_matches("http://");
    let post = |origin: String| {
        http.post(format!("{base}/api/v1/devices"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&device)
            .send()
    };
    let cross = post("http://evil.example".into()).await.unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let same = post(format!("http://{host}")).await.unwrap();
    assert!(same.status().is_success(), "{}", same.status());

    // Revoking the token signs the browser out (another token keeps
    // access control on: a loopback server with none left is open).
    server
        .store
        .create_token("other", TokenScope::Read)
        .await
        .unwrap();
    server.store.revoke_token("desk").await.unwrap();
    let api = http
        .get(format!("{base}/api/v1/runs"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_bind_needs_a_token_and_stays_closed_when_all_are_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server_config(dir.path(), vec![]);
    config.bind = "0.0.0.0:0".parse().unwrap();
    let err = heaplab::server::start(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("without access control"), "{err}");

    config.insecure_no_auth = true;
    let open = start_server(config.clone()).await;
    let port = open.addr.port();
    assert_eq!(
        status("GET", &format!("http://127.0.0.1:{port}/api/v1/runs"), None).await,
        200
    );
    open.stop().await.unwrap();

    config.insecure_no_auth = false;
    config.first_token = true;
    let server = start_server(config).await;
    let secret = server.first_token.clone().expect("a first token");
    let url = format!("http://127.0.0.1:{}/api/v1/runs", server.addr.port());
    assert_eq!(status("GET", &url, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status("GET", &url, Some(&secret)).await, 200);
    server.store.revoke_token("admin").await.unwrap();
    assert_eq!(
        status("GET", &url, None).await,
        StatusCode::UNAUTHORIZED,
        "with every token revoked a network server stays closed"
    );
}

/// A refused upload is read to its end before the answer goes out: a
/// client still writing a firmware image (as `heaplab flash --server` does
/// with a read token) gets the 401/403 to show its user, not a broken pipe;
/// an import over the body limit gets its 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_is_answered_after_its_body_not_with_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let config = server_config(dir.path(), vec![]);
    let over_limit = config.body_limit_bytes + 8 * 1024 * 1024;
    let server = start_server(config).await;
    // Open (no token yet): the import limit is the only refusal.
    let status = slow_upload(server.addr, "/api/v1/import", "", over_limit).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    let (_, read) = server
        .store
        .create_token("r", TokenScope::Read)
        .await
        .unwrap();
    for (auth, want) in [
        (String::new(), "401"),
        (format!("authorization: Bearer {read}\r\n"), "403"),
    ] {
        let status = slow_upload(
            server.addr,
            "/api/v1/devices/1/flash",
            &auth,
            4 * 1024 * 1024,
        )
        .await;
        assert!(status.starts_with(&format!("HTTP/1.1 {want}")), "{status}");
    }
}

/// POSTs `len` bytes to `path` the way a slow uploader does: the headers,
/// a pause long enough for the server to have answered and hung up if it
/// did not wait for the body, then the body. Returns the answer's head.
async fn slow_upload(addr: std::net::SocketAddr, path: &str, auth: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: lab\r\n{auth}\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: {len}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let body = vec![b'x'; len];
    for chunk in body.chunks(256 * 1024) {
        stream
            .write_all(chunk)
            .await
            .unwrap_or_else(|e| panic!("{path}: the server hung up mid-body: {e}"));
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.expect("answer");
        assert!(n > 0, "{path}: closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
