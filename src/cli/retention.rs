//! `heaplab retention run`: apply the retention policy once.

use std::process::ExitCode;

use clap::Subcommand;

use super::CliError;
use crate::soak::config::{RetentionConfig, RetentionMode};
use crate::soak::retention;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Compact (or drop) raw serial lines older than the policy's age and
    /// report what was done.
    Run {
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

/// Applies the policy once: the config file's `[retention]` table (the
/// global `--config`), with `--days`/`--mode` on top.
pub async fn run(
    store: &Store,
    command: RetentionCommand,
    configured: Option<RetentionConfig>,
) -> Result<ExitCode, CliError> {
    let RetentionCommand::Run {
        days,
        mode,
        vacuum,
        json,
    } = command;
    let mut policy = configured.unwrap_or(RetentionConfig {
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
        Some(other) => {
            return Err(CliError::Failed(format!(
                "--mode must be compact or drop, not {other:?}"
            )))
        }
    }
    if policy.raw_serial_days.is_nan() || policy.raw_serial_days < 0.0 {
        return Err(CliError::Failed("--days must be 0 or more".into()));
    }
    let report = retention::apply(store, &policy).await?;
    if vacuum {
        store.vacuum().await?;
    }
    if json {
        super::print::json(&report);
    } else {
        println!(
            "retention ({:?}, older than {} days): {} lines compacted into {} blocks, {} lines dropped, \
             {} snapshots packed into {} blocks",
            policy.mode,
            policy.raw_serial_days,
            report.lines_compacted,
            report.blocks_written,
            report.lines_dropped,
            report.snapshots_packed,
            report.snapshot_blocks_written
        );
    }
    Ok(ExitCode::SUCCESS)
}
