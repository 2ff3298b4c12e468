//! `heaplab run SCENARIO (--device NAME | --port PATH --ip ADDR)`: its own
//! in-process ingestion (recorder + the device's serial and health sources)
//! on the database, the scenario, the verdict, optional repeats, artifacts
//! and the CI gate. Also `heaplab compare --a … --b …` for groups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::analysis::AcceptanceCriteria;
use crate::ingest::SourceSupervisor;
use crate::recorder::{LiveHub, Recorder};
use crate::scenario::groups::{self, GateReport};
use crate::scenario::model;
use crate::scenario::runner::{
    run_scenario, Observer, Progress, RunContext, RunOptions, ScenarioRun, StepStatus,
};
use crate::scenario::ScenarioError;
use crate::store::{DeviceRecord, DeviceSpec, Store};
use crate::units::{stat_value, with_unit};

/// Serial ports tried when `--port` is not given (as the harness does).
const AUTO_PORTS: [&str; 2] = ["/dev/ttyACM0", "/dev/ttyUSB0"];

/// Which device a scenario runs on: a registered one by name, or one
/// reached by port and address (registered on the fly).
#[derive(Debug, Clone, Default, Args)]
pub struct DeviceTarget {
    /// A registered device, by name.
    #[arg(long, conflicts_with_all = ["port", "ip"])]
    pub device: Option<String>,
    /// Serial port of an unregistered device [default: /dev/ttyACM0, then /dev/ttyUSB0].
    #[arg(long)]
    pub port: Option<PathBuf>,
    /// Address of an unregistered device: host or host:port.
    #[arg(long)]
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// A built-in (s1, s2, s3, s4, s5, s6, prompt) or a scenario file (.toml).
    pub scenario: String,
    #[command(flatten)]
    pub target: DeviceTarget,
    /// Run the scenario N times and make a run group with statistics.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Skip /api/health calls (health steps, health in bursts, polling).
    #[arg(long)]
    pub no_health: bool,
    /// Skip reboot steps.
    #[arg(long)]
    pub no_reboot: bool,
    /// Skip page loads (GET / and *.html).
    #[arg(long)]
    pub no_pages: bool,
    /// Requests in flight in every burst.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// /api/health requests in every burst.
    #[arg(long)]
    pub health_count: Option<usize>,
    /// HTTP basic auth for the device, user:pass.
    #[arg(long)]
    pub auth: Option<String>,
    /// Default timeout of wait steps: `30s`, `2m`, `500ms` (a bare number
    /// is seconds) [default: 30s].
    #[arg(long, value_parser = crate::units::duration::secs_f64_arg)]
    pub timeout: Option<f64>,
    /// Never prompt: pause steps and checkpoints become notes.
    #[arg(long)]
    pub non_interactive: bool,
    /// Checkpoints to pause at: `after_<step name>`, `after_ip`, `all` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub pause: Vec<String>,
    /// A scenario parameter, name=value (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// A label for the run(s).
    #[arg(long)]
    pub label: Option<String>,
    /// Also write each run as a harness folder under DIR.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// CI gate: compare per-tag hin_min with a run (ID) or a group (gID).
    #[arg(long)]
    pub baseline: Option<String>,
    /// CI gate: largest allowed drop of a tag's hin_min below the baseline, bytes.
    #[arg(long, default_value_t = 2048)]
    pub max_regression: i64,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

impl RunArgs {
    pub fn options(&self) -> RunOptions {
        RunOptions {
            no_health: self.no_health,
            no_reboot: self.no_reboot,
            no_pages: self.no_pages,
            parallel: self.parallel,
            health_count: self.health_count,
            auth: self.auth.clone(),
            timeout_s: self.timeout,
            non_interactive: self.non_interactive,
            pause: self.pause.clone(),
            params: self.params.iter().cloned().collect::<BTreeMap<_, _>>(),
            label: self.label.clone(),
        }
    }
}

/// What `heaplab run` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub runs: Vec<ScenarioRun>,
    pub group_id: Option<i64>,
    pub group: Option<groups::GroupDocument>,
    pub gate: Option<GateReport>,
    pub pass: bool,
}

