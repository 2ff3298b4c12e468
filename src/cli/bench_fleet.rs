//! `heaplab bench fleet`: a team's fleet in one process — device twins on
//! pseudo-terminals behind `heaplab agent`s (each with its own disk spool),
//! uploading over real HTTP, through a TCP link the benchmark can cut, into
//! one server. Prints sustained lines/s stored centrally, the p99 from a
//! serial line leaving a twin to its SSE event at the central server, and
//! how fast the spools drain after an outage. Reports numbers; asserts
//! nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::CliError;
use crate::agent::AgentHandle;
use crate::config::{AgentConfig, ServerConfig};
use crate::server::{self, ServerHandle};
use crate::sim::{Profile, Twin, TwinConfig};
use crate::store::{now_us, DeviceSpec, TokenScope};

#[derive(Debug, Args)]
pub struct FleetBenchArgs {
    /// Agents (USB hosts), each with its share of the devices.
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// Device twins in all.
    #[arg(long, default_value_t = 200)]
    pub devices: usize,
    /// Log lines per second each twin writes besides its heartbeat.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Seconds of steady traffic measured.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds the link between agents and server is cut.
    #[arg(long, default_value_t = 10)]
    pub outage: u64,
    /// Devices whose serial → SSE latency is measured (one SSE client each).
    #[arg(long, default_value_t = 40)]
    pub sse_clients: usize,
}

/// The central database the benchmark writes to.
/// The global `--db` (a file path, `sqlite://PATH` or `postgres://…`; a
/// temp file when not given).
fn database(arg: Option<&Path>, dir: &Path) -> Result<PathBuf, CliError> {
    match arg.map(|p| p.to_string_lossy().into_owned()).as_deref() {
        None => Ok(dir.join("fleet.db")),
        Some(url) => Ok(PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url))),
    }
}

/// The link between the agents and the server; `cut` is the outage.
struct Link {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Link {
    async fn start(to: SocketAddr) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut conns = conns2.lock().unwrap_or_else(|e| e.into_inner());
                conns.retain(|t| !t.is_finished());
                conns.push(task);
            }
        });
        Ok(Link {
            addr,
            up,
            connections,
            accept,
        })
    }

    fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            let mut conns = self.connections.lock().unwrap_or_else(|e| e.into_inner());
            for task in conns.drain(..) {
                task.abort();
            }
        }
    }
}

struct Fleet {
    server: ServerHandle,
    link: Link,
    agents: Vec<AgentHandle>,
    twins: Vec<Twin>,
    read_token: String,
}

async fn start_fleet(
    args: &FleetBenchArgs,
    db: Option<&Path>,
    dir: &Path,
) -> Result<Fleet, CliError> {
    let db = database(db, dir)?;
    let server = server::start(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        db,
        auth_token: None,
        auth_read: true,
        insecure_no_auth: false,
        first_token: false,
        max_db_bytes: None,
        body_limit_bytes: 1 << 20,
        criteria: Default::default(),
        devices: Vec::new(),
        soak: Default::default(),
    })
    .await?;
    let (_, ingest) = server
        .store
        .create_token("fleet-agents", TokenScope::Ingest)
        .await?;
    let (_, read_token) = server
        .store
        .create_token("fleet-dashboard", TokenScope::Read)
        .await?;
    let link = Link::start(server.addr).await?;
    let agents_n = args.agents.max(1);
    let mut twins = Vec::with_capacity(args.devices);
    let mut per_agent: Vec<Vec<DeviceSpec>> = vec![Vec::new(); agents_n];
    for i in 0..args.devices {
        let name = format!("fleet-{i:03}");
        let mut config = TwinConfig::new(&name, Profile::Tuned);
        config.hb_interval = Duration::from_secs(1);
        config.chatter_per_s = args.rate;
        config.seed = i as u64 + 1;
        config.link = Some(dir.join(&name));
        let twin = Twin::spawn(config).await?;
        per_agent[i % agents_n].push(DeviceSpec {
            name,
            serial: Some(twin.serial_path().display().to_string()),
            baud: 115_200,
            url: None,
            health_interval_s: 0,
            auth: None,
            board: None,
        });
        twins.push(twin);
    }
    let mut agents = Vec::with_capacity(agents_n);
    for (i, devices) in per_agent.into_iter().enumerate() {
        let config = AgentConfig {
            server: format!("http://{}", link.addr)
                .parse()
                .map_err(|e| CliError::Failed(format!("link URL: {e}")))?,
            token: ingest.clone(),
            name: format!("bench-agent-{i}"),
            host: format!("bench-host-{i}"),
            spool: dir.join(format!("spool-{i}.db")),
            spool_max_bytes: 1 << 30,
            ca_file: None,
            devices,
        };
        agents.push(crate::agent::start(config).await?);
    }
    Ok(Fleet {
        server,
        link,
        agents,
        twins,
        read_token,
    })
}

