//! Timing requests over real HTTP: one warm-up, then the median of at
//! least `repeat` runs taken in turns across sizes, fewer when a request is
//! slow (a budget per request keeps the whole benchmark within minutes even
//! where the code is slow — which is what it is meant to show).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::child::Server;
use crate::cli::CliError;

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

/// How long a request is timed.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    /// Fewest timed runs.
    pub repeat: usize,
    /// Past `repeat` runs, a request keeps being timed this long, so one of
    /// a few milliseconds gets a median over a hundred runs rather than
    /// nine (nine of them swung a 600 k ÷ 60 k ratio from 0.9 to 2.1
    /// between runs of the benchmark).
    pub min: Duration,
    /// Past this, a slow request gets fewer than `repeat` runs.
    pub budget: Duration,
}

/// No request is timed more often than this.
const MAX_SAMPLES: usize = 400;

/// Times the same request against each of `urls` (one per size), taking
/// turns, with the order flipped every round: whatever else the machine
/// does while it samples weighs on every size alike, which is what makes
/// their ratio mean something. Each URL is warmed up once, then timed until
/// each has `repeat` runs and `min` has passed, or until `budget` is spent
/// (at least one timed run each).
pub async fn measure_interleaved<const N: usize>(
    client: &reqwest::Client,
    urls: [&str; N],
    Sampling {
        repeat,
        min,
        budget,
    }: Sampling,
) -> Result<[Measurement; N], CliError> {
    let mut cold = [0.0; N];
    for (i, url) in urls.iter().enumerate() {
        cold[i] = get(client, url).await?.0;
    }
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(repeat));
    let mut last = [(0u64, 0u16); N];
    let started = Instant::now();
    let mut round = 0usize;
    loop {
        let elapsed = started.elapsed();
        let wanted = round < repeat.max(1) || elapsed < min;
        let allowed = round == 0 || (elapsed < budget && round < MAX_SAMPLES);
        if !(wanted && allowed) {
            break;
        }
        for i in turns(round, N) {
            let (t, bytes, status) = get(client, urls[i]).await?;
            times[i].push(t);
            last[i] = (bytes, status);
        }
        round += 1;
    }
    Ok(std::array::from_fn(|i| {
        let (bytes, status) = last[i];
        if status != 200 {
            eprintln!("warning: GET {} answered {status}", urls[i]);
        }
        Measurement {
            ms: median(&mut times[i]),
            cold_ms: cold[i],
            bytes,
            status,
            samples: times[i].len(),
        }
    }))
}

/// The order of round `round` over `n` sizes: forwards on even rounds,
/// backwards on odd ones, so no size is always timed first.
pub(super) fn turns(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| if round % 2 == 0 { k } else { n - 1 - k })
}

/// One GET: (milliseconds to the last body byte, body bytes, status).
pub(super) async fn get(client: &reqwest::Client, url: &str) -> Result<(f64, u64, u16), CliError> {
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
    fn turns_flip_the_order_every_round() {
        assert_eq!(turns(0, 2).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(turns(1, 2).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(turns(4, 3).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(turns(7, 3).collect::<Vec<_>>(), [2, 1, 0]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.99), 198.0);
        assert_eq!(percentile(&mut v, 0.5), 100.0);
        assert_eq!(percentile(&mut v[..1], 0.99), 1.0);
        assert!(percentile(&mut [], 0.99).is_nan());
    }
}
