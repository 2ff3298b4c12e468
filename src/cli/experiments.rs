//! `heaplab experiments …`: the experiments log from the terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::CliError;
use crate::analysis::AcceptanceCriteria;
use crate::experiments::{self, ExperimentFilter, ExportFormat};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// Read the Markdown tables of a file (the whole plan, or a table) into the log.
    Import {
        /// A Markdown file with the "Experiments Log" / "Historical notes" tables.
        file: PathBuf,
    },
    /// Write the log (stdout unless --out).
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Markdown)]
        format: ExportFormat,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List experiments (the Markdown table, filtered).
    List {
        #[arg(long)]
        board: Option<String>,
        #[arg(long)]
        scenario: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Link a run to an experiment (its metric cells are then computed).
    Link {
        experiment: i64,
        #[arg(long, required_unless_present = "group")]
        run: Option<i64>,
        #[arg(long)]
        group: Option<i64>,
    },
}

pub async fn run(
    store: &Store,
    command: ExperimentsCommand,
    criteria: &AcceptanceCriteria,
) -> Result<ExitCode, CliError> {
    match command {
        ExperimentsCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
            let outcome = experiments::import_markdown(store, &text, criteria).await?;
            println!(
                "{}: {} experiment row(s) imported, {} already in the log",
                file.display(),
                outcome.created.len(),
                outcome.unchanged
            );
        }
        ExperimentsCommand::Export { format, out } => {
            let views = experiments::list(store, &ExperimentFilter::default(), criteria).await?;
            let text = experiments::export(&views, format);
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| {
                        CliError::Failed(format!("cannot write {}: {e}", path.display()))
                    })?;
                    println!(
                        "{} experiment(s) written to {}",
                        views.len(),
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
        }
        ExperimentsCommand::List {
            board,
            scenario,
            status,
        } => {
            let views = experiments::list(
                store,
                &ExperimentFilter {
                    board,
                    scenario,
                    status,
                },
                criteria,
            )
            .await?;
            if views.is_empty() {
                println!("no experiments: `heaplab experiments import PLAN.md` or add one in the dashboard");
            } else {
                print!("{}", experiments::export(&views, ExportFormat::Markdown));
            }
        }
        ExperimentsCommand::Link {
            experiment,
            run,
            group,
        } => {
            if let Some(run) = run {
                store.link_experiment_run(experiment, run).await?;
            }
            if let Some(group) = group {
                store.link_experiment_group(experiment, group).await?;
            }
            let v = experiments::view(store, experiment, criteria).await?;
            println!(
                "{}",
                experiments::export(std::slice::from_ref(&v), ExportFormat::Markdown)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// The plan's whole loop in one command: run a scenario group on a
    /// device, write the experiments-log row linked to it, print its
    /// Markdown line.
    Record(RecordArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// What changed in the firmware (the row's "Change" cell).
    #[arg(long)]
    pub change: String,
    /// A built-in scenario (s1…s6) or a scenario file.
    #[arg(long)]
    pub scenario: String,
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    #[command(flatten)]
    pub target: crate::cli::scenario::DeviceTarget,
    /// The experiment this one is measured against.
    #[arg(long)]
    pub baseline: Option<i64>,
    /// branch@commit [default: from `git` in the current directory].
    #[arg(long)]
    pub commit: Option<String>,
    /// Board name [default: the device's].
    #[arg(long)]
    pub board: Option<String>,
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Never prompt (pause steps become notes).
    #[arg(long)]
    pub non_interactive: bool,
    /// Skip reboot steps.
    #[arg(long)]
    pub no_reboot: bool,
}

/// `branch@commit` (+ ` (dirty)`) of the git work tree in the current
/// directory, if there is one.
fn git_branch_commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"])?;
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(format!(
        "{branch}@{commit}{}",
        if dirty { " (dirty)" } else { "" }
    ))
}

pub async fn record(
    args: RecordArgs,
    db: &std::path::Path,
    criteria: &AcceptanceCriteria,
) -> Result<ExitCode, CliError> {
    let run_args = crate::cli::scenario::RunArgs {
        scenario: args.scenario.clone(),
        target: args.target.clone(),
        repeat: args.repeat,
        non_interactive: args.non_interactive,
        no_reboot: args.no_reboot,
        label: Some(args.change.chars().take(60).collect()),
        max_regression: 2048,
        ..Default::default()
    };
    let summary = crate::cli::scenario::execute(&run_args, db, criteria, true).await?;
    let store = Store::open(db).await?;
    let board = match (&args.board, &args.target.device) {
        (Some(b), _) => b.clone(),
        (None, Some(name)) => store
            .device_by_name(name)
            .await?
            .and_then(|d| d.board)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let scenario_cell = if args.repeat > 1 {
        format!("{} ×{}", args.scenario.to_uppercase(), args.repeat)
    } else {
        args.scenario.to_uppercase()
    };
    let fields = crate::store::ExperimentFields {
        date: Some(chrono::Utc::now().format("%Y-%m-%d").to_string()),
        branch_commit: Some(
            args.commit
                .clone()
                .or_else(git_branch_commit)
                .unwrap_or_default(),
        ),
        board: Some(board),
        change: Some(args.change.clone()),
        scenarios: Some(scenario_cell),
        notes: Some(args.notes.clone()),
        status: Some("candidate".into()),
        baseline_id: args.baseline.map(Some),
        ..Default::default()
    };
    let created = store.create_experiment(&fields).await?;
    match summary.group_id {
        Some(group) => store.link_experiment_group(created.id, group).await?,
        None => {
            for run in &summary.runs {
                store.link_experiment_run(created.id, run.run_id).await?;
            }
        }
    }
    let view = experiments::view(&store, created.id, criteria).await?;
    println!("\nexperiment #{} recorded:", created.id);
    let table = experiments::export(std::slice::from_ref(&view), ExportFormat::Markdown);
    println!("{}", table.lines().last().unwrap_or_default());
    if let (Some(base), Some(d)) = (view.deltas.baseline_id, view.deltas.hin_min) {
        println!("hin_min vs experiment #{base}: {d:+} B");
    }
    Ok(if summary.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
