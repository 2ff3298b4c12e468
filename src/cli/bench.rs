//! `heaplab bench ingest`: end-to-end ingest from in-process device twins
//! into SQLite through the real server — sustained lines/s, and the
//! serial-line-to-SSE latency a dashboard sees. Reports numbers; asserts
//! nothing (speed claims live in benchmarks, never in timed tests).

use std::time::{Duration, Instant};

use clap::Args;

use super::CliError;
use crate::config::ServerConfig;
use crate::server;
use crate::sim::{Profile, Twin, TwinConfig};
use crate::store::{now_us, DeviceSpec};

#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Devices for the latency phase.
    #[arg(long, default_value_t = 20)]
    pub devices: usize,
    /// Lines per second per device in the latency phase.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// Devices flooding in the throughput phase.
    #[arg(long, default_value_t = 4)]
    pub flood_devices: usize,
    /// Lines per second each flooding device tries to send.
    #[arg(long, default_value_t = 40_000)]
    pub flood_rate: u32,
    /// Length of each phase: `10s`, `1m` (a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = crate::units::duration::secs_arg)]
    pub seconds: u64,
}

async fn start(
    dir: &std::path::Path,
    n: usize,
    chatter: u32,
) -> Result<(server::ServerHandle, Vec<Twin>), CliError> {
    let mut twins = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("bench-{i:02}");
        let mut config = TwinConfig::new(&name, Profile::Tuned);
        config.hb_interval = Duration::from_secs(1);
        config.chatter_per_s = chatter;
        config.seed = i as u64 + 1;
        config.link = Some(dir.join(&name));
        let twin = Twin::spawn(config).await?;
        devices.push(DeviceSpec {
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
    let config = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        db: dir.join(format!("bench-{n}.db")),
        auth_token: None,
        auth_read: false,
        insecure_no_auth: false,
        first_token: false,
        max_db_bytes: None,
        body_limit_bytes: 1 << 20,
        criteria: Default::default(),
        devices,
        soak: Default::default(),
    };
    Ok((server::start(config).await?, twins))
}

pub async fn ingest(args: &IngestBenchArgs) -> Result<(), CliError> {
    let dir = tempfile::tempdir()?;
    let phase = Duration::from_secs(args.seconds.max(2));
    let throughput = throughput_phase(dir.path(), args, phase).await?;
    let latency = latency_phase(dir.path(), args, phase).await?;
    print(args, &throughput, &latency);
    Ok(())
}

/// What the throughput phase measured.
struct Throughput {
    /// Lines committed during the phase.
    written: i64,
    secs: f64,
    /// Lines the twins could not write to their pty.
    dropped: u64,
    lines_per_s: f64,
}

/// What the latency phase measured.
struct Latency {
    /// Serial line → SSE event, in µs, sorted.
    latencies: Vec<i64>,
    /// Lines injected.
    sent: u64,
}

/// Phase 1: sustained throughput (lines parsed, recorded and committed).
async fn throughput_phase(
    dir: &std::path::Path,
    args: &IngestBenchArgs,
    phase: Duration,
) -> Result<Throughput, CliError> {
    eprintln!(
        "throughput: {} twins trying {} lines/s each for {} s…",
        args.flood_devices,
        args.flood_rate,
        phase.as_secs()
    );
    let (srv, twins) = start(dir, args.flood_devices, args.flood_rate).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    srv.recorder.flush().await;
    let count =
        |store: crate::store::Store| async move { store.serial_line_count().await.unwrap_or(0) };
    let before = count(srv.store.clone()).await;
    let t0 = Instant::now();
    tokio::time::sleep(phase).await;
    srv.recorder.flush().await;
    let written = count(srv.store.clone()).await - before;
    let secs = t0.elapsed().as_secs_f64();
    let dropped: u64 = twins.iter().map(Twin::lines_dropped).sum();
    let lines_per_s = written as f64 / secs;
    srv.stop().await?;
    for t in twins {
        t.shutdown().await;
    }
    Ok(Throughput {
        written,
        secs,
        dropped,
        lines_per_s,
    })
}

/// Phase 2: latency from the moment a line is written to the pty to the
/// moment its SSE event arrives at a client.
async fn latency_phase(
    dir: &std::path::Path,
    args: &IngestBenchArgs,
    phase: Duration,
) -> Result<Latency, CliError> {
    eprintln!(
        "latency: {} twins × {} lines/s for {} s, one SSE client each…",
        args.devices,
        args.rate,
        phase.as_secs()
    );
    let (srv, twins) = start(dir, args.devices, 0).await?;
    let base = srv.url();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let devices: serde_json::Value = reqwest::get(format!("{base}/api/v1/devices"))
        .await?
        .json()
        .await?;
    let ids: Vec<i64> = devices
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["id"].as_i64()).collect())
        .unwrap_or_default();
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let stop = tokio_util::sync::CancellationToken::new();
    let clients: Vec<_> = ids
        .iter()
        .map(|id| {
            let request = reqwest::Client::new().get(format!("{base}/api/v1/devices/{id}/live"));
            tokio::spawn(sse_client(request, lat_tx.clone(), stop.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = inject_stamped_lines(&twins, args.rate, phase).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
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
    srv.stop().await?;
    for t in twins {
        t.shutdown().await;
    }
    Ok(Latency { latencies, sent })
}

/// One dashboard: reads a device's SSE stream until `stop` and sends the
/// age of every `[Bench] t=<µs>` line it sees.
pub(super) async fn sse_client(
    request: reqwest::RequestBuilder,
    tx: tokio::sync::mpsc::UnboundedSender<i64>,
    stop: tokio_util::sync::CancellationToken,
) {
    let Ok(mut response) = request.send().await else {
        return;
    };
    let mut buf = String::new();
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return,
            c = response.chunk() => c,
        };
        let Ok(Some(chunk)) = chunk else { return };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(at) = frame.find("[Bench] t=") {
                let digits: String = frame[at + 10..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(sent) = digits.parse::<i64>() {
                    let _ = tx.send(now_us() - sent);
                }
            }
        }
    }
}

/// Writes a line stamped with the time into every twin `rate` times a
/// second for `phase`; returns how many were written.
async fn inject_stamped_lines(twins: &[Twin], rate: u32, phase: Duration) -> u64 {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let deadline = Instant::now() + phase;
    let mut tick = tokio::time::interval(interval);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        tick.tick().await;
        for twin in twins {
            let line = format!("[Bench] t={}\r\n", now_us());
            twin.inject(line.as_bytes()).await;
            sent += 1;
        }
    }
    sent
}

fn print(args: &IngestBenchArgs, t: &Throughput, l: &Latency) {
    let latencies = &l.latencies;
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    println!("ingest benchmark (in-process twins → pty → serial source → recorder → SQLite)");
    println!(
        "  sustained: {:.0} lines/s written ({} lines in {:.1} s, {} devices; twins dropped {} lines the pty could not take)",
        t.lines_per_s, t.written, t.secs, args.flood_devices, t.dropped
    );
    println!(
        "  latency, serial line → SSE event: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} lines seen, {} devices × {} lines/s)",
        pct(0.50),
        pct(0.99),
        latencies.last().map_or(f64::NAN, |us| *us as f64 / 1000.0),
        latencies.len(),
        l.sent,
        args.devices,
        args.rate
    );
}
