//! `heaplab bench soak`: do runs of a week stay fast to look at? Builds (or
//! reuses) databases holding two week-long runs at a big and a small size
//! (600 k and 60 k snapshots by default), serves each with a real `heaplab
//! serve` child on loopback, and times what a person opening such a run
//! waits for: the run page, its JSON, its chart (whole and zoomed), a page
//! of snapshots, the comparison of the two runs, the device page while a
//! twin records, and the server's memory with ten viewers at once. It also
//! times `heaplab import` of the 1 M-line log. Every time is printed with
//! big ÷ small beside the targets ("Runs of a week stay fast").
//!
//! Like `bench ingest` it reports numbers and asserts nothing: PASS/MISS is
//! printed, the exit code is 0 either way.

mod child;
mod device;
mod log;
mod report;
mod timing;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::CliError;
pub use child::{ImportRun, Rss};
pub use device::DeviceFigures;
pub use log::SoakLog;
pub use report::Row;
pub use timing::{Measurement, Viewers};

#[derive(Debug, Clone, Args)]
pub struct SoakBenchArgs {
    /// Snapshots in each big (week-long at 1 Hz) run.
    #[arg(long, default_value_t = 600_000)]
    pub snapshots: u64,
    /// Snapshots in each small run, the ratios' denominator.
    #[arg(long, default_value_t = 60_000)]
    pub small: u64,
    /// Where the logs and databases go (kept); default a temp dir (removed).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Reuse the logs, databases and import figures already in --dir when
    /// they were made for the same sizes.
    #[arg(long)]
    pub reuse: bool,
    /// Fewest timed runs per request after one warm-up (the median is
    /// reported).
    #[arg(long, default_value_t = 9)]
    pub repeat: usize,
    /// Past --repeat runs, a request keeps being timed this long: one of a
    /// few milliseconds swings by 2× on a busy 2-core machine (which of the
    /// server's pooled connections answers, how warm its page cache is),
    /// and a median of nine let one swing flip a 600 k ÷ 60 k ratio.
    #[arg(long, default_value = "2s", value_parser = crate::units::duration::secs_arg)]
    pub sample_s: u64,
    /// Seconds of timed runs per request before fewer than --repeat are
    /// accepted (keeps slow requests from taking the benchmark's whole hour).
    /// `20s`, `1m` (a bare number is seconds).
    #[arg(long, default_value = "20s", value_parser = crate::units::duration::secs_arg)]
    pub budget_s: u64,
    /// Device page requests and live lines per size, behind their p99.
    #[arg(long, default_value_t = 200)]
    pub device_samples: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The ceiling on the device page's and live stream's p99.
const DEVICE_P99_MS: f64 = 50.0;
/// Concurrent viewers in the memory figure (the number).
const VIEWERS: usize = 10;
/// The zoomed chart's window: one hour, the same at both sizes, so its
/// ratio shows whether reading a window depends on the run's length.
const ZOOM_US: i64 = 3_600_000_000;
/// Written in --dir so --reuse knows what it holds.
const MANIFEST: &str = "soak-bench.json";
const MANIFEST_VERSION: u32 = 1;
/// The servers' stderr, in --dir.
const SERVE_LOG: &str = "serve-stderr.log";

/// The two week-long runs of one size, in their own database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeData {
    pub db: PathBuf,
    pub logs: Vec<SoakLog>,
    pub imports: Vec<ImportRun>,
}

impl SizeData {
    fn runs(&self) -> Vec<i64> {
        self.imports.iter().map(|i| i.run_id).collect()
    }
}

/// What --dir holds after preparation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prepared {
    version: u32,
    snapshots: u64,
    small: u64,
    big_data: SizeData,
    small_data: SizeData,
    /// `heaplab import` of the big bare serial log (the import figures).
    log_import: ImportRun,
}

/// One timed request at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub key: String,
    pub url: String,
    pub measurement: Measurement,
}

/// Everything measured against one size's server.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub snapshots: u64,
    pub data: SizeData,
    pub requests: Vec<Request>,
    /// The server after the timed requests.
    pub rss_after: Rss,
    pub viewers: Viewers,
}

impl SizeReport {
    pub fn request(&self, key: &str) -> Option<&Measurement> {
        self.requests
            .iter()
            .find(|r| r.key == key)
            .map(|r| &r.measurement)
    }
}

