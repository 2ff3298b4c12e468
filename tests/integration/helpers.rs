use std::path::{Path, PathBuf};

use heaplab::analysis::AcceptanceCriteria;
use heaplab::recorder::{import_path, ImportOptions, ImportOutcome};
use heaplab::report::RunDocument;
use heaplab::store::Store;
use tempfile::TempDir;

/// A fresh database in its own temp dir (kept alive by the returned guard):
/// a SQLite file, or a PostgreSQL database under `HEAPLAB_TEST_DB`.
pub async fn store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&test_db(dir.path(), "heaplab.db"))
        .await
        .expect("open store");
    (store, dir)
}

// ---- the database under test ------------------------------------------------
//
// By default every test stores into a SQLite file in its temp dir. With
// `HEAPLAB_TEST_DB=postgres://user@host/db` (what `.ci/postgres.sh` sets)
// each test gets a fresh PostgreSQL database instead, named
// `heaplab_test_<pid>_<hash of the path it stands for>`: `Store::open` creates it on first use, and the
// databases this process made are dropped when the test binary exits
// (unless HEAPLAB_TEST_DB_DISPOSABLE says the whole server is thrown away).

/// The PostgreSQL server the suite runs against, if one was given.
pub fn postgres_base() -> Option<String> {
    std::env::var("HEAPLAB_TEST_DB")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_base().is_some()
}

/// For a test that is SQLite-only by nature (it checks the database file
/// itself): true on PostgreSQL, after saying why the test does not apply.
/// Use as `if sqlite_only("why") { return; }`.
pub fn sqlite_only(why: &str) -> bool {
    let skip = on_postgres();
    if skip {
        eprintln!("SQLite-only, not run on PostgreSQL: {why}");
    }
    skip
}

/// The `--db` value of a test's database: `dir/file` on SQLite, the URL of
/// a database of its own on PostgreSQL. As with a file, the same `dir` and
/// `file` name the same database (a test that reopens its database after a
/// restart finds its rows).
pub fn test_db(dir: &Path, file: &str) -> PathBuf {
    use std::hash::{DefaultHasher, Hash, Hasher};
    match postgres_base() {
        None => dir.join(file),
        Some(base) => {
            let mut url = reqwest::Url::parse(&base).expect("HEAPLAB_TEST_DB is a URL");
            let mut hasher = DefaultHasher::new();
            dir.join(file).hash(&mut hasher);
            url.set_path(&format!("{}{:016x}", test_db_prefix(), hasher.finish()));
            PathBuf::from(url.to_string())
        }
    }
}

fn test_db_prefix() -> String {
    format!("heaplab_test_{}_", std::process::id())
}

/// Drops every database this test process created (at exit: servers and
/// stores of finished tests are gone by then; FORCE ends any leftover
/// connection of a test that failed).
#[ctor::dtor]
fn drop_test_databases() {
    let Some(base) = postgres_base() else {
        return;
    };
    // A throwaway cluster (`.ci/postgres.sh`) goes as a whole, faster than
    // a hundred DROP DATABASEs one after the other.
    if std::env::var_os("HEAPLAB_TEST_DB_DISPOSABLE").is_some() {
        return;
    }
    let work = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            )
            .bind(test_db_prefix())
            .fetch_all(&mut conn)
            .await
            .ok()?;
            for name in names {
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
            }
            Some(())
        })
    });
    let _ = work.join();
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub const CRASH_LOG: &str = "serial/desk-s4-crash.log";
pub const TUNED_FOLDER: &str = "harness/20260109_150318_s4";

pub async fn import(store: &Store, path: &Path) -> ImportOutcome {
    import_path(store, path, &ImportOptions::default())
        .await
        .expect("import")
}

pub async fn document(store: &Store, id: i64) -> RunDocument {
    RunDocument::load(store, id, &AcceptanceCriteria::default())
        .await
        .expect("load run")
}

// ---- server helpers -------------------------------------------------------

use std::future::Future;
use std::time::{Duration, Instant};

use heaplab::config::ServerConfig;
use heaplab::server::{self, ServerHandle};
use heaplab::sim::{Profile, Twin, TwinConfig};
use heaplab::store::DeviceSpec;

/// Polls `probe` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A twin with a fast heartbeat and its serial link in `dir`.
pub async fn twin(dir: &Path, name: &str, profile: Profile) -> Twin {
    let mut config = TwinConfig::new(name, profile);
    config.hb_interval = Duration::from_millis(100);
    config.link = Some(dir.join(name));
    Twin::spawn(config).await.expect("spawn twin")
}

/// How the server should reach a twin.
pub fn twin_device(name: &str, twin: &Twin) -> DeviceSpec {
    DeviceSpec {
        name: name.to_owned(),
        serial: Some(twin.serial_path().display().to_string()),
        baud: 115_200,
        url: Some(twin.base_url()),
        health_interval_s: 1,
        auth: None,
        board: Some("virtual".into()),
    }
}

pub fn server_config(dir: &Path, devices: Vec<DeviceSpec>) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        db: test_db(dir, "server.db"),
        auth_token: None,
        auth_read: true,
        insecure_no_auth: false,
        first_token: false,
        max_db_bytes: None,
        body_limit_bytes: 16 * 1024 * 1024,
        criteria: AcceptanceCriteria::default(),
        devices,
        soak: Default::default(),
    }
}

pub async fn start_server(config: ServerConfig) -> ServerHandle {
    server::start(config).await.expect("start server")
}

/// A page's HTML, with a bearer token when given.
pub async fn get_page(url: &str, token: Option<&str>) -> String {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET page");
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.text().await.expect("html")
}

/// Waits until `server` records device `id`'s serial in a run.
pub async fn until_recording(server: &ServerHandle, id: i64) {
    eventually(
        "the device's serial recorded",
        Duration::from_secs(60),
        || async {
            let live = server.recorder.hub().device(id)?;
            (live.serial_online && live.active_run.is_some()).then_some(())
        },
    )
    .await;
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let response = reqwest::get(url).await.expect("GET");
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.expect("json body")
}

/// Reads Server-Sent Events until `want` event names have all been seen.
pub async fn sse_until(
    url: &str,
    want: &[&str],
    timeout: Duration,
) -> Vec<(String, serde_json::Value)> {
    let mut response = reqwest::get(url).await.expect("SSE GET");
    let deadline = Instant::now() + timeout;
    let mut buf = String::new();
    let mut seen: Vec<(String, serde_json::Value)> = Vec::new();
    while !want.iter().all(|w| seen.iter().any(|(k, _)| k == w)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "SSE: timed out; saw {:?}",
            seen.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .expect("SSE chunk in time")
            .expect("SSE read")
            .expect("SSE stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if !data.is_empty() {
                seen.push((
                    event,
                    serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                ));
            }
        }
    }
    seen
}

/// One integer straight from the database, through a connection of the
/// test's own (read-only on SQLite): checks what was stored without going
/// through the store's API (which owns every statement of the app). `sql`
/// binds the run as `$1`.
pub async fn db_scalar(db: &Path, sql: &'static str, run: i64) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    if let Some(url) = heaplab::store::postgres_url(db) {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let v = sqlx::query_scalar(sql)
            .bind(run)
            .fetch_one(&mut conn)
            .await
            .expect("query");
        conn.close().await.expect("close");
        return v;
    }
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .expect("open db");
    let v = sqlx::query_scalar(sql)
        .bind(run)
        .fetch_one(&mut conn)
        .await
        .expect("query");
    conn.close().await.expect("close");
    v
}
