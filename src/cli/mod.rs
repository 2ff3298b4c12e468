//! The command line: parse arguments, call the library, print. Errors become
//! one line on stderr and exit code 1; usage errors exit 2 (clap's default).

mod agent;
mod bench;
mod bench_fleet;
pub mod bench_soak;
mod experiments;
pub mod flash;
mod flash_remote;
pub mod flash_usb;
mod print;
mod retention;
pub mod scenario;
mod serve;
mod token;

/// The database used when neither `--db`, `HEAPLAB_DB` nor the config
/// file names one.
pub const DEFAULT_DB: &str = "heaplab.db";

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::analysis::AcceptanceCriteria;
use crate::config::{ConfigError, ServeArgs, Settings, SharedArgs};
use crate::experiments::ExperimentError;
use crate::recorder::{import_path, ImportError, ImportOptions};
use crate::report::{self, ReportError, RunDocument};
use crate::scenario::ScenarioError;
use crate::server::ServeError;
use crate::sim::{SimArgs, SimError};
use crate::store::{RunFilter, Store, StoreError};

#[derive(Debug, Parser)]
#[command(name = "heaplab", version, about = "A memory lab for ESP32 firmware teams", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard and API, recording every configured device.
    Serve(ServeArgs),
    /// Forward this host's devices to a central server, spooling to disk while it is away.
    Agent(crate::config::AgentArgs),
    /// The whole story without hardware: five virtual boards, scheduled scenario groups, a decoded crash, an alert.
    Demo(DemoArgs),
    /// Run one virtual ESP32-S3 (device twin) on a pseudo-terminal and HTTP.
    Sim(SimArgs),
    /// Import harness run folders or bare serial log files as runs.
    Import(ImportArgs),
    /// List, show and export runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Measure end-to-end ingest speed with in-process twins.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Compare two runs tag by tag (deltas are B − A).
    Compare(CompareArgs),
    /// The experiments log: import/export the plan's Markdown tables, list, link runs.
    #[command(subcommand)]
    Experiments(experiments::ExperimentsCommand),
    /// Record an experiment: run a scenario group and write its log row.
    #[command(subcommand)]
    Experiment(experiments::ExperimentCommand),
    /// Update a device's firmware over HTTP (OTA), or flash it over USB through the ROM loader (--port); wait for the new version, record the build and its ELF.
    Flash(flash::FlashArgs),
    /// Run a scenario (S1–S6, prompt, or a .toml file) on a device.
    Run(crate::cli::scenario::RunArgs),
    /// Retention for long runs: compact or drop old raw serial lines.
    #[command(subcommand)]
    Retention(crate::cli::retention::RetentionCommand),
    /// Access tokens for the server: create (prints the secret once), list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Lines/s sustained into SQLite, and serial-line-to-SSE latency.
    Ingest(bench::IngestBenchArgs),
    /// Twins behind `heaplab agent`s into one server: lines/s, serial → SSE p99, spool drain after an outage.
    Fleet(bench_fleet::FleetBenchArgs),
    /// Week-long runs over real HTTP: page, API, chart, compare times, RSS, import; big ÷ small.
    Soak(bench_soak::SoakBenchArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Heartbeat interval of the virtual devices: `500ms`, `2s`, `1m` (a
    /// bare number is milliseconds).
    #[arg(long, default_value = "2s", value_parser = crate::units::duration::millis_arg)]
    pub hb_interval: u64,
    /// How often a round of scenarios starts (S2, S4, S6 on demo-baseline
    /// and demo-tuned, S6 on demo-crash): `90s`, `3m`, `1h`.
    #[arg(long, default_value = "3m", value_parser = crate::units::duration::duration_arg)]
    pub every: std::time::Duration,
    /// Runs of each scenario per board and round: the size of each run group.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// Settle time of the scenarios' stable-health steps (each scenario's
    /// own when absent): shorter rounds, e.g. `500ms`.
    #[arg(long, value_parser = crate::units::duration::duration_arg)]
    pub settle: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Run folders (`<YYYYmmdd_HHMMSS>_<scenario>/`) or serial log files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[arg(long)]
        scenario: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show a run: metadata, derived metrics, verdict and cliffs.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Write a run as a harness-compatible folder.
    Export {
        id: i64,
        /// Folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run A (the "before").
    #[arg(required_unless_present = "group_a")]
    pub a: Option<i64>,
    /// Run B (the "after").
    #[arg(required_unless_present = "group_b")]
    pub b: Option<i64>,
    /// Group A: runs `12,13,14` or a stored group `g3` (with --b).
    #[arg(long = "a", requires = "group_b")]
    pub group_a: Option<String>,
    /// Group B: runs `20,21,22` or a stored group `g4` (with --a).
    #[arg(long = "b", requires = "group_a")]
    pub group_b: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Errors a command reports to the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error("demo: {0}")]
    Demo(#[from] crate::demo::DemoError),
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    #[error(transparent)]
    Flash(#[from] crate::flash::FlashError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A usage problem clap cannot express, or a summary of failures.
    #[error("{0}")]
    Failed(String),
}

/// Entry point used by `main.rs`.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEAPLAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    // The one place the database path, the config file and the acceptance
    // criteria are resolved; everything below gets values.
    let default_db = match cli.command {
        Command::Demo(_) => std::env::temp_dir().join("heaplab-demo.db"),
        _ => PathBuf::from(DEFAULT_DB),
    };
    let settings = Settings::resolve(&cli.shared, &default_db)?;
    let command = match cli.command {
        Command::Serve(args) => return serve::serve(&args, settings).await,
        Command::Demo(args) => return serve::demo(&args, settings).await,
        Command::Agent(args) => return agent::run(&args, settings).await,
        Command::Bench(BenchCommand::Ingest(args)) => {
            bench::ingest(&args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Bench(BenchCommand::Fleet(args)) => {
            bench_fleet::run(&args, cli.shared.db.as_deref()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Bench(BenchCommand::Soak(args)) => {
            bench_soak::run(&args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Sim(args) => {
            crate::sim::run_cli(args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Run(args) => {
            return Ok(scenario::run(args, &settings.db, &settings.criteria).await)
        }
        Command::Flash(args) if args.port.is_some() => {
            let outcome = flash_usb::run(args, &settings).await?;
            flash_usb::print(&outcome);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Flash(args) => {
            let outcome = flash::run(args, &settings).await?;
            flash::print(&outcome);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Experiment(experiments::ExperimentCommand::Record(args)) => {
            return experiments::record(args, &settings.db, &settings.criteria).await;
        }
        other => other,
    };
    let store = Store::open(&settings.db).await?;
    run_on_store(&store, command, settings).await
}

/// The commands that work on the opened database.
async fn run_on_store(
    store: &Store,
    command: Command,
    settings: Settings,
) -> Result<ExitCode, CliError> {
    let criteria = &settings.criteria;
    match command {
        Command::Serve(_)
        | Command::Agent(_)
        | Command::Demo(_)
        | Command::Sim(_)
        | Command::Bench(_)
        | Command::Run(_)
        | Command::Flash(_)
        | Command::Experiment(_) => {
            unreachable!("handled above")
        }
        Command::Import(args) => import(store, args).await,
        Command::Experiments(command) => experiments::run(store, command, criteria).await,
        Command::Runs(command) => runs(store, command, criteria).await,
        Command::Compare(args) => compare(store, args, criteria).await,
        Command::Retention(command) => {
            retention::run(store, command, settings.file.retention).await
        }
        Command::Token(command) => token::run(store, command).await,
    }
}

/// `heaplab runs list|show|export`.
async fn runs(
    store: &Store,
    command: RunsCommand,
    criteria: &AcceptanceCriteria,
) -> Result<ExitCode, CliError> {
    match command {
        RunsCommand::List {
            scenario,
            limit,
            json,
        } => {
            let runs = store
                .runs(&RunFilter {
                    scenario,
                    limit: Some(limit),
                    ..Default::default()
                })
                .await?;
            if json {
                print::json(&runs);
            } else {
                print::run_list(&runs);
            }
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Show { id, json } => {
            let doc = RunDocument::load(store, id, criteria).await?;
            if json {
                print::json(&doc);
            } else {
                print::run_document(&doc);
            }
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Export { id, out } => {
            report::export(store, id, &out, criteria).await?;
            println!("run {id} exported to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `heaplab compare A B` (two runs) or `heaplab compare --a … --b …` (two
/// groups).
async fn compare(
    store: &Store,
    args: CompareArgs,
    criteria: &AcceptanceCriteria,
) -> Result<ExitCode, CliError> {
    if let CompareArgs {
        group_a: Some(a),
        group_b: Some(b),
        json,
        ..
    } = &args
    {
        return Ok(scenario::compare(store, a, b, criteria, *json).await?);
    }
    let (Some(a), Some(b)) = (args.a, args.b) else {
        return Err(CliError::Failed(
            "compare needs runs A B, or --a and --b".into(),
        ));
    };
    let doc = report::compare(store, a, b, criteria).await?;
    if args.json {
        print::json(&doc);
    } else {
        print::comparison(&doc);
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(store: &Store, args: ImportArgs) -> Result<ExitCode, CliError> {
    let show_progress = std::io::stderr().is_terminal() && !args.json;
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for path in &args.paths {
        let name = path.display().to_string();
        let progress = move |done: u64, total: u64| {
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            eprint!(
                "\rimporting {name}: {pct:>3}% ({} / {} KB)",
                done / 1024,
                total / 1024
            );
        };
        let options = ImportOptions {
            device_id: None,
            progress: show_progress.then_some(&progress as &(dyn Fn(u64, u64) + Sync)),
        };
        let result = import_path(store, path, &options).await;
        if show_progress {
            eprint!("\r\x1b[2K");
        }
        match result {
            Ok(outcome) => {
                if !args.json {
                    print::import_outcome(&outcome);
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", path.display());
            }
        }
    }
    if args.json {
        print::json(&outcomes);
    }
    match failed {
        0 => Ok(ExitCode::SUCCESS),
        n => Err(CliError::Failed(format!(
            "{n} of {} imports failed",
            args.paths.len()
        ))),
    }
}