/// The device figures with the twin recording onto each size's soak.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSizes {
    pub big: DeviceFigures,
    pub small: DeviceFigures,
}

/// The whole benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub dir: PathBuf,
    pub reused: bool,
    pub big: SizeReport,
    pub small: SizeReport,
    /// `heaplab import` of the big bare serial log.
    pub log_import: ImportRun,
    pub device: Option<DeviceSizes>,
    /// Why the device figures are missing, if they are.
    pub device_error: Option<String>,
    pub rows: Vec<Row>,
}

/// `heaplab bench soak`: measures with the running binary and prints.
pub async fn run(args: &SoakBenchArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()?;
    let report = soak(args, &exe).await?;
    if args.json {
        super::print::json(&report);
    } else {
        print(&report, args);
    }
    Ok(())
}

/// The benchmark as a library function: `exe` is the heaplab binary whose
/// `import` and `serve` are measured (a test passes the debug build).
pub async fn soak(args: &SoakBenchArgs, exe: &Path) -> Result<SoakReport, CliError> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let (prepared, reused) = prepare(args, exe, &dir).await?;
    let client = crate::tls::client_builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let budget = Duration::from_secs(args.budget_s);
    let [big, small] = measure_sizes(
        exe,
        &client,
        [
            (&prepared.big_data, prepared.snapshots),
            (&prepared.small_data, prepared.small),
        ],
        timing::Sampling {
            repeat: args.repeat,
            min: Duration::from_secs(args.sample_s),
            budget,
        },
    )
    .await?;
    eprintln!("device page and live events while twins record onto both soaks, taking turns…");
    let (device, device_error) = match device::device_pair(
        exe,
        [(&prepared.big_data, "big"), (&prepared.small_data, "small")],
        &dir,
        &client,
        args.device_samples,
    )
    .await
    {
        Ok([big, small]) => (Some(DeviceSizes { big, small }), None),
        Err(e) => {
            eprintln!("warning: device figures left out: {e}");
            (None, Some(e.to_string()))
        }
    };
    let mut report = SoakReport {
        dir,
        reused,
        big,
        small,
        log_import: prepared.log_import,
        device,
        device_error,
        rows: Vec::new(),
    };
    report.rows = rows(&report);
    Ok(report)
}

/// Writes the logs and imports them, or reuses what --dir holds.
async fn prepare(
    args: &SoakBenchArgs,
    exe: &Path,
    dir: &Path,
) -> Result<(Prepared, bool), CliError> {
    let manifest = dir.join(MANIFEST);
    if args.reuse {
        let held = std::fs::read(&manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Prepared>(&bytes).ok())
            .filter(|p| {
                p.version == MANIFEST_VERSION
                    && p.snapshots == args.snapshots
                    && p.small == args.small
                    && p.big_data.db.exists()
                    && p.small_data.db.exists()
            });
        if let Some(prepared) = held {
            eprintln!("reusing the logs and databases in {}", dir.display());
            return Ok((prepared, true));
        }
    }
    let _ = std::fs::remove_file(&manifest);
    let big_data = build_size(exe, dir, "big", args.snapshots, [1, 2]).await?;
    let small_data = build_size(exe, dir, "small", args.small, [3, 4]).await?;
    // The import figures: the big log as a bare serial file, the form the
    // issue's 1 M-line figure names, into a database of its own.
    let scratch = dir.join("import-bench.db");
    remove_db(&scratch);
    let log = big_data
        .logs
        .first()
        .ok_or_else(|| CliError::Failed("no big log".into()))?
        .serial_log();
    eprintln!("timing heaplab import of {}…", log.display());
    let log_import = child::import(exe, &scratch, &log).await?;
    remove_db(&scratch);
    let prepared = Prepared {
        version: MANIFEST_VERSION,
        snapshots: args.snapshots,
        small: args.small,
        big_data,
        small_data,
        log_import,
    };
    let json = serde_json::to_vec_pretty(&prepared)
        .map_err(|e| CliError::Failed(format!("manifest: {e}")))?;
    std::fs::write(&manifest, json)?;
    Ok((prepared, false))
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
}

