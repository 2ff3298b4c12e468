//! The device page and its live stream while a device twin records onto a
//! soak run that already holds a week: both sizes run at once (a twin and a
//! `heaplab serve` child each) and are sampled in turns, so a burst of
//! other work on the machine lands on both alike rather than on whichever
//! size happened to be measured at the time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::child::Server;
use super::timing::{get, median, percentile, turns, Measurement};
use super::SizeData;
use crate::cli::CliError;
use crate::sim::{Profile, Twin, TwinConfig};
use crate::store::{DeviceSpec, Store};

/// The device page and live events at one size.
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

/// One size's twin, the copy of its database, and the server continuing
/// its soak from the twin.
struct Recording {
    twin: Twin,
    server: Option<Server>,
    db: PathBuf,
    device_id: i64,
    run_id: i64,
}

impl Recording {
    /// Copies `data`'s database, hands its second run to a new twin's
    /// device as an interrupted soak, and starts a server that continues it.
    async fn start(exe: &Path, data: &SizeData, name: &str, dir: &Path) -> Result<Self, CliError> {
        let run_id = *data
            .runs()
            .last()
            .ok_or_else(|| CliError::Failed("no run to record onto".into()))?;
        let twin_name = format!("soak-bench-twin-{name}");
        let mut config = TwinConfig::new(&twin_name, Profile::Tuned);
        config.hb_interval = Duration::from_secs(1);
        config.link = Some(dir.join(format!("{twin_name}.tty")));
        let twin = Twin::spawn(config).await?;
        let mut recording = Recording {
            twin,
            server: None,
            db: dir.join(format!("device-{name}.db")),
            device_id: 0,
            run_id,
        };
        match recording.serve(exe, data, &twin_name, dir).await {
            Ok(()) => Ok(recording),
            Err(e) => {
                recording.stop().await;
                Err(e)
            }
        }
    }

    async fn serve(
        &mut self,
        exe: &Path,
        data: &SizeData,
        twin_name: &str,
        dir: &Path,
    ) -> Result<(), CliError> {
        let spec = DeviceSpec {
            name: twin_name.to_owned(),
            serial: Some(self.twin.serial_path().display().to_string()),
            url: Some(self.twin.base_url()),
            baud: 115_200,
            health_interval_s: 5,
            ..DeviceSpec::default()
        };
        copy_db(&data.db, &self.db)?;
        let store = Store::open(&self.db).await?;
        let device = store.upsert_device(&spec).await?;
        self.device_id = device.id;
        store
            .adopt_as_interrupted_soak(self.run_id, device.id, crate::store::now_us())
            .await?;
        store.close().await;
        let arg = format!(
            "name={twin_name},serial={},url={},health_interval_s=5",
            self.twin.serial_path().display(),
            self.twin.base_url()
        );
        self.server =
            Some(Server::start(exe, &self.db, &[arg], &dir.join(super::SERVE_LOG)).await?);
        Ok(())
    }

    fn base(&self) -> Result<&str, CliError> {
        self.server
            .as_ref()
            .map(|s| s.base.as_str())
            .ok_or_else(|| CliError::Failed("no server".into()))
    }