pub async fn run(args: &FleetBenchArgs, db: Option<&Path>) -> Result<(), CliError> {
    let dir = tempfile::tempdir()?;
    eprintln!(
        "fleet: {} twins behind {} agents, {} log lines/s each plus a 1 Hz heartbeat…",
        args.devices, args.agents, args.rate
    );
    let fleet = start_fleet(args, db, dir.path()).await?;
    let phase = Duration::from_secs(args.seconds.max(2));
    // Every device registered and streaming before anything is measured.
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.server.store.device_agents().await?.len() < args.devices
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What the spools gathered while the fleet started is sent first, so
    // the steady phase measures steady traffic.
    wait_drained(&fleet, Duration::from_secs(300)).await?;

    eprintln!(
        "steady: {} s of traffic, {} SSE clients…",
        phase.as_secs(),
        args.sse_clients
    );
    let (sustained, latencies, sent) = steady_phase(&fleet, args, phase).await?;

    eprintln!("outage: link cut for {} s…", args.outage);
    let drain = outage_phase(&fleet, Duration::from_secs(args.outage)).await?;

    let Fleet {
        server,
        link,
        agents,
        twins,
        ..
    } = fleet;
    for agent in agents {
        agent.stop().await;
    }
    link.accept.abort();
    server.stop().await?;
    for twin in twins {
        twin.shutdown().await;
    }
    let backend = match db.and_then(crate::store::postgres_url) {
        Some(_) => "PostgreSQL",
        None => "SQLite",
    };
    print(args, backend, sustained, &latencies, sent, &drain);
    Ok(())
}

