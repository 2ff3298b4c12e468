//! Timing requests over real HTTP: one warm-up, then the median of up to
//! `repeat` runs, fewer when a request is slow (a budget per request keeps
//! the whole benchmark within minutes even where the code is slow — which
//! is what it is meant to show).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::child::Server;
use crate::cli::CliError;
use crate::sim::{Profile, Twin, TwinConfig};
use crate::store::{DeviceSpec, Store};

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

/// The device page and live events while a device twin records onto a
/// soak run that already holds one size's week.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceFigures {
    /// The soak the twin records onto (the size's second run).
    pub run_id: i64,
    /// `GET /devices/{id}`, median over the samples.
    pub page: Measurement,
    pub page_p99_ms: f64,
    /// Serial line written to the twin's pty → its SSE event at a client,
    /// milliseconds.
    pub sse_median_ms: f64,
    pub sse_p99_ms: f64,
    /// Lines that reached the client (of `samples` sent).
    pub sse_samples: usize,
}

/// Copies `data`'s database, hands its second run to a twin's device as an
/// interrupted soak, and starts a `heaplab serve` child that continues that
/// soak from the twin; then times `GET /devices/{id}` and the
/// serial-line-to-SSE latency, `samples` of each.
pub async fn device(
    exe: &std::path::Path,
    data: &super::SizeData,
    name: &str,
    dir: &std::path::Path,
    client: &reqwest::Client,
    samples: usize,
) -> Result<DeviceFigures, CliError> {
    let run_id = *data
        .runs()
        .last()
        .ok_or_else(|| CliError::Failed("no run to record onto".into()))?;
    let twin_name = format!("soak-bench-twin-{name}");
    let mut config = TwinConfig::new(&twin_name, Profile::Tuned);
    config.hb_interval = Duration::from_secs(1);
    config.link = Some(dir.join(format!("{twin_name}.tty")));
    let twin = Twin::spawn(config).await?;
    let spec = DeviceSpec {
        name: twin_name.clone(),
        serial: Some(twin.serial_path().display().to_string()),
        url: Some(twin.base_url()),
        baud: 115_200,
        health_interval_s: 5,
        ..DeviceSpec::default()
    };
    let result = async {
        let db = dir.join(format!("device-{name}.db"));
        copy_db(&data.db, &db)?;
        let store = Store::open(&db).await?;
        let device = store.upsert_device(&spec).await?;
        store
            .adopt_as_interrupted_soak(run_id, device.id, crate::store::now_us())
            .await?;
        store.close().await;
        let arg = format!(
            "name={twin_name},serial={},url={},health_interval_s=5",
            twin.serial_path().display(),
            twin.base_url()
        );
        let server = Server::start(exe, &db, &[arg], &dir.join(super::SERVE_LOG)).await?;
        let figures = device_figures(&server, client, &twin, (device.id, run_id), samples).await;
        server.stop().await;
        super::remove_db(&db);
        figures
    }
    .await;
    twin.shutdown().await;
    result
}

/// A copy of a database no server has open (its WAL too, if one is left).
fn copy_db(from: &std::path::Path, to: &std::path::Path) -> Result<(), CliError> {
    super::remove_db(to);
    for suffix in ["", "-wal"] {
        let mut src = from.as_os_str().to_owned();
        src.push(suffix);
        let mut dst = to.as_os_str().to_owned();
        dst.push(suffix);
        let src = std::path::PathBuf::from(src);
        if suffix.is_empty() || src.exists() {
            std::fs::copy(&src, std::path::PathBuf::from(dst))?;
        }
    }
    Ok(())
}

async fn device_figures(
    server: &Server,
    client: &reqwest::Client,
    twin: &Twin,
    (device_id, run_id): (i64, i64),
    samples: usize,
) -> Result<DeviceFigures, CliError> {
    let samples = samples.max(1);
    let base = &server.base;
    // Wait until the server has resumed the soak and heartbeats arrive.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let device: serde_json::Value = client
            .get(format!("{base}/api/v1/devices/{device_id}"))
            .send()
            .await?
            .json()
            .await?;
        if device["live"]["active_run"].as_i64() == Some(run_id) {
            break;
        }
        if Instant::now() > deadline {
            return Err(CliError::Failed(format!(
                "the twin's device never continued run {run_id}: {device}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let url = format!("{base}/devices/{device_id}");
    let (cold, _, _) = get(client, &url).await?;
    let mut page_times = Vec::with_capacity(samples);
    let (mut bytes, mut status) = (0, 0);
    for _ in 0..samples {
        let (t, b, s) = get(client, &url).await?;
        page_times.push(t);
        (bytes, status) = (b, s);
    }
    if status != 200 {
        eprintln!("warning: GET {url} answered {status}");
    }

    let mut live = client
        .get(format!("{base}/api/v1/devices/{device_id}/live"))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::with_capacity(samples);
    let mut buf = String::new();
    for k in 0..samples {
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
        run_id,
        page_p99_ms: percentile(&mut page_times, 0.99),
        page: Measurement {
            ms: median(&mut page_times),
            cold_ms: cold,
            bytes,
            status,
            samples: page_times.len(),
        },
        sse_p99_ms: percentile(&mut latencies, 0.99),
        sse_median_ms: median(&mut latencies),
        sse_samples: latencies.len(),
    })
}

/// The nearest-rank percentile (`q` in 0..=1).
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.99), 198.0);
        assert_eq!(percentile(&mut v, 0.5), 100.0);
        assert_eq!(percentile(&mut v[..1], 0.99), 1.0);
        assert!(percentile(&mut [], 0.99).is_nan());
    }
}