    /// Waits until the server has resumed the soak and heartbeats arrive.
    async fn wait_recording(&self, client: &reqwest::Client) -> Result<(), CliError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/api/v1/devices/{}", self.base()?, self.device_id);
        loop {
            let device: serde_json::Value = client.get(&url).send().await?.json().await?;
            if device["live"]["active_run"].as_i64() == Some(self.run_id) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CliError::Failed(format!(
                    "the twin's device never continued run {}: {device}",
                    self.run_id
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
        super::remove_db(&self.db);
        self.twin.shutdown().await;
    }
}

/// A device page's and a live stream's samples at one size.
#[derive(Default)]
struct Samples {
    cold_ms: f64,
    page_ms: Vec<f64>,
    bytes: u64,
    status: u16,
    sse_ms: Vec<f64>,
}

impl Samples {
    fn figures(mut self, run_id: i64) -> DeviceFigures {
        DeviceFigures {
            run_id,
            page_p99_ms: percentile(&mut self.page_ms, 0.99),
            page: Measurement {
                ms: median(&mut self.page_ms),
                cold_ms: self.cold_ms,
                bytes: self.bytes,
                status: self.status,
                samples: self.page_ms.len(),
            },
            sse_p99_ms: percentile(&mut self.sse_ms, 0.99),
            sse_median_ms: median(&mut self.sse_ms),
            sse_samples: self.sse_ms.len(),
        }
    }
}

/// Starts a twin and a server per size (`sizes` is big, small), then times
/// `GET /devices/{id}` and the serial-line-to-SSE latency `samples` times
/// each, taking turns between the sizes.
pub async fn device_pair(
    exe: &Path,
    sizes: [(&SizeData, &str); 2],
    dir: &Path,
    client: &reqwest::Client,
    samples: usize,
) -> Result<[DeviceFigures; 2], CliError> {
    let mut recordings = Vec::with_capacity(2);
    let mut failed = None;
    for (data, name) in sizes {
        match Recording::start(exe, data, name, dir).await {
            Ok(r) => recordings.push(r),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let result = match failed {
        Some(e) => Err(e),
        None => sample(&recordings, client, samples.max(1)).await,
    };
    for recording in recordings {
        recording.stop().await;
    }
    result
}

async fn sample(
    recordings: &[Recording],
    client: &reqwest::Client,
    samples: usize,
) -> Result<[DeviceFigures; 2], CliError> {
    for r in recordings {
        r.wait_recording(client).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut taken: Vec<Samples> = recordings.iter().map(|_| Samples::default()).collect();
    let mut pages = Vec::new();
    for (r, s) in recordings.iter().zip(&mut taken) {
        let url = format!("{}/devices/{}", r.base()?, r.device_id);
        s.cold_ms = get(client, &url).await?.0;
        pages.push(url);
    }
    for k in 0..samples {
        for i in turns(k, recordings.len()) {
            let (t, bytes, status) = get(client, &pages[i]).await?;
            let s = &mut taken[i];
            s.page_ms.push(t);
            (s.bytes, s.status) = (bytes, status);
        }
    }
    for (url, s) in pages.iter().zip(&taken) {
        if s.status != 200 {
            eprintln!("warning: GET {url} answered {}", s.status);
        }
    }
    let mut streams = Vec::new();
    for r in recordings {
        let url = format!("{}/api/v1/devices/{}/live", r.base()?, r.device_id);
        streams.push((client.get(url).send().await?, String::new()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for k in 0..samples {
        for i in turns(k, recordings.len()) {
            let (live, buf) = &mut streams[i];
            if let Some(ms) = line_to_event(&recordings[i].twin, live, buf, k).await? {
                taken[i].sse_ms.push(ms);
            }
        }
    }
    let figures: Vec<DeviceFigures> = taken
        .into_iter()
        .zip(recordings)
        .map(|(s, r)| s.figures(r.run_id))
        .collect();
    figures
        .try_into()
        .map_err(|_| CliError::Failed("device figures for both sizes".into()))
}

/// Writes a marker line to the twin's serial port and waits for it on the
/// live stream: milliseconds, or `None` when it never arrived.
async fn line_to_event(
    twin: &Twin,
    live: &mut reqwest::Response,
    buf: &mut String,
    k: usize,
) -> Result<Option<f64>, CliError> {
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
    buf.clear();
    match seen {
        Ok(Ok(true)) => Ok(Some(t0.elapsed().as_secs_f64() * 1000.0)),
        Ok(Ok(false)) => Err(CliError::Failed("the live stream ended".into())),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            eprintln!("warning: line {k} never arrived on the live stream");
            Ok(None)
        }
    }
}

/// A copy of a database no server has open (its WAL too, if one is left),
/// written through to disk so its writeback does not land in the timings.
fn copy_db(from: &Path, to: &Path) -> Result<(), CliError> {
    super::remove_db(to);
    for suffix in ["", "-wal"] {
        let mut src = from.as_os_str().to_owned();
        src.push(suffix);
        let mut dst = to.as_os_str().to_owned();
        dst.push(suffix);
        let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
        if suffix.is_empty() || src.exists() {
            std::fs::copy(&src, &dst)?;
            std::fs::File::open(&dst)?.sync_all()?;
        }
    }
    Ok(())
}
