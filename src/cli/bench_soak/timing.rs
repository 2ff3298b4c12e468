//! Timing requests over real HTTP: one warm-up, then the median of up to
//! `repeat` runs, fewer when a request is slow (a budget per request keeps
//! the whole benchmark within minutes even where the code is slow — which
//! is what it is meant to show).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::child::Server;
use crate::cli::CliError;
use crate::sim::{Profile, Twin, TwinConfig};

/// One request's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Median of the timed runs, milliseconds (whole body read).
    pub ms: f64,
    /// The warm-up run (first request: cold caches, lazy rollups).
    pub cold_ms: f64,
    pub bytes: u64,
    pub status: u16,
    /// Timed runs behind the median.
    pub samples: usize,
}

/// Times `GET url`: warm up once, then repeat until `repeat` runs or
/// `budget` is spent (at least one timed run).
pub async fn measure(
    client: &reqwest::Client,
    url: &str,
    repeat: usize,
    budget: Duration,
) -> Result<Measurement, CliError> {
    let (cold, _, _) = get(client, url).await?;
    let mut times = Vec::with_capacity(repeat);
    let mut bytes = 0;
    let mut status = 0;
    let started = Instant::now();
    while times.len() < repeat.max(1) && (times.is_empty() || started.elapsed() < budget) {
        let (t, b, s) = get(client, url).await?;
        times.push(t);
        bytes = b;
        status = s;
    }
    if status != 200 {
        eprintln!("warning: GET {url} answered {status}");
    }
    Ok(Measurement {
        ms: median(&mut times),
        cold_ms: cold,
        bytes,
        status,
        samples: times.len(),
    })
}

/// One GET: (milliseconds to the last body byte, body bytes, status).
async fn get(client: &reqwest::Client, url: &str) -> Result<(f64, u64, u16), CliError> {
    let t0 = Instant::now();
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((
        t0.elapsed().as_secs_f64() * 1000.0,
        body.len() as u64,
        status,
    ))
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Concurrent viewers: what the slowest one waited, and the server's
/// resident set at its highest while they loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Viewers {
    pub viewers: usize,
    /// Slowest viewer's run page + chart, milliseconds.
    pub slowest_ms: f64,
    /// Highest VmRSS sampled while they loaded, KB.
    pub peak_rss_kb: i64,
    pub statuses_ok: bool,
}

/// `viewers` clients at once, each loading a run page and its chart
/// (alternating between `runs`), while `/proc` is sampled every 20 ms.
pub async fn viewers(
    client: &reqwest::Client,
    server: &Server,
    runs: &[i64],
    viewers: usize,
) -> Result<Viewers, CliError> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..viewers {
        let client = client.clone();
        let run = runs.get(i % runs.len().max(1)).copied().unwrap_or(1);
        let page = format!("{}/runs/{run}", server.base);
        let chart = format!("{}/charts/runs/{run}.svg", server.base);
        tasks.spawn(async move {
            let t0 = Instant::now();
            let (_, _, a) = get(&client, &page).await?;
            let (_, _, b) = get(&client, &chart).await?;
            Ok::<_, CliError>((t0.elapsed().as_secs_f64() * 1000.0, a == 200 && b == 200))
        });
    }
    let mut peak = server.rss().rss_kb;
    let mut slowest = 0f64;
    let mut ok = true;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tick.tick() => peak = peak.max(server.rss().rss_kb),
            done = tasks.join_next() => match done {
                None => break,
                Some(joined) => {
                    let (ms, status_ok) = joined
                        .map_err(|e| CliError::Failed(format!("viewer: {e}")))??;
                    slowest = slowest.max(ms);
                    ok &= status_ok;
                }
            },
        }
    }
    Ok(Viewers {
        viewers,
        slowest_ms: slowest,
        peak_rss_kb: peak.max(server.rss().rss_kb),
        statuses_ok: ok,
    })
}

/// The device page and live events while a device twin records.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceFigures {
    pub page: Measurement,
    /// Serial line written to the twin's pty → its SSE event at a client,
    /// median over `repeat` lines, milliseconds.
    pub sse_ms: f64,
}

/// Starts a twin in this process and a `heaplab serve` child recording it
/// into `db` (next to the week-long runs), then times `GET /devices/{id}`
/// and the serial-line-to-SSE latency.
pub async fn device(
    exe: &std::path::Path,
    db: &std::path::Path,
    dir: &std::path::Path,
    client: &reqwest::Client,
    repeat: usize,
    budget: Duration,
) -> Result<DeviceFigures, CliError> {
    let mut config = TwinConfig::new("soak-bench-twin", Profile::Tuned);
    config.hb_interval = Duration::from_secs(1);
    config.link = Some(dir.join("soak-bench-twin.tty"));
    let twin = Twin::spawn(config).await?;
    let device = format!(
        "name=soak-bench-twin,serial={},url={},health_interval_s=5",
        twin.serial_path().display(),
        twin.base_url()
    );
    let result = async {
        let server = Server::start(exe, db, &[device], &dir.join(super::SERVE_LOG)).await?;
        let figures = device_figures(&server, client, &twin, repeat, budget).await;
        server.stop().await;
        figures
    }
    .await;
    twin.shutdown().await;
    result
}

async fn device_figures(
    server: &Server,
    client: &reqwest::Client,
    twin: &Twin,
    repeat: usize,
    budget: Duration,
) -> Result<DeviceFigures, CliError> {
    let base = &server.base;
    // Wait until the device records (its source opened the pty and a few
    // heartbeats arrived).
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let devices: serde_json::Value = client
            .get(format!("{base}/api/v1/devices"))
            .send()
            .await?
            .json()
            .await?;
        let id = devices.as_array().and_then(|a| {
            a.iter()
                .find(|d| d["name"] == "soak-bench-twin")
                .and_then(|d| d["id"].as_i64())
        });
        if let Some(id) = id {
            break id;
        }
        if Instant::now() > deadline {
            return Err(CliError::Failed(
                "the twin never appeared as a device".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let page = measure(client, &format!("{base}/devices/{id}"), repeat, budget).await?;

    let mut live = client
        .get(format!("{base}/api/v1/devices/{id}/live"))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    let mut buf = String::new();
    for k in 0..repeat.max(1) {
        let marker = format!("[Bench] soak k={k};");
        let t0 = Instant::now();
        twin.inject(format!("{marker}\r\n").as_bytes()).await;
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while !buf.contains(&marker) {
                match live.chunk().await? {
                    Some(chunk) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                    None => return Ok::<_, CliError>(false),
                }
            }
            Ok(true)
        })
        .await;
        match seen {
            Ok(Ok(true)) => latencies.push(t0.elapsed().as_secs_f64() * 1000.0),
            Ok(Ok(false)) => return Err(CliError::Failed("the live stream ended".into())),
            Ok(Err(e)) => return Err(e),
            Err(_) => eprintln!("warning: line {k} never arrived on the live stream"),
        }
        buf.clear();
    }
    Ok(DeviceFigures {
        page,
        sse_ms: median(&mut latencies),
    })
}