/// Two logs of `snapshots` snapshots (different seeds, so different
/// content) imported into `<dir>/soak-<name>.db`.
async fn build_size(
    exe: &Path,
    dir: &Path,
    name: &str,
    snapshots: u64,
    seeds: [u64; 2],
) -> Result<SizeData, CliError> {
    let db = dir.join(format!("soak-{name}.db"));
    remove_db(&db);
    let mut logs = Vec::new();
    let mut imports = Vec::new();
    for (seed, letter) in seeds.into_iter().zip(["a", "b"]) {
        let run_name = format!("soak-{name}-{letter}");
        eprintln!("writing {run_name}: {snapshots} snapshots…");
        let dir = dir.to_owned();
        let log = tokio::task::spawn_blocking(move || log::write(&dir, &run_name, snapshots, seed))
            .await
            .map_err(|e| CliError::Failed(format!("writing the log: {e}")))??;
        eprintln!("importing {} ({} lines)…", log.folder.display(), log.lines);
        imports.push(child::import(exe, &db, &log.folder).await?);
        logs.push(log);
    }
    Ok(SizeData { db, logs, imports })
}

/// The requests timed against one size's database, by key: the chart
/// zoomed to the hour from the middle of its first run.
fn request_paths(data: &SizeData) -> Result<Vec<(&'static str, String)>, CliError> {
    let runs = data.runs();
    let (Some(&a), Some(&b)) = (runs.first(), runs.get(1)) else {
        return Err(CliError::Failed("a size needs two runs".into()));
    };
    let log = data
        .logs
        .first()
        .ok_or_else(|| CliError::Failed("no log".into()))?;
    let from = log.first_us + (log.last_us - log.first_us) / 2;
    let to = (from + ZOOM_US).min(log.last_us.max(from + 1));
    Ok(vec![
        ("run_page", format!("/runs/{a}")),
        ("run_json", format!("/api/v1/runs/{a}")),
        ("chart", format!("/charts/runs/{a}.svg")),
        (
            "chart_zoom",
            format!("/charts/runs/{a}.svg?from={from}&to={to}"),
        ),
        (
            "snapshots",
            format!("/api/v1/runs/{a}/snapshots?limit=1000"),
        ),
        ("compare", format!("/compare?a={a}&b={b}")),
    ])
}

/// Serves both sizes' databases at once and times every request against
/// both, taking turns ([`timing::measure_interleaved`]); then each
/// server's memory, and its ten viewers.
async fn measure_sizes(
    exe: &Path,
    client: &reqwest::Client,
    sizes: [(&SizeData, u64); 2],
    sampling: timing::Sampling,
) -> Result<[SizeReport; 2], CliError> {
    let [(big, big_n), (small, small_n)] = sizes;
    let (big_paths, small_paths) = (request_paths(big)?, request_paths(small)?);
    let big_server =
        child::Server::start(exe, &big.db, &[], &big.db.with_file_name(SERVE_LOG)).await?;
    let small_server = match child::Server::start(
        exe,
        &small.db,
        &[],
        &small.db.with_file_name(SERVE_LOG),
    )
    .await
    {
        Ok(server) => server,
        Err(e) => {
            big_server.stop().await;
            return Err(e);
        }
    };
    let servers = [&big_server, &small_server];
    let measured = async {
        let mut requests = [Vec::new(), Vec::new()];
        for ((key, big_path), (_, small_path)) in big_paths.iter().zip(&small_paths) {
            eprintln!(
                "GET {big_path} at {} and {small_path} at {}, taking turns…",
                report::count(big_n),
                report::count(small_n)
            );
            let urls = [
                format!("{}{big_path}", big_server.base),
                format!("{}{small_path}", small_server.base),
            ];
            let measured =
                timing::measure_interleaved(client, [&urls[0], &urls[1]], sampling).await?;
            for ((list, url), measurement) in requests.iter_mut().zip(urls).zip(measured) {
                list.push(Request {
                    key: (*key).to_owned(),
                    url,
                    measurement,
                });
            }
        }
        let rss_after = servers.map(child::Server::rss);
        let mut viewers = Vec::new();
        for ((server, data), n) in servers.iter().zip([big, small]).zip([big_n, small_n]) {
            eprintln!("{} snapshots: {VIEWERS} viewers at once…", report::count(n));
            viewers.push(timing::viewers(client, server, &data.runs(), VIEWERS).await?);
        }
        Ok::<_, CliError>((requests, rss_after, viewers))
    }
    .await;
    big_server.stop().await;
    small_server.stop().await;
    let ([big_requests, small_requests], [big_rss, small_rss], viewers) = measured?;
    let [big_viewers, small_viewers] = <[Viewers; 2]>::try_from(viewers)
        .map_err(|_| CliError::Failed("viewers at both sizes".into()))?;
    Ok([
        SizeReport {
            snapshots: big_n,
            data: big.clone(),
            requests: big_requests,
            rss_after: big_rss,
            viewers: big_viewers,
        },
        SizeReport {
            snapshots: small_n,
            data: small.clone(),
            requests: small_requests,
            rss_after: small_rss,
            viewers: small_viewers,
        },
    ])
}

