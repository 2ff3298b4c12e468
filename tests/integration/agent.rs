//! `heaplab agent` between a board and a central server, all real: the
//! server and the agent are `heaplab` processes, the board a twin on a
//! pseudo-terminal, and the network between agent and server a TCP proxy
//! the test can cut. After a server `kill -9`, a network drop and an agent
//! `kill -9`, every line the board sent is stored once, in order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heaplab::sim::{Profile, Twin, TwinConfig};
use heaplab::store::{Spool, Store, TokenScope};
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::central::{stored_lines, BoardBehindAgent, AGENT_HOST};
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(60);

/// A TCP proxy standing in for the network between agent and server:
/// `cut` drops every connection and refuses new ones until `restore`;
/// `retarget` follows a server that came back on another port.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    target: Arc<Mutex<SocketAddr>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let target = Arc::new(Mutex::new(target));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, target2, connections2) = (up.clone(), target.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let to = *target2.lock().expect("lock");
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections2.lock().expect("lock").push(task);
            }
        });
        Proxy {
            addr,
            up,
            target,
            connections,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn retarget(&self, to: SocketAddr) {
        *self.target.lock().expect("lock") = to;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `heaplab serve` on a free port; its address from its first line.
async fn spawn_server(db: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_CONFIG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn heaplab serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("server started in time")
        .expect("read stdout")
        .expect("a first line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    // Keep reading, so the server never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// `heaplab agent` for one board, through the proxy.
fn spawn_agent(spool: &Path, server: &str, token: &str, board: &Twin) -> Child {
    agent_command(spool, server, token, board)
        .spawn()
        .expect("spawn heaplab agent")
}

/// The command line of [`spawn_agent`], for a test to add flags to.
fn agent_command(spool: &Path, server: &str, token: &str, board: &Twin) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    command
        .args([
            "agent",
            "--name",
            "desk-agent",
            "--server",
            server,
            "--token",
            token,
        ])
        .arg("--spool")
        .arg(spool)
        .arg("--device")
        .arg(format!(
            "name=board,serial={},url={},health_interval_s=1",
            board.serial_path().display(),
            board.base_url()
        ))
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_CONFIG")
        .env_remove("HEAPLAB_CA_FILE")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn kill_9(child: &mut Child) {
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("wait");
}

/// A database with an `ingest` token for the agent; the token's secret.
async fn database_with_token(db: &Path) -> String {
    let store = Store::open(db).await.expect("open");
    let (_, secret) = store
        .create_token("desk-agent", TokenScope::Ingest)
        .await
        .expect("token");
    store.close().await;
    secret
}

/// Injects `[Test] marker n=…` lines, numbered from 1, until stopped.
struct Markers {
    sent: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Markers {
    fn start(board: Arc<Twin>) -> Markers {
        let sent = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sent2, stop2) = (sent.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !stop2.load(Ordering::SeqCst) {
                let n = sent2.load(Ordering::SeqCst) + 1;
                board.inject(marker_line(n).as_bytes()).await;
                sent2.store(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Markers { sent, stop, task }
    }

    fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Waits until the board has printed `more` markers past this moment.
    async fn wait_for_more(&self, what: &str, more: u32) {
        let before = self.sent();
        eventually(what, WAIT, || async {
            (self.sent() >= before + more).then_some(())
        })
        .await;
    }

    async fn stop(self) -> u32 {
        self.stop.store(true, Ordering::SeqCst);
        let sent = self.sent.clone();
        self.task.await.expect("marker task");
        sent.load(Ordering::SeqCst)
    }
}

/// Prints numbered markers on demand, continuing from the last number, so
/// a test can kill the agent between reads: a line the agent has read but
/// not yet spooled when it is killed cannot be saved by anyone.
struct PrintedMarkers {
    board: Arc<Twin>,
    printed: u32,
}

impl PrintedMarkers {
    fn new(board: Arc<Twin>) -> PrintedMarkers {
        PrintedMarkers { board, printed: 0 }
    }

    async fn print(&mut self, n: u32) {
        for i in self.printed + 1..=self.printed + n {
            self.board.inject(marker_line(i).as_bytes()).await;
        }
        self.printed += n;
    }

    fn printed(&self) -> u32 {
        self.printed
    }
}

/// The line a board prints for marker `n`; [`marker_numbers`] reads it back.
fn marker_line(n: u32) -> String {
    format!("[Test] marker n={n:06}\r\n")
}

fn marker_numbers(lines: &[(i64, String)]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|(_, text)| text.strip_prefix("[Test] marker n="))
        .map(|n| n.trim().parse().expect("marker number"))
        .collect()
}

/// Waits until the server has `n` markers; then every one of 1..=n must be
/// there exactly once, in order, and the lines in the order they were read.
async fn assert_exactly_once(store: &Store, n: u32) {
    let lines = eventually(&format!("{n} markers stored"), WAIT, || async {
        let lines = stored_lines(store, "board").await;
        (marker_numbers(&lines).len() >= n as usize).then_some(lines)
    })
    .await;
    let markers = marker_numbers(&lines);
    assert_eq!(
        markers,
        (1..=n).collect::<Vec<_>>(),
        "each marker once, in order"
    );
    assert!(
        lines.windows(2).all(|w| w[0].0 <= w[1].0),
        "lines are stored in the order the agent read them"
    );
}

/// Markers waiting in the agent's spool.
async fn spooled_markers(spool: &Spool) -> usize {
    let mut n = 0;
    for batch in spool.oldest(100_000).await.expect("read spool") {
        let events: Vec<serde_json::Value> = serde_json::from_slice(&batch.body).expect("json");
        n += events
            .iter()
            .filter(|e| {
                e["line"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("[Test] marker"))
            })
            .count();
    }
    n
}

async fn fast_board(dir: &Path, hb: Duration) -> Arc<Twin> {
    let mut config = TwinConfig::new("board", Profile::Tuned);
    config.hb_interval = hb;
    config.link = Some(dir.join("board"));
    Arc::new(Twin::spawn(config).await.expect("twin"))
}

struct Lab {
    dir: tempfile::TempDir,
    db: PathBuf,
    token: String,
    board: Arc<Twin>,
}

impl Lab {
    async fn new(hb: Duration) -> Lab {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("central.db");
        let token = database_with_token(&db).await;
        let board = fast_board(dir.path(), hb).await;
        Lab {
            db,
            token,
            board,
            dir,
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool.db")
    }

    /// The central server behind a proxy the test can cut, the agent
    /// sending to it through the proxy, and the server's store.
    async fn wire(&self) -> (Child, Proxy, Child, Store) {
        let (server, addr) = spawn_server(&self.db).await;
        let proxy = Proxy::start(addr).await;
        let agent = spawn_agent(&self.spool(), &proxy.url(), &self.token, &self.board);
        let store = Store::open(&self.db).await.expect("open");
        (server, proxy, agent, store)
    }

    /// The board printing numbered markers, once `at_least` of them are
    /// stored centrally.
    async fn markers_flowing(&self, store: &Store, at_least: usize) -> Markers {
        let markers = Markers::start(self.board.clone());
        eventually("lines at the server", WAIT, || async {
            (marker_numbers(&stored_lines(store, "board").await).len() >= at_least).then_some(())
        })
        .await;
        markers
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_loses_and_doubles_nothing() {
    let lab = Lab::new(Duration::from_millis(50)).await;
    let (mut server, proxy, mut agent, store) = lab.wire().await;
    let markers = lab.markers_flowing(&store, 30).await;

    kill_9(&mut server).await;
    // The board goes on while the server is away.
    markers
        .wait_for_more("markers while the server is down", 50)
        .await;
    let (mut server, addr) = spawn_server(&lab.db).await;
    proxy.retarget(addr);
    markers.wait_for_more("markers after the restart", 30).await;
    let n = markers.stop().await;
    assert_exactly_once(&store, n).await;
    assert_eq!(lab.board.lines_dropped(), 0, "the agent read every line");

    // The dashboard's view of the agent: its host, connected, no backlog.
    let agent_row = store.agent("desk-agent").await.expect("agent known");
    assert_eq!(agent_row.version, env!("CARGO_PKG_VERSION"));
    let devices = store.device_agents().await.expect("device agents");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].agent, "desk-agent");
    kill_9(&mut agent).await;
    kill_9(&mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_drop_is_bridged_by_the_spool_in_order() {
    let lab = Lab::new(Duration::from_millis(50)).await;
    let (mut server, proxy, mut agent, store) = lab.wire().await;
    let markers = lab.markers_flowing(&store, 20).await;

    // Cut mid-stream: in-flight requests die with their connections.
    proxy.cut();
    let spool = Spool::open(&lab.spool(), u64::MAX).await.expect("spool");
    let during = eventually("batches kept in the spool", WAIT, || async {
        let spooled = spool.oldest(1000).await.expect("read spool");
        (spooled.iter().map(|b| b.events).sum::<i64>() >= 100).then_some(())
    });
    during.await;
    proxy.restore();
    markers
        .wait_for_more("markers after the network is back", 30)
        .await;
    let n = markers.stop().await;
    assert_exactly_once(&store, n).await;
    assert_eq!(lab.board.lines_dropped(), 0, "the agent read every line");
    eventually("the spool drained", WAIT, || async {
        spool
            .oldest(1)
            .await
            .expect("read")
            .is_empty()
            .then_some(())
    })
    .await;
    kill_9(&mut agent).await;
    kill_9(&mut server).await;
}

/// The agent is killed with batches in its spool the server never got,
/// and lines wait in the board's serial buffer while it is dead. (A line
/// the agent has read but not yet spooled when it is killed cannot be
/// saved by anyone; this kills between reads, when every read is spooled.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_with_a_full_spool_sends_it_once_after_restart() {
    // Markers only: a line in flight at the kill would be lost on a real
    // host too, and would make the test depend on timing.
    let lab = Lab::new(Duration::from_secs(3600)).await;
    let (mut server, proxy, mut agent, store) = lab.wire().await;
    let mut markers = PrintedMarkers::new(lab.board.clone());
    markers.print(20).await;
    assert_exactly_once(&store, 20).await;

    proxy.cut();
    markers.print(30).await;
    let spool = Spool::open(&lab.spool(), u64::MAX).await.expect("spool");
    eventually("30 markers spooled", WAIT, || async {
        (spooled_markers(&spool).await >= 30).then_some(())
    })
    .await;
    spool.close().await;
    kill_9(&mut agent).await;
    // Written while no agent reads: the pty keeps them.
    markers.print(15).await;
    proxy.restore();
    let mut agent = spawn_agent(&lab.spool(), &proxy.url(), &lab.token, &lab.board);
    markers.print(15).await;
    assert_exactly_once(&store, markers.printed()).await;
    assert_eq!(lab.board.lines_dropped(), 0);
    kill_9(&mut agent).await;
    kill_9(&mut server).await;
}

/// A spool bounded far below what an outage produces drops its oldest
/// batches; the server records how many events are missing, where they are
/// missing, as a note on the device's run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_the_server_records_the_gap() {
    use heaplab::config::AgentConfig;
    use heaplab::store::EventKind;

    let lab = Lab::new(Duration::from_millis(20)).await;
    let server = start_server(server_config(lab.dir.path(), Vec::new())).await;
    // The server's own database is `server.db`: give the agent a token there.
    let (_, token) = server
        .store
        .create_token("desk-agent", TokenScope::Ingest)
        .await
        .expect("token");
    let proxy = Proxy::start(server.addr).await;
    proxy.cut();
    let agent = heaplab::agent::start(AgentConfig {
        server: proxy.url().parse().expect("url"),
        token,
        name: "desk-agent".into(),
        host: "bench-pi".into(),
        spool: lab.spool(),
        spool_max_bytes: 16 * 1024,
        ca_file: None,
        devices: vec![twin_device("board", &lab.board)],
    })
    .await
    .expect("agent");
    eventually("the spool dropping events", WAIT, || async {
        (agent.spool_stats().dropped_events > 0).then_some(())
    })
    .await;
    proxy.restore();
    let store = server.store.clone();
    let note = eventually("the gap recorded", WAIT, || async {
        let device = store.device_by_name("board").await.ok()??;
        let run = store.latest_run_of_device(device.id).await.ok()??;
        let notes = store.events(run, &[EventKind::Note]).await.ok()?;
        notes.into_iter().find(|e| e.message.contains("spool full"))
    })
    .await;
    let dropped = note.data["dropped_events"].as_i64().expect("a count");
    assert!(dropped > 0, "{note:?}");
    assert_eq!(note.data["agent"], "desk-agent");
    // The device shows where it is plugged in.
    let agents = store.device_agents().await.expect("agents");
    assert_eq!(agents[0].host, "bench-pi");
    agent.stop().await;
    server.stop().await.expect("stop");
}

/// Scenario S1 started on the central server for a board plugged into an
/// agent: the reboot request goes out through the agent (the only one on
/// the board's network), the waits watch the serial lines the agent
/// forwards, and the run lands in the central store as a local one would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_s1_on_an_agents_board_is_carried_out_by_the_agent() {
    use heaplab::store::{EventKind, RunKind, RunStatus};

    let lab = Lab::new(Duration::from_millis(100)).await;
    let central = BoardBehindAgent::start(lab.dir.path(), &lab.board, "board").await;
    let (server, write, id) = (&central.server, &central.write, central.device_id);
    let store = server.store.clone();

    let client = reqwest::Client::new();
    let started: serde_json::Value = client
        .post(format!("{}/api/v1/devices/{id}/scenario", server.url()))
        .bearer_auth(write)
        .json(&serde_json::json!({"scenario": "s1"}))
        .send()
        .await
        .expect("POST scenario")
        .error_for_status()
        .expect("accepted")
        .json()
        .await
        .expect("json");
    let run = started["run_id"].as_i64().expect("run id");
    let record = eventually("the scenario finished", WAIT, || async {
        let r = store.run(run).await.ok()?;
        (r.status != RunStatus::Active).then_some(r)
    })
    .await;
    assert_eq!(record.kind, RunKind::Scenario);
    assert_eq!(record.status, RunStatus::Completed, "{record:?}");
    assert!(
        lab.board
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/api/reboot"),
        "the agent sent the reboot to the board"
    );
    let events = store.events(run, &[]).await.expect("events");
    let passed: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Step && e.data["status"] == "passed")
        .filter_map(|e| e.data["name"].as_str())
        .collect();
    assert_eq!(passed.len(), 3, "every step passed: {passed:?}");
    assert!(
        events.iter().any(|e| e.kind == EventKind::Boot),
        "the reboot is in the run"
    );
    assert!(events.iter().any(|e| e.kind == EventKind::Ready));
    assert!(store.snapshot_count(run).await.expect("count") >= 1);
    // The dashboard's JSON says where the board is and how its agent is.
    let devices: serde_json::Value = client
        .get(format!("{}/api/v1/devices/{id}", server.url()))
        .bearer_auth(write)
        .send()
        .await
        .expect("GET device")
        .json()
        .await
        .expect("json");
    assert_eq!(devices["agent"]["host"], "desk-7");
    assert_eq!(devices["agent"]["state"], "connected");
    let page = get_page(&format!("{}/devices/{id}", server.url()), Some(write)).await;
    assert!(
        page.contains(&format!("host {AGENT_HOST} (agent desk-agent): connected")),
        "{page}"
    );
    central.stop().await;
}

/// An upload the server cannot store is refused with a reason, stores
/// nothing, and does not move the agent's batch number (so the agent's
/// spool keeps it); a proper upload after it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_upload_is_refused_clearly_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_server(server_config(dir.path(), Vec::new())).await;
    let (_, ingest) = server
        .store
        .create_token("desk-agent", TokenScope::Ingest)
        .await
        .expect("token");
    let url = format!("{}/api/v1/agents/desk-agent/batches", server.url());
    let agent = serde_json::json!({"host": "desk-7", "version": "0.1.0", "spool_id": "s1", "spooled_events": 0});
    let line = |device: &str, text: &str| serde_json::json!({"type": "serial", "device": device, "ts_us": 1_000, "line": text});
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value| client.post(&url).bearer_auth(&ingest).json(&body).send();

    let unknown_device = post(serde_json::json!({
        "agent": agent, "devices": [{"name": "board"}],
        "batches": [{"seq": 1, "events": [line("board", "ok"), line("ghost", "<script>")]}],
    }))
    .await
    .expect("POST");
    assert_eq!(unknown_device.status(), 400);
    let detail: serde_json::Value = unknown_device.json().await.expect("json");
    assert!(
        detail["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ghost")),
        "{detail}"
    );

    let out_of_order = post(serde_json::json!({
        "agent": agent, "devices": [{"name": "board"}],
        "batches": [{"seq": 2, "events": []}, {"seq": 1, "events": []}],
    }))
    .await
    .expect("POST");
    assert_eq!(out_of_order.status(), 400);
    assert_eq!(server.store.serial_line_count().await.expect("count"), 0);

    let good = post(serde_json::json!({
        "agent": agent, "devices": [{"name": "board"}],
        "batches": [{"seq": 1, "events": [line("board", "[Main] Setup complete (0ms)")]}],
    }))
    .await
    .expect("POST");
    assert_eq!(good.status(), 200);
    let again = post(serde_json::json!({
        "agent": agent, "devices": [{"name": "board"}],
        "batches": [{"seq": 1, "events": [line("board", "[Main] Setup complete (0ms)")]}],
    }))
    .await
    .expect("POST");
    let receipt: serde_json::Value = again.json().await.expect("json");
    assert_eq!(receipt["duplicates"], 1, "{receipt}");
    server.recorder.flush().await;
    assert_eq!(server.store.serial_line_count().await.expect("count"), 1);
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_uploads_over_https_only_when_it_trusts_the_servers_ca() {
    // Markers only, printed on demand: the untrusting agent is killed
    // between reads, so no line is lost in flight (see PrintedMarkers).
    let lab = Lab::new(Duration::from_secs(3600)).await;
    let (mut server, addr) = spawn_server(&lab.db).await;
    let ca = crate::webhook_receiver::make_ca();
    let ca_file = lab.dir.path().join("team-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let https = crate::webhook_receiver::tls_terminator(&ca, addr).await;
    let store = Store::open(&lab.db).await.expect("open");
    let mut markers = PrintedMarkers::new(lab.board.clone());

    // Without the CA the server's certificate is refused: everything waits
    // in the spool and nothing reaches the server.
    let mut untrusting = spawn_agent(&lab.spool(), &https, &lab.token, &lab.board);
    markers.print(50).await;
    let spool = Spool::open(&lab.spool(), u64::MAX).await.expect("spool");
    eventually("50 markers kept in the spool", WAIT, || async {
        (spooled_markers(&spool).await >= 50).then_some(())
    })
    .await;
    spool.close().await;
    assert!(
        marker_numbers(&stored_lines(&store, "board").await).is_empty(),
        "nothing crosses an untrusted TLS connection"
    );
    kill_9(&mut untrusting).await;

    // With --ca-file the same spool drains over HTTPS, each line once,
    // followed by what the board printed since.
    let mut trusting = agent_command(&lab.spool(), &https, &lab.token, &lab.board)
        .arg("--ca-file")
        .arg(&ca_file)
        .spawn()
        .expect("spawn heaplab agent");
    markers.print(30).await;
    assert_exactly_once(&store, markers.printed()).await;
    kill_9(&mut trusting).await;
    kill_9(&mut server).await;
}