/// The CLI entry: prints, and returns the exit code (1 when a step failed,
/// the verdict failed or the gate failed).
pub async fn run(args: RunArgs, db: &Path, criteria: &AcceptanceCriteria) -> ExitCode {
    match execute(&args, db, criteria, !args.json).await {
        Ok(summary) => {
            if args.json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            if summary.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn printer() -> Observer {
    Arc::new(|p: &Progress| match p {
        Progress::Started {
            run_id,
            scenario,
            title,
        } => println!("run #{run_id}: {scenario} — {title}"),
        Progress::StepStarted {
            index,
            total,
            name,
            step_type,
        } => println!("  ▶ [{index}/{total}] {name} ({step_type})"),
        Progress::StepEnded { total, outcome } => {
            let mark = match outcome.status {
                StepStatus::Passed => "✓",
                StepStatus::Failed => "✗",
                StepStatus::Skipped => "–",
                StepStatus::Running => "…",
            };
            println!(
                "  {mark} [{}/{total}] {} {} in {:.2} s: {}",
                outcome.index,
                outcome.name,
                outcome.status.as_str(),
                outcome.ms as f64 / 1000.0,
                outcome.detail
            );
        }
        Progress::Note(n) => println!("  · {n}"),
    })
}

/// The verdict block printed after each run.
pub fn print_verdict(run: &ScenarioRun) {
    let d = &run.document.report.derived;
    println!(
        "  derived: hin_min {} · hm_min {} · pf_min {} · pm_min {} · frag_max {} · steady_frag_max {} · alloc failures {} · reboots {} · snapshots {}",
        with_unit(d.hin_min, "B"),
        with_unit(d.hm_min, "B"),
        with_unit(d.pf_min, "B"),
        with_unit(d.pm_min, "B"),
        with_unit(d.frag_max, "%"),
        with_unit(d.steady_frag_max, "%"),
        d.alloc_failures,
        d.reboots,
        d.snapshots
    );
    for c in &run.document.report.verdict.checks {
        println!(
            "    {} {:<16} {:<14} measured {:<12} {}",
            if c.pass { "✓" } else { "✗" },
            c.name,
            c.threshold,
            with_unit(c.measured, &c.unit),
            c.detail
        );
    }
    println!(
        "  verdict: {}{}",
        run.document.report.verdict.label(),
        if run.step_failed {
            " (and a step failed)"
        } else {
            ""
        }
    );
}

/// The device to run on: registered by name, or registered on the fly from
/// `--port`/`--ip`.
async fn resolve_device(
    store: &Store,
    args: &DeviceTarget,
    auth: Option<String>,
) -> Result<DeviceRecord, ScenarioError> {
    if let Some(name) = &args.device {
        return store
            .device_by_name(name)
            .await?
            .ok_or_else(|| ScenarioError::NotFound(format!("device {name:?}")));
    }
    let port = match &args.port {
        Some(p) => p.clone(),
        None => AUTO_PORTS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                ScenarioError::Options(
                    "no --device, no --port, and neither /dev/ttyACM0 nor /dev/ttyUSB0 exists"
                        .into(),
                )
            })?,
    };
    let url = args.ip.as_ref().map(|ip| {
        if ip.starts_with("http://") || ip.starts_with("https://") {
            ip.clone()
        } else {
            format!("http://{ip}")
        }
    });
    let stem = port
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "serial".into());
    let spec = DeviceSpec {
        name: format!("adhoc-{stem}"),
        serial: Some(port.display().to_string()),
        baud: crate::store::default_baud(),
        url,
        health_interval_s: crate::store::default_health_interval(),
        auth,
        board: None,
    };
    Ok(store.upsert_device(&spec).await?)
}