/// Lines/s stored centrally while stamped lines measure serial → SSE.
async fn steady_phase(
    fleet: &Fleet,
    args: &FleetBenchArgs,
    phase: Duration,
) -> Result<(f64, Vec<i64>, u64), CliError> {
    let base = fleet.server.url();
    let mut ids: Vec<(i64, String)> = fleet
        .server
        .store
        .devices()
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    ids.truncate(args.sse_clients);
    let watched: Vec<&Twin> = ids
        .iter()
        .filter_map(|(_, name)| fleet.twins.iter().find(|t| t.serial_path().ends_with(name)))
        .collect();
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let stop = tokio_util::sync::CancellationToken::new();
    let client = reqwest::Client::new();
    let clients: Vec<_> = ids
        .iter()
        .map(|(id, _)| {
            let request = client
                .get(format!("{base}/api/v1/devices/{id}/live"))
                .bearer_auth(&fleet.read_token);
            tokio::spawn(super::bench::sse_client(
                request,
                lat_tx.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    fleet.server.recorder.flush().await;
    let before = fleet.server.store.serial_line_count().await?;
    let t0 = Instant::now();
    let sent = stamped_lines(&watched, phase).await;
    fleet.server.recorder.flush().await;
    let written = fleet.server.store.serial_line_count().await? - before;
    let secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    for c in clients {
        let _ = c.await;
    }
    drop(lat_tx);
    let mut latencies = Vec::new();
    while let Some(l) = lat_rx.recv().await {
        latencies.push(l);
    }
    latencies.sort_unstable();
    Ok((written as f64 / secs, latencies, sent))
}

/// One stamped line per watched twin per second for `phase`.
async fn stamped_lines(twins: &[&Twin], phase: Duration) -> u64 {
    let deadline = Instant::now() + phase;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut sent = 0;
    while Instant::now() < deadline {
        tick.tick().await;
        for twin in twins {
            twin.inject(format!("[Bench] t={}\r\n", now_us()).as_bytes())
                .await;
            sent += 1;
        }
    }
    sent
}

/// What the outage phase measured.
struct Drain {
    backlog: i64,
    secs: f64,
    drained: bool,
}

/// Cuts the link, lets the spools grow, restores it and times the drain.
async fn outage_phase(fleet: &Fleet, outage: Duration) -> Result<Drain, CliError> {
    fleet.link.set(false);
    tokio::time::sleep(outage).await;
    let spooled =
        |agents: &[AgentHandle]| agents.iter().map(|a| a.spool_stats().events).sum::<i64>();
    let backlog = spooled(&fleet.agents);
    // Drained: the server has stored every batch spooled during the outage.
    let mut through = Vec::new();
    for agent in &fleet.agents {
        through.push((agent.name().to_owned(), agent.spool().newest_seq().await?));
    }
    fleet.link.set(true);
    let t0 = Instant::now();
    let drained = stored_through(fleet, &through, Duration::from_secs(300)).await?;
    Ok(Drain {
        backlog,
        secs: t0.elapsed().as_secs_f64(),
        drained,
    })
}

/// Waits until the server has stored every batch now in the spools.
async fn wait_drained(fleet: &Fleet, limit: Duration) -> Result<bool, CliError> {
    let mut through = Vec::new();
    for agent in &fleet.agents {
        through.push((agent.name().to_owned(), agent.spool().newest_seq().await?));
    }
    stored_through(fleet, &through, limit).await
}

/// Waits until each agent's stored batch number reaches its target.
async fn stored_through(
    fleet: &Fleet,
    through: &[(String, i64)],
    limit: Duration,
) -> Result<bool, CliError> {
    let t0 = Instant::now();
    loop {
        let mut drained = true;
        for (name, seq) in through {
            let stored = match fleet.server.store.agent(name).await {
                Ok(agent) => agent.last_seq,
                Err(crate::store::StoreError::NotFound { .. }) => 0,
                Err(e) => return Err(e.into()),
            };
            drained &= *seq == 0 || stored >= *seq;
        }
        if drained || t0.elapsed() >= limit {
            return Ok(drained);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print(
    args: &FleetBenchArgs,
    backend: &str,
    sustained: f64,
    latencies: &[i64],
    sent: u64,
    d: &Drain,
) {
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    println!(
        "fleet benchmark ({} twins → pty → {} agents → disk spool → HTTP → one server → {backend})",
        args.devices, args.agents
    );
    let offered = args.devices as f64 * (f64::from(args.rate) + 1.0);
    println!(
        "  sustained: {sustained:.0} lines/s stored centrally (the twins offer about {offered:.0} lines/s)"
    );
    println!(
        "  latency, serial line → SSE at the central server: p50 {:.1} ms, p99 {:.1} ms ({} of {} stamped lines seen; an SSE client that lags skips events)",
        pct(0.50),
        pct(0.99),
        latencies.len(),
        sent
    );
    println!(
        "  after a {} s outage: {} spooled events drained in {:.1} s ({:.0} events/s, live traffic going on){}",
        args.outage,
        d.backlog,
        d.secs,
        d.backlog as f64 / d.secs.max(0.001),
        if d.drained { "" } else { " — NOT drained within 300 s" }
    );
}