/// The table, in the order.
fn rows(r: &SoakReport) -> Vec<Row> {
    let mut rows = Vec::new();
    request_rows(r, &mut rows);
    device_rows(r, &mut rows);
    server_memory_rows(r, &mut rows);
    import_rows(r, &mut rows);
    rows
}

/// A timed request's rows: its time target, and whether a bytes row
/// follows (with its target).
struct Timed {
    key: &'static str,
    figure: &'static str,
    max_ms: Option<f64>,
    bytes: bool,
    max_kb: Option<u64>,
}

/// The timed requests, in the order, with their targets.
const TIMED: [Timed; 6] = [
    Timed {
        key: "run_page",
        figure: "run page `GET /runs/{id}`",
        max_ms: Some(150.0),
        bytes: true,
        max_kb: Some(300),
    },
    Timed {
        key: "run_json",
        figure: "run JSON `GET /api/v1/runs/{id}`",
        max_ms: Some(50.0),
        bytes: false,
        max_kb: None,
    },
    Timed {
        key: "chart",
        figure: "chart `GET /charts/runs/{id}.svg`",
        max_ms: Some(100.0),
        bytes: false,
        max_kb: None,
    },
    Timed {
        key: "chart_zoom",
        figure: "chart zoomed to 1 h (`?from=…&to=…`)",
        max_ms: Some(100.0),
        bytes: false,
        max_kb: None,
    },
    Timed {
        key: "snapshots",
        figure: "snapshots `GET /api/v1/runs/{id}/snapshots?limit=1000`",
        max_ms: None,
        bytes: true,
        max_kb: None,
    },
    Timed {
        key: "compare",
        figure: "compare `GET /compare?a={id}&b={id2}`",
        max_ms: Some(300.0),
        bytes: false,
        max_kb: None,
    },
];

/// A time row per timed request measured at both sizes, each followed by
/// its bytes row where the table shows one.
fn request_rows(r: &SoakReport, rows: &mut Vec<Row>) {
    use report::{bytes_row, time_row};
    let pair = |key: &str| Some((r.big.request(key)?, r.small.request(key)?));
    for f in &TIMED {
        let Some((big, small)) = pair(f.key) else {
            continue;
        };
        rows.push(time_row(f.figure, big, small, f.max_ms));
        if f.bytes {
            rows.push(bytes_row(
                &format!("{} — bytes", f.figure),
                big,
                small,
                f.max_kb,
            ));
        }
    }
}

/// The device page and SSE latency while a twin records onto each size's
/// soak, or one row saying they were left out.
fn device_rows(r: &SoakReport, rows: &mut Vec<Row>) {
    use report::{ms_row, value_row};
    let Some(d) = &r.device else {
        rows.push(value_row(
            "device page while a twin records",
            "left out".into(),
            "—".into(),
            None,
        ));
        return;
    };
    let (big, small) = (&d.big, &d.small);
    rows.push(ms_row(
        "device page `GET /devices/{id}` while its soak records, median",
        big.page.ms,
        small.page.ms,
        None,
    ));
    rows.push(ms_row(
        "device page while its soak records, p99",
        big.page_p99_ms,
        small.page_p99_ms,
        Some(DEVICE_P99_MS),
    ));
    rows.push(ms_row(
        "serial line → SSE event while it records, median",
        big.sse_median_ms,
        small.sse_median_ms,
        None,
    ));
    rows.push(ms_row(
        "serial line → SSE event, p99",
        big.sse_p99_ms,
        small.sse_p99_ms,
        Some(DEVICE_P99_MS),
    ));
}