/// Runs everything `heaplab run` does and returns it (the CLI prints; tests
/// inspect).
pub async fn execute(
    args: &RunArgs,
    db: &Path,
    criteria: &AcceptanceCriteria,
    print: bool,
) -> Result<RunSummary, ScenarioError> {
    let (scenario, _) = model::load(&args.scenario)?;
    if args.repeat == 0 {
        return Err(ScenarioError::Options("--repeat must be at least 1".into()));
    }
    let store = Store::open(db).await?;
    // Check the baseline before spending minutes on runs.
    let baseline = match &args.baseline {
        Some(spec) => Some(groups::baseline_tags(&store, spec, criteria).await?),
        None => None,
    };
    let device = resolve_device(&store, &args.target, args.auth.clone()).await?;

    let ingestion = Ingestion::start(&store, &device, args.no_health)?;
    wait_for_serial(&ingestion.recorder, &device).await;
    let ctx = RunContext {
        store: store.clone(),
        recorder: ingestion.recorder.clone(),
        http: ingestion.http.clone(),
        criteria: criteria.clone(),
    };
    // Ingestion stops in order (every buffered row written, runs closed)
    // whether the repeats finished, a run failed or an export did.
    let repeats = run_repeats(&ctx, &device, &scenario, args, print).await;
    ingestion.stop().await;
    let (runs, failure) = repeats?;
    if let Some(e) = failure {
        return Err(e);
    }
    summarize(&store, args, &scenario, &device, runs, baseline, print).await
}

/// The command's own in-process ingestion: a recorder on the database and
/// the device's serial and health sources feeding it.
struct Ingestion {
    recorder: Recorder,
    recorder_task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
    http: reqwest::Client,
    sources: SourceSupervisor,
    sources_stop: CancellationToken,
}

