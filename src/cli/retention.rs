//! `heaplab retention run`: apply the retention policy once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::FileConfig;
use crate::soak::config::{RetentionConfig, RetentionMode};
use crate::soak::retention;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Compact (or drop) raw serial lines older than the policy's age and
    /// bring the per-minute rollups up to date.
    Run {
        /// Config file whose `[retention]` table is the policy.
        #[arg(long, env = "HEAPLAB_CONFIG")]
        config: Option<PathBuf>,
        /// Age in days (overrides the config; 0 = every line).
        #[arg(long)]
        days: Option<f64>,
        /// `compact` or `drop` (overrides the config).
        #[arg(long)]
        mode: Option<String>,
        /// Reclaim the freed pages afterwards (`VACUUM`).
        #[arg(long)]
        vacuum: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &Store, command: RetentionCommand) -> Result<ExitCode, String> {
    let RetentionCommand::Run {
        config,
        days,
        mode,
        vacuum,
        json,
    } = command;
    let file = match &config {
        Some(p) => Some(FileConfig::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut policy = file.and_then(|f| f.retention).unwrap_or(RetentionConfig {
        raw_serial_days: 30.0,
        mode: RetentionMode::Compact,
        interval_s: 3600,
    });
    if let Some(d) = days {
        policy.raw_serial_days = d;
    }
    match mode.as_deref() {
        None => {}
        Some("compact") => policy.mode = RetentionMode::Compact,
        Some("drop") => policy.mode = RetentionMode::Drop,
        Some(other) => return Err(format!("--mode must be compact or drop, not {other:?}")),
    }
    if policy.raw_serial_days.is_nan() || policy.raw_serial_days < 0.0 {
        return Err("--days must be 0 or more".into());
    }
    let report = retention::apply(store, &policy)
        .await
        .map_err(|e| e.to_string())?;
    if vacuum {
        store.vacuum().await.map_err(|e| e.to_string())?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "retention ({:?}, older than {} days): {} lines compacted into {} blocks, {} lines dropped; rollups: {} minutes in {} runs",
            policy.mode,
            policy.raw_serial_days,
            report.lines_compacted,
            report.blocks_written,
            report.lines_dropped,
            report.rollup_minutes,
            report.rollup_runs
        );
    }
    Ok(ExitCode::SUCCESS)
}