/// The server's memory after the requests and with the viewers at once,
/// and the slowest viewer.
fn server_memory_rows(r: &SoakReport, rows: &mut Vec<Row>) {
    use report::{mb_of_kb, ms, value_row};
    let rss = |s: &SizeReport| {
        format!(
            "{} (peak {})",
            mb_of_kb(s.rss_after.rss_kb),
            mb_of_kb(s.rss_after.hwm_kb)
        )
    };
    rows.push(value_row(
        "server RSS after the requests (VmRSS, VmHWM)",
        rss(&r.big),
        rss(&r.small),
        Some(("≤ 150 MB".into(), r.big.rss_after.hwm_kb <= 150 * 1024)),
    ));
    rows.push(value_row(
        &format!("server RSS, {VIEWERS} viewers loading run page + chart at once (peak)"),
        mb_of_kb(r.big.viewers.peak_rss_kb),
        mb_of_kb(r.small.viewers.peak_rss_kb),
        Some(("≤ 150 MB".into(), r.big.viewers.peak_rss_kb <= 150 * 1024)),
    ));
    rows.push(value_row(
        &format!("slowest of {VIEWERS} viewers (run page + chart)"),
        ms(r.big.viewers.slowest_ms),
        ms(r.small.viewers.slowest_ms),
        None,
    ));
}

/// `heaplab import` of the bare log (speed, memory) and of a run folder.
fn import_rows(r: &SoakReport, rows: &mut Vec<Row>) {
    use report::{mb_of_kb, value_row};
    let imp = &r.log_import;
    rows.push(value_row(
        &format!("heaplab import of the {}-line log — lines/s", imp.lines),
        format!("{:.0} k lines/s", imp.lines_per_s / 1000.0),
        "—".into(),
        Some(("≥ 500 k lines/s".into(), imp.lines_per_s >= 500_000.0)),
    ));
    rows.push(value_row(
        "heaplab import of that log — peak RSS",
        mb_of_kb(imp.peak_rss_kb),
        "—".into(),
        Some(("≤ 100 MB".into(), imp.peak_rss_kb <= 100 * 1024)),
    ));
    let folder = |s: &SizeReport| {
        s.data.imports.first().map_or_else(
            || "—".into(),
            |i| {
                format!(
                    "{:.0} k lines/s, {}",
                    i.lines_per_s / 1000.0,
                    mb_of_kb(i.peak_rss_kb)
                )
            },
        )
    };
    rows.push(value_row(
        "import of a run folder (serial.log + mem.jsonl timestamps)",
        folder(&r.big),
        folder(&r.small),
        None,
    ));
}

fn print(r: &SoakReport, args: &SoakBenchArgs) {
    let big_lines = r.big.data.logs.first().map_or(0, |l| l.lines);
    let small_lines = r.small.data.logs.first().map_or(0, |l| l.lines);
    println!(
        "soak benchmark: two week-long runs per size ({} snapshots, {} lines; {} snapshots, {} lines) \
         served by heaplab serve on loopback, both sizes at once, taking turns; median of at least {} \
         runs (more within {} s) after a warm-up{}",
        r.big.snapshots,
        big_lines,
        r.small.snapshots,
        small_lines,
        args.repeat,
        args.sample_s,
        if r.reused { " (logs and databases reused)" } else { "" }
    );
    println!("data in {} (server stderr in {SERVE_LOG})", r.dir.display());
    println!();
    report::print(&r.rows, r.big.snapshots, r.small.snapshots);
    let slow: Vec<String> = r
        .big
        .requests
        .iter()
        .filter(|q| q.measurement.samples < args.repeat)
        .map(|q| format!("{} ({}×)", q.key, q.measurement.samples))
        .collect();
    if !slow.is_empty() {
        println!();
        println!(
            "fewer timed runs than --repeat (over the {} s budget): {}",
            args.budget_s,
            slow.join(", ")
        );
    }
    if let Some(e) = &r.device_error {
        println!("device figures left out: {e}");
    }
    let misses = r.rows.iter().filter(|row| row.pass == Some(false)).count();
    println!();
    println!(
        "{misses} of {} rows with targets missed",
        r.rows.iter().filter(|row| row.pass.is_some()).count()
    );
}