impl Ingestion {
    /// Starts the recorder and the device's sources (health polling off
    /// with `--no-health`).
    fn start(store: &Store, device: &DeviceRecord, no_health: bool) -> Result<Self, ScenarioError> {
        let stop = CancellationToken::new();
        let (recorder, recorder_task) =
            Recorder::spawn(store.clone(), LiveHub::new(), stop.clone());
        let http = crate::tls::client_builder()
            .user_agent(concat!("heaplab/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let sources_stop = CancellationToken::new();
        let sources = SourceSupervisor::new(recorder.clone(), http.clone(), sources_stop.clone());
        let mut polled = device.clone();
        if no_health {
            polled.health_interval_s = 0;
        }
        sources.start(&polled);
        Ok(Ingestion {
            recorder,
            recorder_task,
            stop,
            http,
            sources,
            sources_stop,
        })
    }

    /// Stops the sources first, then the recorder, and waits until it has
    /// written what it holds.
    async fn stop(self) {
        self.sources.stop_all().await;
        self.sources_stop.cancel();
        self.stop.cancel();
        let _ = self.recorder_task.await;
    }
}

/// Runs the scenario `--repeat` times, exporting each run's artifacts. A
/// failed run stops the repeats and comes back beside the runs done before
/// it (`Ok`); a failed export is `Err`. Either way the caller stops ingestion
/// in order first.
async fn run_repeats(
    ctx: &RunContext,
    device: &DeviceRecord,
    scenario: &model::Scenario,
    args: &RunArgs,
    print: bool,
) -> Result<(Vec<ScenarioRun>, Option<ScenarioError>), ScenarioError> {
    let opts = args.options();
    let observer = print.then(printer);
    let mut runs = Vec::new();
    for i in 0..args.repeat {
        if print && args.repeat > 1 {
            println!("== repeat {} of {} ==", i + 1, args.repeat);
        }
        let run = match run_scenario(ctx, device, scenario, &opts, observer.clone()).await {
            Ok(run) => run,
            Err(e) => return Ok((runs, Some(e))),
        };
        if print {
            print_verdict(&run);
        }
        if let Some(dir) = &args.artifacts {
            export_artifacts(ctx, &run, dir, print).await?;
        }
        runs.push(run);
    }
    Ok((runs, None))
}

/// Exports one run into `<dir>/<YYYYmmdd_HHMMSS>_<scenario>/`.
async fn export_artifacts(
    ctx: &RunContext,
    run: &ScenarioRun,
    dir: &Path,
    print: bool,
) -> Result<(), ScenarioError> {
    let folder = dir.join(format!(
        "{}_{}",
        chrono::DateTime::<chrono::Utc>::from_timestamp_micros(run.document.run.started_us)
            .map(|t| t.format("%Y%m%d_%H%M%S").to_string())
            .unwrap_or_default(),
        run.scenario
    ));
    crate::report::export(&ctx.store, run.run_id, &folder, &ctx.criteria).await?;
    if print {
        println!("  artifacts: {}", folder.display());
    }
    Ok(())
}

/// The runs' summary: a run group with statistics when repeated, and the
/// CI gate against `--baseline` when given.
async fn summarize(
    store: &Store,
    args: &RunArgs,
    scenario: &model::Scenario,
    device: &DeviceRecord,
    runs: Vec<ScenarioRun>,
    baseline: Option<(String, BTreeMap<String, f64>)>,
    print: bool,
) -> Result<RunSummary, ScenarioError> {
    let mut summary = RunSummary {
        pass: runs.iter().all(ScenarioRun::pass),
        runs,
        group_id: None,
        group: None,
        gate: None,
    };
    let docs: Vec<_> = summary.runs.iter().map(|r| r.document.clone()).collect();
    if args.repeat > 1 {
        let ids: Vec<i64> = summary.runs.iter().map(|r| r.run_id).collect();
        let id = groups::create_group(
            store,
            Some(&scenario.name),
            args.label.as_deref(),
            Some(device.id),
            &ids,
        )
        .await?;
        let doc = groups::document_of(groups::group(store, id).await?, &docs);
        if print {
            print_group(&doc);
        }
        summary.group_id = Some(id);
        summary.group = Some(doc);
    }
    if let Some((name, tags)) = baseline {
        let current = groups::median_tag_minimums(&docs);
        let report = groups::gate(&name, &tags, &current, args.max_regression);
        if print {
            println!();
            println!("{}", report.markdown());
        }
        summary.pass &= report.pass;
        summary.gate = Some(report);
    }
    Ok(summary)
}

/// Waits (up to 10 s) until the serial source reads the port, then lets
/// what the port had buffered arrive, so a scenario's first wait does not
/// see output from before it.
async fn wait_for_serial(recorder: &Recorder, device: &DeviceRecord) {
    if device.serial_path.is_none() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if recorder
            .hub()
            .device(device.id)
            .is_some_and(|d| d.serial_online)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

pub fn print_group(doc: &groups::GroupDocument) {
    println!(
        "group g{}: {} runs {:?}",
        doc.group.id,
        doc.group.runs.len(),
        doc.group.runs
    );
    println!(
        "  {:<16} {:>14} {:>14} {:>14} {:>14}",
        "metric", "min", "median", "max", "mean"
    );
    for s in &doc.stats {
        println!(
            "  {:<16} {:>14} {:>14} {:>14} {:>14}",
            s.metric,
            stat_value(s.min.map(|v| v as f64), &s.unit),
            stat_value(s.median, &s.unit),
            stat_value(s.max.map(|v| v as f64), &s.unit),
            stat_value(s.mean, &s.unit)
        );
    }
}

/// `heaplab compare --a 12,13,14 --b 20,21,22` (also `g3` for a stored group).
pub async fn compare(
    store: &Store,
    a: &str,
    b: &str,
    criteria: &AcceptanceCriteria,
    json: bool,
) -> Result<ExitCode, ScenarioError> {
    let c = groups::compare_specs(store, a, b, criteria).await?;
    if json {
        super::print::json(&c);
    } else {
        print!("{}", groups::comparison_table(&c));
    }
    Ok(ExitCode::SUCCESS)
}
